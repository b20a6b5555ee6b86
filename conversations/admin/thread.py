"""The conversation page: the thread, its one form of actions (THREAD_ACTIONS), its poll, and starting a conversation."""

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.timesince import timesince

from common.admin_display import short_moment
from common.admin_forms import report_validation_error
from common.parsing import int_or_none
from common.teammates import teammate_name
from common.uploads import request_files
from contacts.custom_attributes import shown_value
from contacts.models import Contact, DataAttribute, Tag
from contacts.selectors import contact_for_inbound_email
from conversations import selectors, services
from conversations.admin import teamwork
from conversations.admin.attachments import attachment_composer_context, part_attachments_json
from conversations.admin.choices import SNOOZE_PRESETS, parse_snooze, teammates
from conversations.models import Conversation, ConversationPart, ConversationRating, Team
from conversations.services.mentions import mention_pieces
from conversations.services.sla import sla_label, sla_target
from conversations.services.threads import SEEN_PART_FIELD, clean_url, teammate_display_name
from tracking.addresses import page_address

RECENT_PAGE_VIEWS = 10
# The conversation page's tag picker lists at most this many tags.
TAG_CHOICES_LIMIT = 500

# The conversation page's actions: each takes the request, the conversation and the typed body,
# calls one service and answers the success message (empty for none) ---------------------------------

# Under this, someone who wrote is waiting "just now", never "0 minutes".
JUST_NOW = dt.timedelta(minutes=1)


def waited(since: dt.datetime) -> str:
    """How long since `since`, as the inbox's Waiting column says it: "just now", else "5 minutes"."""
    return "just now" if timezone.now() - since < JUST_NOW else timesince(since)


def waiting_words(since: dt.datetime) -> str:
    """The conversation page's "waiting for 5 minutes" ("waiting since just now")."""
    waited_for = waited(since)
    return "waiting since just now" if waited_for == "just now" else f"waiting for {waited_for}"


def _filled(request: HttpRequest, conversation: Conversation, body: str) -> str:
    """A reply's placeholders ({{contact.first_name}}…) filled for this contact, as saved replies are."""
    return services.placeholders_render(body, contact=conversation.contact, teammate=request.user)


def _files(request: HttpRequest) -> list[Any]:
    """The files chosen in the composer (checked by the service against the website's limits)."""
    return request_files(request, "files")


def _thread_reply(request: HttpRequest, conversation: Conversation, body: str) -> str:
    body = _filled(request, conversation, body)
    macro = teamwork.pending_macro(request)
    if macro is not None:  # the macro's text was put in the composer: its actions go with the reply
        return teamwork.thread_send_with_macro(request, conversation, macro, body, and_close=False)
    services.conversation_reply_as_teammate(
        conversation=conversation, teammate=request.user, body=body, files=_files(request),
        seen_part_id=teamwork.seen_part(request),
    )  # fmt: skip
    return "Reply sent."


def _thread_note(request: HttpRequest, conversation: Conversation, body: str) -> str:
    services.conversation_add_note(conversation=conversation, teammate=request.user, body=body, files=_files(request))
    return "Note added."


def _thread_reply_close(request: HttpRequest, conversation: Conversation, body: str) -> str:
    body = _filled(request, conversation, body)
    macro = teamwork.pending_macro(request)
    if macro is not None:
        return teamwork.thread_send_with_macro(request, conversation, macro, body, and_close=True)
    services.conversation_reply_and_close(
        conversation=conversation, teammate=request.user, body=body, files=_files(request),
        seen_part_id=teamwork.seen_part(request),
    )  # fmt: skip
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
    assignee = teammates().filter(pk=assignee_id).first() if assignee_id is not None else None
    if raw and assignee is None:
        raise ValidationError(
            {"assignee": "Choose an active teammate who can answer conversations (a viewer reads them)."}
        )
    team = Team.objects.filter(pk=team_id).first() if team_id is not None else None
    if request.POST.get("team") and team is None:  # a hand-made or stale choice: said, not dropped without a word
        gone = "This team no longer exists (another teammate may have just deleted it)."
        raise ValidationError({"team": gone if team_id is not None else "Choose a team from the list."})
    services.conversation_assign(conversation=conversation, teammate=request.user, assignee=assignee, team=team)
    return f"Assigned to {teammate_display_name(assignee) if assignee else 'nobody'}."


def _thread_snooze(request: HttpRequest, conversation: Conversation, body: str) -> str:
    until = parse_snooze(request.POST.get("snoozed_until", ""), request.POST.get("snooze_for", ""))
    services.conversation_snooze(conversation=conversation, teammate=request.user, until=until)
    return f"Snoozed until {short_moment(until)}."


def _thread_tag_by_id(raw: str) -> Tag:
    tag = Tag.objects.filter(pk=int_or_none(raw)).first()
    if tag is None:  # a tag the page offered may have been deleted since it was shown
        gone = int_or_none(raw) is not None
        raise ValidationError({"tag": "This tag no longer exists (another teammate may have just deleted it)." if gone
                               else "Choose a tag."})  # fmt: skip
    return tag


def _thread_tag(request: HttpRequest, conversation: Conversation, body: str) -> str:
    tag = _thread_tag_by_id(request.POST.get("tag", ""))
    if not services.conversation_tag(conversation=conversation, tag=tag, teammate=request.user):
        return f"It was tagged “{tag.name}” already."
    return f"Tagged “{tag.name}”."


def _thread_untag(request: HttpRequest, conversation: Conversation, body: str) -> str:
    # Each tag's remove button posts do=untag:<tag id> (one form, one button per tag).
    tag = _thread_tag_by_id(request.POST.get("do", "").partition(":")[2])
    services.conversation_untag(conversation=conversation, tag=tag, teammate=request.user)
    return f"Removed the tag “{tag.name}”."


def _thread_priority(request: HttpRequest, conversation: Conversation, body: str) -> str:
    wanted = (
        Conversation.Priority.NOT_PRIORITY
        if conversation.priority == Conversation.Priority.PRIORITY
        else Conversation.Priority.PRIORITY
    )
    services.conversation_set_priority(conversation=conversation, priority=wanted)
    return ""


def _thread_title(request: HttpRequest, conversation: Conversation, body: str) -> str:
    title = services.conversation_update(conversation=conversation, title=request.POST.get("title", "")).title
    return f"Title set to “{title}”." if title else "Title cleared."


THREAD_ACTIONS: dict[str, Callable[[HttpRequest, Conversation, str], str]] = {
    "reply": _thread_reply,
    "note": _thread_note,
    "reply_close": _thread_reply_close,
    "close": _thread_close,
    "reopen": _thread_reopen,
    "assign": _thread_assign,
    "snooze": _thread_snooze,
    "priority": _thread_priority,
    "title": _thread_title,
    "tag": _thread_tag,
    "untag": _thread_untag,
}
SENDS = (_thread_reply, _thread_note, _thread_reply_close)


class ConversationPageAdmin(admin.ModelAdmin):
    """The conversation page, its poll and "start a conversation": ConversationAdmin's pages besides the list."""

    def thread_urls(self) -> list[Any]:
        return [
            path("<int:object_id>/poll/", self.admin_site.admin_view(self.poll_view), name="conversations_conversation_poll"),
            path("<int:object_id>/step/<str:way>/", self.admin_site.admin_view(self.step_view),
                 name="conversations_conversation_step"),
            path("start/<int:contact_id>/", self.admin_site.admin_view(self.start_view),
                 name="conversations_conversation_start"),
        ]  # fmt: skip

    def _conversation(self, request: HttpRequest, object_id: Any) -> Conversation:
        conversation = (
            Conversation.objects.select_related("contact", "assignee__parley_profile", "team", "website")
            .filter(pk=object_id)
            .first()
        )
        if conversation is None:
            raise PermissionDenied if not self.has_view_permission(request) else _not_found()
        if not self.has_view_permission(request, conversation):
            raise PermissionDenied
        return conversation

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        conversation_id = int_or_none(str(object_id))
        if conversation_id is None:
            return super().change_view(request, object_id, form_url, extra_context)
        try:
            conversation = self._conversation(request, object_id)
        except Http404:
            # As Django's own change pages do: the list, saying why, not a bare "Not Found" (a link kept from before the
            # conversation was deleted or its contact erased, or a teammate's reply to it posted meanwhile).
            done = " Nothing was done." if request.method == "POST" else ""
            messages.warning(
                request,
                f"Conversation {conversation_id} no longer exists: deleted, or its contact erased.{done}",
            )
            return HttpResponseRedirect(reverse("admin:conversations_conversation_changelist"))
        if request.method == "POST":
            if not self.has_change_permission(request, conversation):
                raise PermissionDenied
            return self._act(request, conversation)
        can_change = self.has_change_permission(request, conversation)
        # Reading is the inbox's state: only who works the conversation marks it read, not a viewer.
        if conversation.teammate_unread_count and can_change:
            services.conversation_mark_read(conversation=conversation, by_contact=False)
        services.mentions_mark_read(teammate=request.user, conversation_id=conversation.pk)
        contact = conversation.contact
        parts = selectors.conversation_thread(conversation=conversation)
        teammate_choices = list(teammates().select_related("parley_profile"))
        draft = request.session.get("parley_draft") if "parley_draft" in request.session else None
        if draft is not None:
            del request.session["parley_draft"]
        conversation_tags = list(conversation.tags.order_by("name"))
        ratings = [
            _rating_json(rating) for rating in selectors.conversation_ratings_for_page(conversation=conversation)
        ]
        rating_of_closure = {rating["closure"]: rating for rating in ratings}
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _heading(contact),
            "draft": draft["body"] if draft and draft.get("conversation") == conversation.pk else "",
            # A send refused with a macro in the composer keeps the macro there too.
            "draft_macro": draft.get("macro", "") if draft and draft.get("conversation") == conversation.pk else "",
            "conversation": conversation,
            "contact": contact,
            # Each part with the words the page shows for it, the same as its poll adds for new parts
            # (teammates by the name contacts see, not their username).
            "thread": [(part, {**_part_json(part), "rating": rating_of_closure.get(part.pk)}) for part in parts],
            # A reply refused because others wrote since (the collision check): their messages are marked.
            "newer_than": draft.get("newer_than") if draft and draft.get("conversation") == conversation.pk else None,
            # Every closure's rating request (CSAT) and its answer, for the side panel; the poll refreshes them.
            "ratings": ratings,
            "last_part_id": parts[-1].pk if parts else 0,
            "contact_tags": list(contact.tags.all()),
            # A typed address another contact showed to be theirs: this visitor may not be that person (new-user walk:
            # an agent answered a stranger who typed a customer's address as if they were the customer).
            "email_owner": (
                contact_for_inbound_email(email=contact.email)
                if contact.email and contact.email_verified_at is None
                else None
            ),
            "conversation_attributes": _attribute_rows(conversation),
            # The tags it can still get: the one it has are shown with their remove buttons.
            "all_tags": list(
                Tag.objects.exclude(pk__in=[tag.pk for tag in conversation_tags]).order_by("name")[:TAG_CHOICES_LIMIT]
            ),
            # The header's and the side panel's words that change while the page is open; the poll refreshes them.
            "live": _live_json(conversation, tags=conversation_tags),
            "teammates": teammate_choices,
            "teams": list(selectors.team_list()),
            # Saved replies and macros, and whom a note can mention.
            **teamwork.thread_context(request, conversation, teammate_choices),
            "snooze_presets": [(k, v[0]) for k, v in SNOOZE_PRESETS.items()],
            "can_change": can_change,
            **attachment_composer_context(conversation),
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
                collided = SEEN_PART_FIELD in getattr(error, "error_dict", {})
                if collided:  # "Leo replied since you opened this — send anyway?": the page shows it, sending confirms
                    messages.warning(request, " ".join(error.message_dict[SEEN_PART_FIELD]))
                else:
                    report_validation_error(request, error)
                # Keep what was typed (and the macro it carries), so a failed send loses nothing.
                request.session["parley_draft"] = {
                    "conversation": conversation.pk, "body": body[:10_000], "macro": request.POST.get("macro", "")[:20],
                    # The messages written since the page was opened, marked on the page that comes back.
                    "newer_than": (int_or_none(request.POST.get(SEEN_PART_FIELD, ""), minimum=0) if collided else None),
                }  # fmt: skip
            else:
                if done:
                    messages.success(request, done)
                # The composer is empty now: the others stop seeing "is writing…" at their next poll.
                if handler in SENDS:
                    services.conversation_presence(conversation=conversation, teammate=request.user, state="viewing")
        return HttpResponseRedirect(reverse("admin:conversations_conversation_change", args=[conversation.pk]))

    def poll_view(self, request: HttpRequest, object_id: int) -> JsonResponse:
        """New parts after `after` (a part id; absent: all) and the current state: the conversation page polls this.
        A JSON endpoint: a conversation that does not exist (or no longer does) is a JSON 404, not Django's page."""
        # It records presence and marks the thread read: only the admin's own page may call it. A link on another
        # site (a top-level GET carries the session's Lax cookie) would show the contact a teammate writing to them.
        if request.headers.get("Sec-Fetch-Site", "same-origin") != "same-origin":
            return JsonResponse(
                {"error": "Only Parley's own pages may poll a conversation.", "field": "Sec-Fetch-Site"}, status=403
            )
        try:
            conversation = self._conversation(request, object_id)
        except Http404 as missing:
            return JsonResponse({"error": str(missing)}, status=404)
        after_id = int_or_none(request.GET.get("after", "0"), minimum=0)
        if after_id is None:  # "-1", "1e3", "²" or text: a caller's bug, said so rather than read as 0
            return JsonResponse({"error": "after must be a part id (digits)", "field": "after"}, status=400)
        if request.GET.get("visible") == "1":
            services.teammate_mark_active(teammate=request.user)
        parts = list(
            conversation.parts.filter(pk__gt=after_id)
            .select_related(
                "author_teammate__parley_profile", "author_contact", "assigned_to__parley_profile", "assigned_team"
            )
            .prefetch_related("attachments", selectors.NOTE_MENTIONS)
            .order_by("created_at", "id")[:100]
        )
        can_change = self.has_change_permission(request, conversation)
        if parts and conversation.teammate_unread_count and can_change:
            services.conversation_mark_read(conversation=conversation, by_contact=False)
        return JsonResponse({
            "state": conversation.state,
            "state_label": conversation.get_state_display(),
            "parts": [_part_json(p) for p in parts],
            "ratings": [_rating_json(r) for r in selectors.conversation_ratings_for_page(conversation=conversation)],
            # Who else is on it, and whether they are writing (the collision warning).
            "presence": teamwork.poll_presence(request, conversation, can_change=can_change, parts=parts),
            "contact_typing": services.contact_is_typing(conversation),
            "live": _live_json(conversation, tags=list(conversation.tags.order_by("name"))),
        })  # fmt: skip

    def step_view(self, request: HttpRequest, object_id: int, way: str) -> HttpResponse:
        """j / k on a conversation opened without the inbox's list (a link, an email): the next ("next") or
        previous ("previous") conversation in the inbox's default order, or the inbox past either end."""
        if way not in ("next", "previous"):
            raise Http404("Step to the next or the previous conversation.")
        conversation = self._conversation(request, object_id)
        found = selectors.conversation_neighbour_id(conversation=conversation, older=way == "next")
        if found is None:
            return HttpResponseRedirect(reverse("admin:conversations_conversation_changelist"))
        return HttpResponseRedirect(reverse("admin:conversations_conversation_change", args=[found]))

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
                report_validation_error(request, error)
            else:
                return HttpResponseRedirect(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
        context = {**self.admin_site.each_context(request), "opts": self.opts, "contact": contact,
                   "title": f"New conversation with {contact}"}  # fmt: skip
        return TemplateResponse(request, "admin/conversations/conversation/start.html", context)


def _not_found() -> Exception:
    return Http404("No such conversation.")


def _part_json(part: ConversationPart) -> dict[str, Any]:
    return {
        "id": part.pk,
        "type": part.part_type,
        "type_label": part.get_part_type_display(),
        "author": str(part.author_contact) if part.author_contact_id else teammate_display_name(part.author_teammate),
        "author_type": part.author_type,
        "author_teammate_id": part.author_teammate_id,
        "body": part.body,
        "attachments": part_attachments_json(part),
        # A note's text in pieces with its @mentions marked (the page highlights them, inserted as text).
        # Only the teammates the note told (its mention rows, prefetched with the teammate) are highlighted.
        "pieces": (
            mention_pieces(part.body, told=[mention.teammate.get_username() for mention in part.mentions.all()])
            if part.is_note
            else []
        ),
        "event": _event_text(part),
        "created_at": short_moment(part.created_at),
    }


def _rating_json(rating: ConversationRating) -> dict[str, Any]:
    """A closure's rating request as the conversation page and its poll show it."""
    if rating.rating is not None:
        label = f"Rated {rating.rating}/5 by the contact"
        when = rating.updated_at or rating.rated_at
    else:
        status = services.rating_status(rating)
        label = (
            "Rating asked, no answer yet"
            if status.is_open
            else "Rating asked, withdrawn when the conversation reopened"
            if status.withdrawn
            else "Rating asked, never answered"
        )
        when = rating.requested_at
    if rating.emailed_at and rating.rating is None:
        label += " (sent by email)"
    return {
        "id": rating.pk,
        "closure": rating.closure_id,
        "rating": rating.rating,
        "stars": rating.stars,
        "label": label,
        "remark": rating.remark,
        "teammate": teammate_display_name(rating.teammate) if rating.teammate_id else "",
        "when": short_moment(when) if when else "",
    }


def _event_text(part: ConversationPart) -> str:
    who = teammate_display_name(part.author_teammate) if part.author_teammate_id else "Parley"
    if part.part_type == ConversationPart.Type.ASSIGNMENT:
        target = teammate_display_name(part.assigned_to) if part.assigned_to_id else "nobody"
        team = f" ({part.assigned_team.name})" if part.assigned_team_id else ""
        why = f", {part.body}" if part.body else ""  # routing: by which rule, and why nobody when nobody was free
        if part.assigned_to_id and part.assigned_to_id == part.author_teammate_id:
            return f"{who} took this{team}{why}"  # not "Sam assigned this to Sam"
        return f"{who} assigned this to {target}{team}{why}"
    if part.part_type == ConversationPart.Type.COMMENT and part.author_teammate_id and part.assigned_to_id:
        return f"Assigned to {teammate_display_name(part.assigned_to)} by this reply"  # it took the conversation
    if part.part_type == ConversationPart.Type.SNOOZE and part.snoozed_until:
        return f"{who} snoozed this until {short_moment(part.snoozed_until)}"
    if part.part_type == ConversationPart.Type.CLOSE:
        return f"{who} closed this"
    if part.part_type == ConversationPart.Type.TAG:
        return f"{who} tagged this “{part.body}”"
    if part.part_type == ConversationPart.Type.UNTAG:
        return f"{who} removed the tag “{part.body}”"
    if part.part_type == ConversationPart.Type.OPEN:
        if part.author_contact_id:
            return "Reopened by the contact's message"
        return f"{who} reopened this" if part.author_teammate_id else "Reopened: the snooze ended"
    return ""


def _heading(contact: Contact) -> str:
    return f"Conversation with {contact}"


def _live_json(conversation: Conversation, *, tags: list[Tag]) -> dict[str, Any]:
    """What the page's header (the SLA, who has it, how long the contact waits), its tags and its side panel (when the
    contact was last seen and heard from, their recent pages) say that changes while a teammate has the page open: the
    page shows these words on load and its poll refreshes them (text only). One query: the page views."""
    contact = conversation.contact
    sla = sla_label(conversation)
    return {
        # The contact's name or email, given in the messenger while the page is open (a walk saw "Lead 2002" stay).
        "heading": _heading(contact),
        "contact": str(contact),
        "email": f"{contact.email}{' (unsubscribed)' if contact.unsubscribed_from_emails else ''}" if contact.email else "—",
        "sla": f"SLA {sla[0]} · {sla_target(conversation)}" if sla else "",
        "sla_over": bool(sla and sla[1]),
        "assignee": teammate_name(conversation.assignee) if conversation.assignee_id else "nobody",
        "assignee_id": conversation.assignee_id,
        "team": f" · team {conversation.team.name}" if conversation.team_id else "",
        "waiting": f"· {waiting_words(conversation.waiting_since)}" if conversation.waiting_since else "",
        "last_seen": _moment(contact.last_seen_at),
        "web_sessions": contact.web_sessions_count,
        "last_heard_from": _moment(contact.last_replied_at),
        "last_contacted": _moment(contact.last_contacted_at),
        "tags": [{"id": tag.pk, "name": tag.name} for tag in tags],
        "page_views": [
            {
                "url": view.url, "href": clean_url(view.url),
                "title": Truncator(view.title or page_address(view.url)).chars(60),
                "address": page_address(view.url), "at": short_moment(view.created_at),
            }
            for view in _recent_page_views(contact)
        ],
    }  # fmt: skip


def _attribute_rows(conversation: Conversation) -> list[tuple[str, str]]:
    """The conversation's custom attributes that hold a value, as (label, value in words) sorted by label, written as
    the contact page writes them: a time in the teammate's zone, Yes or No (they read as stored: names, ISO text in
    UTC, True). A value whose definition is gone shows under its name, as text."""
    values = conversation.custom_attributes or {}
    if not values:
        return []
    definitions = {a.name: a for a in selectors.conversation_attribute_definitions(names=list(values))}
    rows = [
        (attribute.label or name, shown_value(attribute, value))
        for name, value in values.items()
        for attribute in [definitions.get(name) or DataAttribute(name=name)]
    ]
    return sorted(rows, key=lambda row: row[0].casefold())


def _moment(moment: dt.datetime | None) -> str:
    return timezone.localtime(moment).strftime("%b %d, %Y %H:%M") if moment else "—"


def _recent_page_views(contact: Contact) -> list[Any]:
    try:
        page_view = apps.get_model("tracking", "PageView")
    except LookupError:
        return []
    return list(page_view.objects.filter(contact=contact).order_by("-created_at", "-id")[:RECENT_PAGE_VIEWS])
