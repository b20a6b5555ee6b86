"""The admin inbox: conversation list with views, the conversation page, saved replies, outbound messages."""

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

from contacts.models import Contact, Tag
from conversations import selectors, services
from conversations.models import Conversation, ConversationPart, Message, SavedReply, Team, TeammateProfile
from conversations.services.threads import teammate_display_name
from ops.pagination import EstimatedCountPaginator
from ops.parsing import int_or_none

RECENT_PAGE_VIEWS = 10
# A search matching more parts than this shows the conversations of the first ones found.
SEARCH_MATCH_LIMIT = 2000
PUBLIC_ID_RE = re.compile(r"[A-Za-z0-9_-]{20,32}")
# The conversation page's tag picker lists at most this many tags.
TAG_CHOICES_LIMIT = 500
SNOOZE_PRESETS = {
    "1h": ("In 1 hour", lambda now: now + dt.timedelta(hours=1)),
    "4h": ("In 4 hours", lambda now: now + dt.timedelta(hours=4)),
    # Times are UTC (TIME_ZONE): the label says so rather than pretend to know the teammate's zone.
    "tomorrow": (
        "Tomorrow 09:00 UTC",
        lambda now: (now + dt.timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0),
    ),
    "week": ("In a week", lambda now: now + dt.timedelta(days=7)),
}


def _teammates() -> QuerySet:
    return get_user_model().objects.filter(is_active=True, is_staff=True).order_by("first_name", "username")


def _form_error(request: HttpRequest, error: ValidationError) -> None:
    for field, errors in error.message_dict.items():
        messages.error(request, f"{field}: {' '.join(errors)}")


def _parse_snooze(request: HttpRequest, raw_until: str, preset: str) -> dt.datetime:
    now = timezone.now()
    if raw_until:
        field = forms.DateTimeField(input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"])
        try:
            return field.clean(raw_until)
        except ValidationError:
            raise ValidationError({"snoozed_until": "Enter a date and time."}) from None
    if preset in SNOOZE_PRESETS:
        return SNOOZE_PRESETS[preset][1](now)
    raise ValidationError({"snoozed_until": "Pick when the conversation should come back."})


# --- inbox list ---------------------------------------------------------------------------------


# --- the conversation page's actions: each takes the request, the conversation and the typed body,
# calls one service and answers the success message (empty for none) ---------------------------------


def _thread_reply(request: HttpRequest, conversation: Conversation, body: str) -> str:
    services.conversation_reply_as_teammate(conversation=conversation, teammate=request.user, body=body)
    return "Reply sent."


def _thread_note(request: HttpRequest, conversation: Conversation, body: str) -> str:
    services.conversation_add_note(conversation=conversation, teammate=request.user, body=body)
    return "Note added."


def _thread_reply_close(request: HttpRequest, conversation: Conversation, body: str) -> str:
    services.conversation_reply_and_close(conversation=conversation, teammate=request.user, body=body)
    return "Conversation closed."


def _thread_close(request: HttpRequest, conversation: Conversation, body: str) -> str:
    services.conversation_close(conversation=conversation, teammate=request.user)
    return "Conversation closed."


def _thread_reopen(request: HttpRequest, conversation: Conversation, body: str) -> str:
    services.conversation_reopen(conversation=conversation, teammate=request.user)
    return "Conversation reopened."


def _thread_assign(request: HttpRequest, conversation: Conversation, body: str) -> str:
    raw = request.POST.get("assignee", "")
    assignee_id, team_id = int_or_none(raw), int_or_none(request.POST.get("team", ""))
    assignee = _teammates().filter(pk=assignee_id).first() if assignee_id is not None else None
    if raw and assignee is None:
        raise ValidationError({"assignee": "Choose an active teammate."})
    team = Team.objects.filter(pk=team_id).first() if team_id is not None else None
    services.conversation_assign(conversation=conversation, teammate=request.user, assignee=assignee, team=team)
    return f"Assigned to {teammate_display_name(assignee) if assignee else 'nobody'}."


def _thread_snooze(request: HttpRequest, conversation: Conversation, body: str) -> str:
    until = _parse_snooze(request, request.POST.get("snoozed_until", ""), request.POST.get("snooze_for", ""))
    services.conversation_snooze(conversation=conversation, teammate=request.user, until=until)
    return f"Snoozed until {timezone.localtime(until):%b %d, %H:%M}."


def _thread_tag_by_id(raw: str) -> Tag:
    tag = Tag.objects.filter(pk=int_or_none(raw)).first()
    if tag is None:
        raise ValidationError({"tag": "Choose a tag."})
    return tag


def _thread_tag(request: HttpRequest, conversation: Conversation, body: str) -> str:
    tag = _thread_tag_by_id(request.POST.get("tag", ""))
    services.conversation_tag(conversation=conversation, tag=tag)
    return f"Tagged “{tag.name}”."


def _thread_untag(request: HttpRequest, conversation: Conversation, body: str) -> str:
    # Each tag's remove button posts do=untag:<tag id> (one form, one button per tag).
    tag = _thread_tag_by_id(request.POST.get("do", "").partition(":")[2])
    services.conversation_untag(conversation=conversation, tag=tag)
    return f"Removed the tag “{tag.name}”."


def _thread_priority(request: HttpRequest, conversation: Conversation, body: str) -> str:
    wanted = (
        Conversation.Priority.NOT_PRIORITY
        if conversation.priority == Conversation.Priority.PRIORITY
        else Conversation.Priority.PRIORITY
    )
    services.conversation_set_priority(conversation=conversation, priority=wanted)
    return ""


THREAD_ACTIONS: dict[str, Callable[[HttpRequest, Conversation, str], str]] = {
    "reply": _thread_reply,
    "note": _thread_note,
    "reply_close": _thread_reply_close,
    "close": _thread_close,
    "reopen": _thread_reopen,
    "assign": _thread_assign,
    "snooze": _thread_snooze,
    "priority": _thread_priority,
    "tag": _thread_tag,
    "untag": _thread_untag,
}


class InboxViewFilter(admin.SimpleListFilter):
    """The inbox views; "All open" is the default, as in every help desk."""

    title = "inbox"
    parameter_name = "view"
    DEFAULT = "open"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [
            ("mine", "Mine"),
            ("unassigned", "Unassigned"),
            ("open", "All open"),
            ("snoozed", "Snoozed"),
            ("closed", "Closed"),
            ("all", "Everything"),
        ]

    def value(self) -> str:
        return super().value() or self.DEFAULT

    def choices(self, changelist: Any) -> Any:
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> QuerySet[Conversation]:
        view = self.value()
        open_ = Conversation.State.OPEN
        if view == "mine":
            return queryset.filter(state=open_, assignee=request.user)
        if view == "unassigned":
            return queryset.filter(state=open_, assignee__isnull=True)
        if view in ("snoozed", "closed"):
            return queryset.filter(state=view)
        if view == "all":
            return queryset
        return queryset.filter(state=open_)


class TeamFilter(admin.SimpleListFilter):
    title = "team"
    parameter_name = "team"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(str(team.pk), team.name) for team in selectors.team_list()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> QuerySet[Conversation]:
        team_id = int_or_none(self.value())
        return queryset if team_id is None else queryset.filter(team_id=team_id)


class InboxActionForm(ActionForm):
    assignee = forms.ModelChoiceField(queryset=_teammates(), required=False, label="Teammate")
    snooze_for = forms.ChoiceField(
        choices=[("", "Snooze for…"), *((k, v[0]) for k, v in SNOOZE_PRESETS.items())], required=False, label=""
    )

    tag = forms.ModelChoiceField(queryset=Tag.objects.order_by("name"), required=False, label="Tag")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = _teammates()


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["contact_name", "preview_column", "tag_column", "waiting", "assignee", "state_column"]
    list_display_links = ["contact_name"]
    list_filter = [InboxViewFilter, "priority", TeamFilter]
    list_select_related = ["contact", "assignee"]
    list_per_page = 50
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    search_fields = ["parts__body"]  # replaced by get_search_results: full text on PostgreSQL
    search_help_text = "Words from the messages (full-text on PostgreSQL), or a conversation id."
    action_form = InboxActionForm
    actions = [
        "assign_selected", "assign_to_me", "snooze_selected", "close_selected", "reopen_selected", "tag_selected",
    ]  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Conversations start from the contact page or the widget, never from an empty form.
        return False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Conversation], search_term: str
    ) -> tuple[QuerySet[Conversation], bool]:
        term = search_term.strip()[:200]
        if not term:
            return queryset, False
        # An id ("²" or a number beyond bigint is searched as text instead).
        conversation_id = int_or_none(term)
        if conversation_id is not None:
            return queryset.filter(pk=conversation_id), False
        if PUBLIC_ID_RE.fullmatch(term) and queryset.filter(public_id=term).exists():
            return queryset.filter(public_id=term), False
        parts = ConversationPart.objects.all()
        if connections[queryset.db].vendor == "postgresql":
            from django.contrib.postgres.search import SearchQuery, SearchVector

            # Same expression as the GIN index `part_body_fts` (migration 0002).
            parts = parts.annotate(search=SearchVector("body", config="simple")).filter(
                search=SearchQuery(term, config="simple", search_type="websearch")
            )
        else:
            parts = parts.filter(body__icontains=term)
        # Matching ids first, bounded, as their own query: inside one statement PostgreSQL may
        # prefer walking the inbox order and probing each conversation's parts (seconds at 1M).
        ids = set(parts.values_list("conversation_id", flat=True)[:SEARCH_MATCH_LIMIT])
        return queryset.filter(pk__in=ids), False

    @admin.display(description="Contact", ordering="contact__name")
    def contact_name(self, conversation: Conversation) -> str:
        unread = conversation.teammate_unread_count
        name = str(conversation.contact)
        if unread:
            return format_html("<strong>{}</strong> <span class='parley-unread'>{}</span>", name, unread)
        return name

    @admin.display(description="Last message")
    def preview_column(self, conversation: Conversation) -> str:
        marker = "★ " if conversation.priority == Conversation.Priority.PRIORITY else ""
        # The teammate by name: "You:" would be wrong for every other teammate reading the inbox.
        who = f"{conversation.preview_author_name}: " if conversation.preview_author_type == "teammate" else ""
        return format_html("{}{}<span class='parley-preview'>{}</span>", marker, who, conversation.preview[:120])

    @admin.display(description="Tags")
    def tag_column(self, conversation: Conversation) -> str:
        return ", ".join(tag.name for tag in conversation.tags.all())  # prefetched with the page

    @admin.display(description="Waiting", ordering="waiting_since")
    def waiting(self, conversation: Conversation) -> str:
        if conversation.state == Conversation.State.SNOOZED and conversation.snoozed_until:
            return f"snoozed until {timezone.localtime(conversation.snoozed_until):%b %d, %H:%M}"
        if conversation.waiting_since is None:
            return "—"
        return timesince(conversation.waiting_since)

    @admin.display(description="State", ordering="state")
    def state_column(self, conversation: Conversation) -> str:
        return conversation.get_state_display()

    # --- bulk actions -----------------------------------------------------------------------------

    def _bulk(self, request: HttpRequest, queryset: QuerySet[Conversation], verb: str, action: Any) -> None:
        done = 0
        for conversation in queryset.select_related(None).only("pk", "assignee_id", "state", "team_id"):
            try:
                action(conversation)
                done += 1
            except ValidationError as error:
                _form_error(request, error)
                return
        self.message_user(request, f"{verb} {done} conversation(s).", messages.SUCCESS)

    @admin.action(description="Assign selected to the chosen teammate", permissions=["change"])
    def assign_selected(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        assignee = _teammates().filter(pk=request.POST.get("assignee") or 0).first()
        if assignee is None:
            self.message_user(request, "Choose a teammate in the list next to the action.", messages.WARNING)
            return
        self._bulk(request, queryset, "Assigned",
                   lambda c: services.conversation_assign(conversation=c, teammate=request.user, assignee=assignee))  # fmt: skip

    @admin.action(description="Assign selected to me", permissions=["change"])
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        self._bulk(request, queryset, "Assigned",
                   lambda c: services.conversation_assign(conversation=c, teammate=request.user, assignee=request.user))  # fmt: skip

    @admin.action(description="Snooze selected (choose for how long)", permissions=["change"])
    def snooze_selected(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        preset = request.POST.get("snooze_for", "")
        if preset not in SNOOZE_PRESETS:
            self.message_user(request, "Choose how long to snooze in the list next to the action.", messages.WARNING)
            return
        until = SNOOZE_PRESETS[preset][1](timezone.now())
        self._bulk(request, queryset, "Snoozed",
                   lambda c: services.conversation_snooze(conversation=c, teammate=request.user, until=until))  # fmt: skip

    @admin.action(description="Close selected", permissions=["change"])
    def close_selected(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        self._bulk(request, queryset, "Closed",
                   lambda c: services.conversation_close(conversation=c, teammate=request.user))  # fmt: skip

    @admin.action(description="Reopen selected", permissions=["change"])
    def reopen_selected(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        self._bulk(request, queryset, "Reopened",
                   lambda c: services.conversation_reopen(conversation=c, teammate=request.user))  # fmt: skip

    @admin.action(description="Tag selected with the chosen tag", permissions=["change"])
    def tag_selected(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        tag = Tag.objects.filter(pk=request.POST.get("tag") or 0).first()
        if tag is None:
            self.message_user(request, "Choose a tag in the list next to the action.", messages.WARNING)
            return
        self._bulk(request, queryset, "Tagged", lambda c: services.conversation_tag(conversation=c, tag=tag))

    # --- the conversation page --------------------------------------------------------------------

    def get_urls(self) -> list[Any]:
        custom = [
            path("<int:object_id>/poll/", self.admin_site.admin_view(self.poll_view), name="conversations_conversation_poll"),
            path("start/<int:contact_id>/", self.admin_site.admin_view(self.start_view),
                 name="conversations_conversation_start"),
            path("inbox-updates/", self.admin_site.admin_view(self.inbox_updates_view),
                 name="conversations_inbox_updates"),
        ]  # fmt: skip
        return custom + super().get_urls()

    def inbox_updates_view(self, request: HttpRequest) -> JsonResponse:
        """What the inbox page polls: the unread count for its title, new messages for notifications."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        after = int_or_none(request.GET.get("after", ""), minimum=0)
        if after is None:
            return JsonResponse({"error": "after must be a part id (digits)", "field": "after"}, status=400)
        if request.GET.get("visible") == "1":  # a tab in the background is not a teammate at work
            services.teammate_mark_active(teammate=request.user)
        state = selectors.inbox_state()
        events = []
        if state["latest_part_id"] > after:
            events = selectors.inbox_new_messages(teammate_id=request.user.pk, after_part_id=after)
        for event in events:
            event["url"] = reverse("admin:conversations_conversation_change", args=[event["conversation_id"]])
        return JsonResponse({**state, "events": events})

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        # The tags column: one query for the page's conversations, not one per row.
        return super().get_queryset(request).prefetch_related(selectors.conversation_with_tags())

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        services.teammate_mark_active(teammate=request.user)
        context = {
            "title": "Inbox",
            "inbox_updates_url": reverse("admin:conversations_inbox_updates"),
            "inbox": selectors.inbox_state(),
            **(extra_context or {}),
        }
        return super().changelist_view(request, context)

    def _conversation(self, request: HttpRequest, object_id: Any) -> Conversation:
        conversation = Conversation.objects.select_related("contact", "assignee", "team").filter(pk=object_id).first()
        if conversation is None:
            raise PermissionDenied if not self.has_view_permission(request) else _not_found()
        if not self.has_view_permission(request, conversation):
            raise PermissionDenied
        return conversation

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        if int_or_none(str(object_id)) is None:
            return super().change_view(request, object_id, form_url, extra_context)
        conversation = self._conversation(request, object_id)
        if request.method == "POST":
            if not self.has_change_permission(request, conversation):
                raise PermissionDenied
            return self._act(request, conversation)
        if conversation.teammate_unread_count:
            services.conversation_mark_read(conversation=conversation, by_contact=False)
        contact = conversation.contact
        parts = selectors.conversation_thread(conversation=conversation)
        saved_replies = [
            {"name": r.name, "body": services.saved_reply_render(body=r.body, contact=contact, teammate=request.user)}
            for r in selectors.saved_reply_list()
        ]
        draft = request.session.get("parley_draft") if "parley_draft" in request.session else None
        if draft is not None:
            del request.session["parley_draft"]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Conversation with {contact}",
            "draft": draft["body"] if draft and draft.get("conversation") == conversation.pk else "",
            "conversation": conversation,
            "contact": contact,
            "parts": parts,
            "last_part_id": parts[-1].pk if parts else 0,
            "contact_tags": list(contact.tags.all()),
            "conversation_tags": list(conversation.tags.order_by("name")),
            "all_tags": list(Tag.objects.order_by("name")[:TAG_CHOICES_LIMIT]),
            "page_views": _recent_page_views(contact),
            "teammates": list(_teammates()),
            "teams": list(selectors.team_list()),
            "saved_replies": saved_replies,
            "snooze_presets": [(k, v[0]) for k, v in SNOOZE_PRESETS.items()],
            "can_change": self.has_change_permission(request, conversation),
            "poll_url": reverse("admin:conversations_conversation_poll", args=[conversation.pk]),
            "contact_url": reverse("admin:contacts_contact_change", args=[contact.pk]),
            "changelist_url": reverse("admin:conversations_conversation_changelist"),
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/conversations/conversation/thread.html", context)

    def _act(self, request: HttpRequest, conversation: Conversation) -> HttpResponse:
        """The one form of the conversation page: its `do` field names one of THREAD_ACTIONS."""
        handler = THREAD_ACTIONS.get(request.POST.get("do", "").partition(":")[0])
        body = request.POST.get("body", "")
        if handler is None:
            messages.error(request, "Unknown action.")
        else:
            try:
                done = handler(request, conversation, body)
            except ValidationError as error:
                _form_error(request, error)
                # Keep what was typed, so a failed send loses nothing.
                request.session["parley_draft"] = {"conversation": conversation.pk, "body": body[:10_000]}
            else:
                if done:
                    messages.success(request, done)
        return HttpResponseRedirect(reverse("admin:conversations_conversation_change", args=[conversation.pk]))

    def poll_view(self, request: HttpRequest, object_id: int) -> JsonResponse:
        """New parts after `after` (a part id) and the current state: the conversation page polls this."""
        conversation = self._conversation(request, object_id)
        if request.GET.get("visible") == "1":
            services.teammate_mark_active(teammate=request.user)
        after_id = int_or_none(request.GET.get("after", "0"), minimum=0) or 0
        parts = list(
            conversation.parts.filter(pk__gt=after_id)
            .select_related(
                "author_teammate__parley_profile", "author_contact", "assigned_to__parley_profile", "assigned_team"
            )
            .order_by("created_at", "id")[:100]
        )
        if parts and conversation.teammate_unread_count:
            services.conversation_mark_read(conversation=conversation, by_contact=False)
        return JsonResponse({
            "state": conversation.state,
            "state_label": conversation.get_state_display(),
            "parts": [_part_json(p) for p in parts],
        })  # fmt: skip

    def start_view(self, request: HttpRequest, contact_id: int) -> HttpResponse:
        """A teammate writes first to a contact."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        contact = get_object_or_404(Contact, pk=contact_id)
        if request.method == "POST":
            try:
                conversation = services.conversation_start_by_teammate(
                    contact=contact, teammate=request.user, body=request.POST.get("body", "")
                )
            except ValidationError as error:
                _form_error(request, error)
            else:
                return HttpResponseRedirect(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
        context = {**self.admin_site.each_context(request), "opts": self.opts, "contact": contact,
                   "title": f"New conversation with {contact}"}  # fmt: skip
        return TemplateResponse(request, "admin/conversations/conversation/start.html", context)


def _not_found() -> Exception:
    from django.http import Http404

    return Http404("No such conversation.")


def _part_json(part: ConversationPart) -> dict[str, Any]:
    return {
        "id": part.pk,
        "type": part.part_type,
        "type_label": part.get_part_type_display(),
        "author": str(part.author_contact) if part.author_contact_id else teammate_display_name(part.author_teammate),
        "author_type": part.author_type,
        "body": part.body,
        "event": _event_text(part),
        "created_at": timezone.localtime(part.created_at).strftime("%b %d, %H:%M"),
    }


def _event_text(part: ConversationPart) -> str:
    who = teammate_display_name(part.author_teammate) if part.author_teammate_id else "Parley"
    if part.part_type == ConversationPart.Type.ASSIGNMENT:
        target = teammate_display_name(part.assigned_to) if part.assigned_to_id else "nobody"
        team = f" ({part.assigned_team.name})" if part.assigned_team_id else ""
        return f"{who} assigned this to {target}{team}"
    if part.part_type == ConversationPart.Type.SNOOZE and part.snoozed_until:
        return f"{who} snoozed this until {timezone.localtime(part.snoozed_until):%b %d, %H:%M}"
    if part.part_type == ConversationPart.Type.CLOSE:
        return f"{who} closed this"
    if part.part_type == ConversationPart.Type.OPEN:
        if part.author_contact_id:
            return "Reopened by the contact's message"
        return f"{who} reopened this" if part.author_teammate_id else "Reopened: the snooze ended"
    return ""


def _recent_page_views(contact: Contact) -> list[Any]:
    try:
        page_view = apps.get_model("tracking", "PageView")
    except LookupError:
        return []
    return list(page_view.objects.filter(contact=contact).order_by("-created_at", "-id")[:RECENT_PAGE_VIEWS])


# --- saved replies, teams -----------------------------------------------------------------------


class TeammateProfileForm(forms.ModelForm):
    class Meta:
        model = TeammateProfile
        fields = ["display_name", "avatar_url", "email_when_away_minutes"]

    def clean_avatar_url(self) -> str:
        avatar = self.cleaned_data["avatar_url"]
        if avatar and not avatar.startswith("https://"):
            raise forms.ValidationError("Use an https:// address, so the messenger can show it on any site.")
        return avatar


@admin.register(TeammateProfile)
class TeammateProfileAdmin(admin.ModelAdmin):
    """Each teammate edits their own profile ("My profile"); superusers see everyone's."""

    form = TeammateProfileForm
    actions = None  # profiles are edited one at a time, by their teammate
    list_display = ["teammate", "display_name", "email_when_away_minutes", "last_active_at"]
    readonly_fields = ["last_active_at"]

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        # The key is the user's id: a number beyond the column's range names no profile (not a 500).
        return super().get_object(request, object_id, from_field) if int_or_none(object_id) is not None else None

    def get_queryset(self, request: HttpRequest) -> QuerySet[TeammateProfile]:
        profiles = super().get_queryset(request).select_related("teammate")
        return profiles if request.user.is_superuser else profiles.filter(teammate=request.user)

    def _own_or_superuser(self, request: HttpRequest, obj: TeammateProfile | None) -> bool:
        user = request.user
        return bool(user.is_active and user.is_staff and (obj is None or user.is_superuser or obj.pk == user.pk))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._own_or_superuser(request, None)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._own_or_superuser(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._own_or_superuser(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if request.user.is_superuser and "mine" not in request.GET:
            return super().changelist_view(request, extra_context)
        profile = services.teammate_profile_update(teammate=request.user)  # made on first visit
        return HttpResponseRedirect(reverse("admin:conversations_teammateprofile_change", args=[profile.pk]))

    def save_model(self, request: HttpRequest, obj: TeammateProfile, form: forms.ModelForm, change: bool) -> None:
        services.teammate_profile_update(
            teammate=obj.teammate, **{name: form.cleaned_data[name] for name in form.changed_data}
        )


class SavedReplyForm(forms.ModelForm):
    class Meta:
        model = SavedReply
        fields = ["name", "body"]
        help_texts = {
            "body": "Placeholders: {{contact.name}}, {{contact.first_name}}, {{contact.email}}, {{teammate.name}}"
        }

    def _post_clean(self) -> None:
        pass  # the services validate


@admin.register(SavedReply)
class SavedReplyAdmin(admin.ModelAdmin):
    form = SavedReplyForm
    list_display = ["name", "short_body", "created_by", "updated_at"]
    search_fields = ["name", "body"]
    list_select_related = ["created_by"]

    @admin.display(description="Body")
    def short_body(self, reply: SavedReply) -> str:
        return reply.body[:100]

    def save_model(self, request: HttpRequest, obj: SavedReply, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        if change:
            saved = services.saved_reply_update(
                saved_reply=SavedReply.objects.get(pk=obj.pk), name=data["name"], body=data["body"]
            )
        else:
            saved = services.saved_reply_create(name=data["name"], body=data["body"], actor=request.user)
        obj.pk = saved.pk

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form_class = super().get_form(request, obj, change=change, **kwargs)

        class ValidatingForm(form_class):  # type: ignore[misc, valid-type]
            def clean(self) -> dict[str, Any]:
                cleaned = super().clean()
                try:
                    from conversations.services.saved_replies import _clean

                    _clean(cleaned.get("name"), cleaned.get("body"))
                except ValidationError as error:
                    for name, errors in error.message_dict.items():
                        self.add_error(name if name in self.fields else None, errors)
                return cleaned

        return ValidatingForm


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    filter_horizontal = ["members"]


# --- outbound messages --------------------------------------------------------------------------


class ComposeForm(forms.Form):
    channel = forms.ChoiceField(choices=Message.Channel.choices, initial=Message.Channel.EMAIL)
    subject = forms.CharField(max_length=255, required=False, help_text="Required for email.")
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 8, "cols": 80}), max_length=10_000,
                           help_text="Plain text. Links in emails are tracked; an unsubscribe link is added.")  # fmt: skip


class MessageAdminForm(forms.ModelForm):
    tag = forms.ModelChoiceField(queryset=Tag.objects.order_by("name"), required=False,
                                 help_text="Send to every contact with this tag.")  # fmt: skip
    contact_ids = forms.CharField(required=False, label="Contact ids", help_text="Or a comma-separated list of ids.")

    class Meta:
        model = Message
        fields = ["channel", "subject", "body"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        raw_ids = [x.strip() for x in (cleaned.get("contact_ids") or "").split(",") if x.strip()]
        contact_ids = [int_or_none(x) for x in raw_ids]
        if None in contact_ids:
            self.add_error("contact_ids", "Only numeric contact ids, separated by commas.")
        cleaned["contact_id_list"] = [x for x in contact_ids if x is not None]
        if not cleaned.get("tag") and not cleaned["contact_id_list"]:
            self.add_error("tag", "Choose a tag or enter contact ids.")
        return cleaned

    def _post_clean(self) -> None:
        pass


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    form = MessageAdminForm
    list_display = ["__str__", "channel", "audience", "recipients_count", "state", "sender", "created_at"]
    list_filter = ["channel", "state"]
    list_select_related = ["sender"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = ["audience", "recipients_count", "state", "sender", "created_at", "sent_at", "delivery_stats"]

    def get_fields(self, request: HttpRequest, obj: Message | None = None) -> list[str]:
        if obj is None:
            return ["channel", "subject", "body", "tag", "contact_ids"]
        return ["channel", "subject", "body", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Message | None = None) -> list[str]:
        return ["channel", "subject", "body", *self.readonly_fields] if obj else []

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False if obj is not None and request.method == "POST" else super().has_change_permission(request, obj)

    @admin.display(description="Deliveries")
    def delivery_stats(self, message: Message) -> str:
        from django.db.models import Count, Q

        stats = message.deliveries.aggregate(
            sent=Count("pk", filter=Q(state="sent")), skipped=Count("pk", filter=Q(state="skipped")),
            failed=Count("pk", filter=Q(state="failed")), opened=Count("pk", filter=Q(opened_at__isnull=False)),
            clicked=Count("pk", filter=Q(clicked_at__isnull=False)),
            unsubscribed=Count("pk", filter=Q(unsubscribed_at__isnull=False)),
        )  # fmt: skip
        return ", ".join(f"{value} {name}" for name, value in stats.items())

    def save_model(self, request: HttpRequest, obj: Message, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        tag = data.get("tag")
        message = services.message_send(
            sender=request.user, channel=data["channel"], subject=data.get("subject", ""), body=data["body"],
            tag=tag, contact_ids=None if tag else data["contact_id_list"],
        )  # fmt: skip
        # The admin's "was added" message names `obj`: give it what was sent (the form never filled it).
        obj.pk, obj.channel, obj.subject, obj.body = message.pk, message.channel, message.subject, message.body

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        try:
            return super().add_view(request, form_url, extra_context)
        except ValidationError as error:
            _form_error(request, error)
            return HttpResponseRedirect(request.path)


# --- the contacts changelist action ------------------------------------------------------------


@admin.action(description="Send a message to selected contacts", permissions=["send_message"])
def send_message_to_contacts(model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Contact]) -> Any:
    """Compose an in-app or email message for the selected contacts, then queue it."""
    if not request.user.has_perm("conversations.add_message"):
        raise PermissionDenied
    form = ComposeForm(request.POST if request.POST.get("compose") else None)
    if form.is_bound and form.is_valid():
        try:
            message = services.message_send(
                sender=request.user, channel=form.cleaned_data["channel"], subject=form.cleaned_data["subject"],
                body=form.cleaned_data["body"], contact_ids=list(queryset.values_list("pk", flat=True)[:100_000]),
                idempotency_key=request.POST.get("idempotency_key") or None,
            )  # fmt: skip
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            model_admin.message_user(
                request, f"Message queued for {message.recipients_count} contact(s).", messages.SUCCESS
            )
            return None
    import uuid

    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": "Send a message",
        "form": form,
        "count": queryset.count(),
        "selected_ids": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        "idempotency_key": request.POST.get("idempotency_key") or uuid.uuid4().hex,
        "query_string": request.GET.urlencode(),
    }
    return TemplateResponse(request, "admin/conversations/compose_message.html", context)


def install_contact_actions() -> None:
    """Add the outbound action to the contacts changelist without touching the contacts app."""
    contact_admin = admin.site._registry.get(Contact)
    if contact_admin is not None and send_message_to_contacts not in contact_admin.actions:
        contact_admin.actions = [*contact_admin.actions, send_message_to_contacts]
