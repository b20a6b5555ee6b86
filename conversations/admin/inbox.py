"""The inbox: the conversation list with its views, search and bulk actions."""

import datetime as dt
from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import SEARCH_VAR
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections
from django.db.models import F, Q, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import ngettext

from common.admin_display import breakable, short_moment
from common.admin_forms import ActionChoiceField, ActionFieldsForm, action_choice, report_validation_error
from common.pagination import EstimatedCountPaginator
from common.parsing import int_or_none
from companies.models import Company
from contacts.models import Contact, Tag
from contacts.panels import TagFilter, contacts_search
from conversations import selectors, services
from conversations.admin import teamwork
from conversations.admin.choices import SNOOZE_PRESETS, teammate_field, teammates
from conversations.admin.thread import ConversationPageAdmin, waited
from conversations.models import (
    INBOX_NEWEST_FIRST,
    INBOX_WAITING_LONGEST,
    PUBLIC_ID_FORMAT,
    TAG_EVENTS,
    Conversation,
    ConversationPart,
)
from conversations.services import routing as routing_services
from conversations.services import sla as sla_services
from conversations.services.threads import teammate_display_name

# A search matching more parts than this shows the conversations of the first ones found.
SEARCH_MATCH_LIMIT = 2000
# The next SLA target first (index conv_state_sla_due); conversations without one last.
INBOX_SLA_DUE_FIRST = [F("sla_due_at").asc(nulls_last=True), "id"]


class InboxViewFilter(admin.SimpleListFilter):
    """The inbox views; "All open" is the default, as in every help desk."""

    title = "inbox"
    parameter_name = "view"
    DEFAULT = "open"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        unread = selectors.mentions_unread_count(teammate_id=request.user.pk)
        cap = selectors.MENTIONS_UNREAD_CAP
        return [
            ("mine", "Mine"),
            # Conversations whose internal notes mention this teammate (any state), with the unread ones counted.
            ("mentions", f"Mentions ({min(unread, cap)}{'+' if unread > cap else ''} new)" if unread else "Mentions"),
            ("unassigned", "Unassigned"),
            ("open", "All open"),
            ("snoozed", "Snoozed"),
            ("closed", "Closed"),
            ("all", "Everything"),
        ]

    def __init__(self, request: HttpRequest, *args: Any) -> None:
        super().__init__(request, *args)
        # A search with no view chosen looks through every conversation: the one looked for is often closed.
        self.default = "all" if request.GET.get(SEARCH_VAR, "").strip() else self.DEFAULT

    def value(self) -> str:
        return super().value() or self.default

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
        if view == "mentions":
            return queryset.filter(pk__in=selectors.conversations_mentioning(teammate_id=request.user.pk))
        if view in ("snoozed", "closed"):
            return queryset.filter(state=view)
        if view == "all":
            return queryset
        return queryset.filter(state=open_)


class ConversationTagFilter(TagFilter):
    """The contact list's tag filter, on the conversations' own tags."""

    tag_path = "tags__id"


class InboxSortFilter(admin.SimpleListFilter):
    """The inbox's order: newest activity first by default, or the longest waiting first.

    A sidebar choice rather than a column header, so every inbox view keeps it; it filters nothing,
    `ConversationAdmin.get_ordering` reads it. Each order has its indexes (models.Conversation).
    """

    title = "order"  # the sidebar says "By order"
    parameter_name = "sort"
    DEFAULT = "newest"
    ORDERS: ClassVar[dict[str, tuple[str, list[Any]]]] = {
        "newest": ("Newest activity", INBOX_NEWEST_FIRST),
        "waiting": ("Waiting longest", INBOX_WAITING_LONGEST),
        "sla": ("SLA due first", INBOX_SLA_DUE_FIRST),
    }

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(key, label) for key, (label, _) in self.ORDERS.items()]

    def value(self) -> str:
        value = super().value()
        return value if value in self.ORDERS else self.DEFAULT

    def choices(self, changelist: Any) -> Any:
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> QuerySet[Conversation]:
        return queryset

    @classmethod
    def ordering_for(cls, request: HttpRequest) -> list[Any]:
        key = request.GET.get(cls.parameter_name, cls.DEFAULT)
        return list(cls.ORDERS.get(key, cls.ORDERS[cls.DEFAULT])[1])


class TeamFilter(admin.SimpleListFilter):
    title = "team"
    parameter_name = "team"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(str(team.pk), team.name) for team in selectors.team_list()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> QuerySet[Conversation]:
        team_id = int_or_none(self.value())
        return queryset if team_id is None else queryset.filter(team_id=team_id)


class CompanyFilter(admin.SimpleListFilter):
    """The conversations of a company's people, as a company's page links to them (a walk found ten there and no way
    to the rest). The sidebar names the chosen company only: a list of every company would not fit."""

    title = "company"
    parameter_name = "company"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        value = self.value()
        if not value:
            return []  # no sidebar entry (and so no filter) until a company is chosen
        company_id = int_or_none(value)
        company = Company.objects.filter(pk=company_id).first() if company_id is not None else None
        # One gone since (a link kept from its page) still filters, to nothing, rather than showing every conversation.
        return [(value, str(company) if company is not None else "A company that no longer exists")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> QuerySet[Conversation]:
        if not self.value():
            return queryset
        company_id = int_or_none(self.value())
        if company_id is None:
            return queryset.none()
        return queryset.filter(contact__company_memberships__company_id=company_id)


class SlaFilter(admin.SimpleListFilter):
    """Conversations whose next SLA target is close or past (index `conv_state_sla_due`)."""

    title = "SLA"
    parameter_name = "sla"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("soon", f"Breaching soon ({sla_services.BREACHING_SOON_MINUTES} min)"), ("breached", "Breached")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> QuerySet[Conversation]:
        now = timezone.now()
        if self.value() == "soon":
            soon = now + dt.timedelta(minutes=sla_services.BREACHING_SOON_MINUTES)
            return queryset.filter(sla_due_at__gt=now, sla_due_at__lte=soon).exclude(state=Conversation.State.CLOSED)
        if self.value() == "breached":
            return queryset.filter(sla_due_at__lte=now).exclude(state=Conversation.State.CLOSED)
        return queryset


class InboxActionForm(ActionFieldsForm):
    assignee = teammate_field()
    snooze_for = forms.ChoiceField(
        choices=[("", "Snooze for…"), *((k, v[0]) for k, v in SNOOZE_PRESETS.items())], required=False, label=""
    )

    # A tag or macro deleted since the list was shown is the action's message, not "No action selected.".
    tag = ActionChoiceField(queryset=Tag.objects.order_by("name"), required=False, label="Tag")
    macro = ActionChoiceField(queryset=selectors.macro_list(), required=False, label="Macro")
    # Closing several conversations at once (a clean-up) asks no rating unless ticked; one alone asks as ever.
    ask_ratings = forms.BooleanField(required=False, label="Ask for ratings")
    for_actions = {
        "assignee": ("assign_selected",),
        "snooze_for": ("snooze_selected",),
        "tag": ("tag_selected",),
        "macro": ("run_macro_selected",),
        "ask_ratings": ("close_selected",),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = teammates()
        self.fields["macro"].queryset = selectors.macro_list()


# The inbox's preview of the last message: cut at a word, and said to be cut (a walk read "…insideitto" as the end).
PREVIEW_SHOWN = 120


def _preview_shown(preview: str) -> str:
    if len(preview) <= PREVIEW_SHOWN:
        return preview
    cut = preview[:PREVIEW_SHOWN]
    space = cut.rfind(" ")
    return (cut[:space] if space > PREVIEW_SHOWN - 30 else cut).rstrip() + "…"


@admin.register(Conversation)
class ConversationAdmin(ConversationPageAdmin):
    list_display = [
        "contact_name", "preview_column", "tag_column", "waiting", "sla_column", "assignee_column", "state_column",
    ]  # fmt: skip
    list_display_links = ["contact_name"]
    list_filter = [
        InboxViewFilter, InboxSortFilter, "priority", TeamFilter, SlaFilter, ConversationTagFilter, CompanyFilter,
    ]  # fmt: skip
    list_select_related = ["contact", "assignee__parley_profile"]  # the profile: the "(away)" mark
    # The default order, here too: the changelist marks the column of this one (none), not the model's.
    ordering = INBOX_NEWEST_FIRST
    list_per_page = 50
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    search_fields = ["parts__body"]  # replaced by get_search_results: full text on PostgreSQL
    search_help_text = (
        "Words from the messages (full-text on PostgreSQL), the contact's name, email, company or user id, or a "
        "conversation id; "
        "in every conversation unless a view is chosen."
    )
    action_form = InboxActionForm
    actions = [
        "assign_selected", "assign_to_me", "snooze_selected", "close_selected", "reopen_selected", "tag_selected",
        "run_macro_selected",
    ]  # fmt: skip

    def get_ordering(self, request: HttpRequest) -> list[Any]:
        return InboxSortFilter.ordering_for(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Conversations start from the contact page or the widget, never from an empty form.
        return False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Conversation], search_term: str
    ) -> tuple[QuerySet[Conversation], bool]:
        term = search_term.strip()[:200]
        if not term:
            return queryset, False
        # A number is the conversation with that id and, as any word, the conversations that hold it (an order or an
        # invoice number: the new-user walk's "1042" found nothing). "²", or a number beyond bigint: text only.
        conversation_id = int_or_none(term)
        if PUBLIC_ID_FORMAT.fullmatch(term) and queryset.filter(public_id=term).exists():
            return queryset.filter(public_id=term), False
        # The words of the conversation: a tag's name in its timeline is no match (the sidebar's "By tag" finds tagged ones).
        parts = ConversationPart.objects.exclude(part_type__in=TAG_EVENTS)
        if connections[queryset.db].vendor == "postgresql":
            from django.contrib.postgres.search import SearchQuery, SearchVector

            # Same expression as the GIN index `part_body_fts` (migration 0002).
            parts = parts.annotate(search=SearchVector("body", config="simple")).filter(
                search=SearchQuery(term, config="simple", search_type="websearch")
            )
        else:
            parts = parts.filter(body__icontains=term)
        # Matching ids first, bounded, as their own queries: inside one statement PostgreSQL may
        # prefer walking the inbox order and probing each conversation's parts (seconds at 1M).
        ids = set(parts.values_list("conversation_id", flat=True)[:SEARCH_MATCH_LIMIT])
        # The contacts the contact list would find for the term (their name, email, company, user id).
        contact_ids = set(
            contacts_search(Contact.objects.all(), term).values_list("pk", flat=True)[:SEARCH_MATCH_LIMIT]
        )
        found = Q(pk__in=ids) | Q(contact_id__in=contact_ids)
        return queryset.filter(found if conversation_id is None else found | Q(pk=conversation_id)), False

    @admin.display(description="Contact", ordering="contact__name")
    def contact_name(self, conversation: Conversation) -> str:
        unread = conversation.teammate_unread_count
        name = breakable(str(conversation.contact))
        if unread:
            # A badge, not a bare number after the name ("Lead 4 1"); its label says what it counts.
            return format_html(
                "<strong>{}</strong> <span class='parley-unread' title='{} unread' aria-label='{} unread'>{}</span>",
                name, unread, unread, unread,
            )  # fmt: skip
        return name

    @admin.display(description="Last message")
    def preview_column(self, conversation: Conversation) -> str:
        # The teammate by name: "You:" would be wrong for every other teammate reading the inbox.
        who = f"{conversation.preview_author_name}: " if conversation.preview_author_type == "teammate" else ""
        if conversation.priority == Conversation.Priority.PRIORITY:
            # A red flag (CSS), not a star: the State column's stars are the contact's rating.
            return format_html(
                "<span class='parley-priority' role='img' title='{}' aria-label='{}'></span> {}"
                "<span class='parley-preview'>{}</span>",
                "Priority", "Priority", who, _preview_shown(conversation.preview),
            )  # fmt: skip
        return format_html("{}<span class='parley-preview'>{}</span>", who, _preview_shown(conversation.preview))

    @admin.display(description="Tags")
    def tag_column(self, conversation: Conversation) -> str:
        return ", ".join(tag.name for tag in conversation.tags.all())  # prefetched with the page

    @admin.display(description="Waiting", ordering="waiting_since")
    def waiting(self, conversation: Conversation) -> str:
        if conversation.state == Conversation.State.SNOOZED and conversation.snoozed_until:
            return f"snoozed until {short_moment(conversation.snoozed_until)}"
        if conversation.waiting_since is None:
            return "—"
        return waited(conversation.waiting_since)

    @admin.display(description="SLA", ordering=F("sla_due_at").asc(nulls_last=True))
    def sla_column(self, conversation: Conversation) -> str:
        label = sla_services.sla_label(conversation)
        if label is None:
            return "—"
        text, overdue = label
        # "overdue" and "113 d" may go on two lines in a narrow column; a number never leaves its unit.
        text = text.replace(" d", "\u00a0d").replace("h ", "h\u00a0")
        return format_html("<span class='parley-sla{}'>{}</span>", " parley-sla-over" if overdue else "", text)

    @admin.display(description="Assignee", ordering="assignee")
    def assignee_column(self, conversation: Conversation) -> str:
        assignee = conversation.assignee
        if assignee is None:
            return "—"
        name = teammate_display_name(assignee)  # the profile came with the page (list_select_related)
        if routing_services.teammate_is_away(assignee):
            return format_html("{} <span class='parley-away'>(away)</span>", name)
        return name

    @admin.display(description="State", ordering="state")
    def state_column(self, conversation: Conversation) -> str:
        """The state, and under it the contact's latest rating: one column, so the inbox fits 1280 px. A conversation
        opened again after it was rated says the rating is its earlier closure's, not an answer to the work now."""
        state = conversation.get_state_display()
        rating = conversation.latest_rating  # annotated by get_queryset: no query of its own
        if rating is None:
            return state
        stars = "★" * rating + "☆" * (5 - rating)
        if conversation.state == Conversation.State.CLOSED:
            return format_html("{}<br><span class='parley-stars' title='{}/5' aria-label='Rated {} out of 5'>{}</span>",
                               state, rating, rating, stars)  # fmt: skip
        return format_html("{}<br><span class='parley-earlier-rating' title='Rated {}/5 when it was last closed'>"
                           "earlier <span class='parley-stars' aria-label='Rated {} out of 5 when it was last closed'>"
                           "{}</span></span>", state, rating, rating, stars)  # fmt: skip

    # --- bulk actions -----------------------------------------------------------------------------

    def _bulk(self, request: HttpRequest, queryset: QuerySet[Conversation], verb: str, action: Any) -> None:
        done = 0
        for conversation in queryset.select_related(None).only("pk", "assignee_id", "state", "team_id"):
            try:
                action(conversation)
                done += 1
            except ValidationError as error:
                report_validation_error(request, error)
                return
        words = ngettext("%(verb)s %(count)d conversation.", "%(verb)s %(count)d conversations.", done)
        self.message_user(request, words % {"verb": verb, "count": done}, messages.SUCCESS)

    @admin.action(description="Assign selected to the chosen teammate", permissions=["change"])
    def assign_selected(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        assignee = teammates().filter(pk=request.POST.get("assignee") or 0).first()
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

    @staticmethod
    def _asks_for_ratings(request: HttpRequest, queryset: QuerySet[Conversation]) -> bool:
        """A close asks for a rating when it closes one conversation, or several with "Ask for ratings" ticked."""
        return bool(request.POST.get("ask_ratings")) or queryset.count() <= 1

    @admin.action(description="Close selected", permissions=["change"])
    def close_selected(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        ask = self._asks_for_ratings(request, queryset)
        self._bulk(request, queryset, "Closed",
                   lambda c: services.conversation_close(conversation=c, teammate=request.user, ask_for_rating=ask))  # fmt: skip

    @admin.action(description="Reopen selected", permissions=["change"])
    def reopen_selected(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        self._bulk(request, queryset, "Reopened",
                   lambda c: services.conversation_reopen(conversation=c, teammate=request.user))  # fmt: skip

    @admin.action(description="Tag selected with the chosen tag", permissions=["change"])
    def tag_selected(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        tag = action_choice(self, request, Tag.objects.all(), "tag")
        if tag is None:
            return
        self._bulk(
            request,
            queryset,
            "Tagged",
            lambda c: services.conversation_tag(conversation=c, tag=tag, teammate=request.user),
        )

    @admin.action(description="Run the chosen macro on selected (asks first)", permissions=["change"])
    def run_macro_selected(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> HttpResponse | None:
        macro = action_choice(self, request, selectors.saved_reply_list(), "macro")
        if macro is None:
            return None
        if request.POST.get("confirm") != "yes":  # what it will do, to how many, before it does it
            return teamwork.macro_bulk_confirmation(request, self, queryset, macro)
        ask = self._asks_for_ratings(request, queryset)
        self._bulk(request, queryset, f"Ran the macro “{macro.name}” on",
                   lambda c: services.macro_run(saved_reply=macro, conversation=c, teammate=request.user,
                                                ask_for_rating=ask))  # fmt: skip
        return None

    # --- the inbox's own URLs; the conversation page's come from ConversationPageAdmin ---------------

    def get_urls(self) -> list[Any]:
        custom = [
            *self.thread_urls(),
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
        # The tags column: one query for the page's conversations, not one per row; the rating column: a
        # subquery on an index in the list's own query (selectors.conversation_latest_rating).
        return (
            super()
            .get_queryset(request)
            .prefetch_related(selectors.conversation_with_tags())
            .annotate(latest_rating=selectors.conversation_latest_rating())
        )

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        services.teammate_mark_active(teammate=request.user)
        context = {
            "title": "Inbox",
            "inbox_updates_url": reverse("admin:conversations_inbox_updates"),
            "inbox": selectors.inbox_state(),
            "unavailable": routing_services.teammates_unavailable(),
            **(extra_context or {}),
        }
        return super().changelist_view(request, context)
