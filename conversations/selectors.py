"""Reads reused by the admin inbox, the widget and the ping."""

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Lower, TruncDate

from common.parsing import int_or_none
from common.teammates import teammate_name
from companies.models import Company
from companies.selectors import company_recent_member_ids
from contacts.models import Contact, ContactTag, DataAttribute, Tag
from contacts.selectors import contact_find_by_email
from conversations.models import (
    ACTIVITY_ORDER,
    AssignmentRule,
    Attachment,
    Conversation,
    ConversationMention,
    ConversationPart,
    ConversationRating,
    Message,
    MessageDelivery,
    SavedReply,
    Team,
)
from segments import selectors as segment_selectors
from tracking.models import WebSession, Website

THREAD_MAX_PARTS = 500
WIDGET_LIST_LIMIT = 20


def messenger_scope(*, website_id: int, verified_sign_in: bool) -> dict[str, Any]:
    """Which of a contact's conversations this website's messenger reads (the `website_id` and `every_website`
    arguments of the selectors below): those started on it (or on none), or every one when the widget token
    is a verified sign-in (a valid user_hash of this website named the user; a website that enforces
    verification honours a user's token only then). An anonymous id, or a user id claimed without a hash on a
    website that does not enforce verification, opens nothing of another website."""
    return {"website_id": website_id, "every_website": verified_sign_in}


def conversation_shown_through(*, conversation: Conversation, website_id: int, every_website: bool = False) -> bool:
    """`_through_website` for a conversation already loaded (a file link's)."""
    return every_website or conversation.website_id in (None, website_id)


def _through_website(*, website_id: int, every_website: bool, prefix: str = "") -> Q:
    """Which of a contact's conversations one website's messenger shows: those started on it and those of
    no website (a teammate's, an email's); `every_website`: all of them, for a user that website verified
    (docs/architecture.md, "Widget trust rules")."""
    if every_website:
        return Q()
    return Q(**{f"{prefix}website_id": website_id}) | Q(**{f"{prefix}website__isnull": True})


def _messenger_conversations(*, contact_id: int, website_id: int, every_website: bool) -> QuerySet[Conversation]:
    """A contact's conversations that this website's messenger shows (_through_website)."""
    return Conversation.objects.filter(
        _through_website(website_id=website_id, every_website=every_website), contact_id=contact_id
    )


def conversation_list_for_contact(
    *, contact_id: int, website_id: int, every_website: bool = False
) -> QuerySet[Conversation]:
    """A contact's conversations that this website's messenger shows, newest activity first (widget list, ping)."""
    return _messenger_conversations(contact_id=contact_id, website_id=website_id, every_website=every_website).order_by(
        "-updated_at", "-id"
    )


def conversation_recent_for_contact(
    *, contact_id: int, website_id: int, every_website: bool = False
) -> tuple[list[Conversation], int]:
    """The WIDGET_LIST_LIMIT conversations this website's messenger lists first, and the unread teammate replies
    across all it shows (an older conversation's too: a second query only when the list is full)."""
    scope = {"contact_id": contact_id, "website_id": website_id, "every_website": every_website}
    conversations = list(conversation_list_for_contact(**scope)[:WIDGET_LIST_LIMIT])
    return conversations, _unread_total([c.contact_unread_count for c in conversations], **scope)


def conversation_page_for_contact(
    *, contact_id: int, website_id: int, every_website: bool = False, after: Any = None
) -> tuple[list[Conversation], bool] | None:
    """A page of the list the messenger shows (newest activity first, WIDGET_LIST_LIMIT at a time): the first, or the
    one after the conversation whose public id is `after`; and whether more follow. None when `after` names no
    conversation this messenger shows (another contact's or website's look the same)."""
    scope = {"contact_id": contact_id, "website_id": website_id, "every_website": every_website}
    listed = conversation_list_for_contact(**scope)
    if after is not None:
        last = conversation_get_for_contact(public_id=after, **scope)
        if last is None:
            return None
        at = last.updated_at
        listed = listed.filter(Q(updated_at__lt=at) | Q(updated_at=at, pk__lt=last.pk))
    page = list(listed[: WIDGET_LIST_LIMIT + 1])
    return page[:WIDGET_LIST_LIMIT], len(page) > WIDGET_LIST_LIMIT


def _unread_total(listed: list[int], **scope: Any) -> int:
    """The unread teammate replies across the contact's conversations, from the unread counts of the first
    WIDGET_LIST_LIMIT listed: their sum, or (a list cut short) one query on the contact's unread ones only."""
    return sum(listed) if len(listed) < WIDGET_LIST_LIMIT else _unread_sum(**scope)


def _unread_sum(**scope: Any) -> int:
    """The unread teammate replies across the contact's conversations this messenger shows: one query on its unread
    ones only (the partial index conv_contact_unread), whatever its history."""
    unread_ones = _messenger_conversations(**scope).filter(contact_unread_count__gt=0)
    return unread_ones.aggregate(n=Sum("contact_unread_count"))["n"] or 0


def contact_has_conversations(*, contact_id: int) -> bool:
    """Whether the contact has a conversation on any website (the ping marks "quiet" only those without)."""
    return Conversation.objects.filter(contact_id=contact_id).exists()


def conversation_get_for_contact(
    *, contact_id: int, public_id: Any, website_id: int, every_website: bool = False
) -> Conversation | None:
    """The conversation only when it belongs to this contact and this website's messenger shows it: foreign,
    another website's and unknown ids look the same."""
    # No query for what cannot be a public id (PostgreSQL raises on a NUL in a compared string).
    if not isinstance(public_id, str) or len(public_id) > 32 or "\x00" in public_id:
        return None
    return (
        _messenger_conversations(contact_id=contact_id, website_id=website_id, every_website=every_website)
        .filter(public_id=public_id)
        .first()
    )


def conversation_visible_parts(*, conversation: Conversation) -> QuerySet[ConversationPart]:
    """Parts the contact sees: the messages (notes are internal; assignments, snoozes, closes and
    reopens are the team's events, told by the conversation's state, never as empty bubbles)."""
    return (
        conversation.parts.filter(part_type=ConversationPart.Type.COMMENT)
        .select_related("author_teammate__parley_profile", "author_contact")
        .prefetch_related("attachments")
        .order_by("created_at", "id")
    )


def conversation_answering_teammate(*, conversation: Conversation, parts: Sequence[ConversationPart]) -> Any:
    """The teammate answering the contact, as the messenger's thread names them: none until a teammate wrote in
    `parts` (the visible parts, authors loaded); then the assignee (after a reassignment, who answers next), else
    the last teammate who wrote. An assignee who has not written in it yet is named only by the display name
    their profile gives visitors, never by their full name or login (those reach a contact once they write).
    At most one query: that assignee."""
    writers = [part.author_teammate for part in parts if part.author_teammate_id]
    if not writers:
        return None
    if conversation.assignee_id is None:
        return writers[-1]
    assignee = next((writer for writer in writers if writer.pk == conversation.assignee_id), None)
    if assignee is None:
        named = get_user_model().objects.filter(pk=conversation.assignee_id, parley_profile__display_name__gt="")
        assignee = named.select_related("parley_profile").first()
    return assignee or writers[-1]


def in_app_unseen_deliveries(*, contact_id: int) -> QuerySet[MessageDelivery]:
    """In-app messages sent to the contact and not shown yet, oldest first. A message that opened a
    conversation without waiting for an answer is not one of them: the messenger shows that conversation."""
    return MessageDelivery.objects.filter(
        contact_id=contact_id, state=MessageDelivery.State.SENT, seen_at__isnull=True,
        message__channel=Message.Channel.IN_APP, conversation__isnull=True,
    ).order_by("id")  # fmt: skip


def in_app_seen_unanswered(*, contact_id: int, since: dt.datetime) -> QuerySet[MessageDelivery]:
    """In-app messages the contact was shown since `since` and has not answered, newest first: the messenger lists
    them, to answer later (an answer opens a conversation, listed instead)."""
    return MessageDelivery.objects.filter(
        contact_id=contact_id, state=MessageDelivery.State.SENT, seen_at__gte=since,
        message__channel=Message.Channel.IN_APP, conversation__isnull=True,
    ).order_by("-seen_at", "-id")  # fmt: skip


def in_app_unseen_count(*, contact_id: int) -> int:
    """In-app messages sent to the contact and not shown yet (they count as unread in the messenger).

    None without the marketing purpose: the messenger does not show them (in_app_shown_to), so they
    count for nothing either (the consent check runs only when some are waiting)."""
    count = in_app_unseen_deliveries(contact_id=contact_id).count()
    return count if count and in_app_shown_to(contact_id=contact_id) else 0


def in_app_shown_to(*, contact_id: int) -> bool:
    """The one rule for in-app campaigns in the messenger (listed, counted, answered): the marketing purpose is on."""
    return bool(contacts_marketing_allowed(contact_ids=[contact_id]))


def contact_unread_count(*, contact_id: int, website_id: int, every_website: bool = False) -> int:
    """Unread teammate replies across the contact's conversations this website's messenger shows, plus
    unseen in-app messages."""
    total = _unread_sum(contact_id=contact_id, website_id=website_id, every_website=every_website)
    return total + in_app_unseen_count(contact_id=contact_id)


def contact_poll(
    *, contact_id: int, since: dt.datetime | None, website_id: int, every_website: bool = False
) -> tuple[int, list[str], dt.datetime | None]:
    """(unread count, ids changed after `since`, new cursor) of the conversations this website's messenger
    shows, in a few small queries whatever the contact's history: the poll comes every few seconds, and lists
    the WIDGET_LIST_LIMIT most recent changes at most (the messenger reloads what it shows on any, and all of it
    when the list is full)."""
    scope = {"contact_id": contact_id, "website_id": website_id, "every_website": every_website}
    rows = list(
        conversation_list_for_contact(**scope).values_list("public_id", "updated_at", "contact_unread_count")[
            :WIDGET_LIST_LIMIT
        ]
    )
    unread = _unread_total([row[2] for row in rows], **scope) + in_app_unseen_count(contact_id=contact_id)
    changed = [public_id for public_id, updated_at, _ in rows if since is None or updated_at > since]
    cursor = rows[0][1] if rows else since
    return unread, changed, cursor


# A thread's notes' mentions with their teammates, in one query: the page highlights only whom a note told.
NOTE_MENTIONS = Prefetch("mentions", queryset=ConversationMention.objects.select_related("teammate"))


def conversation_thread(*, conversation: Conversation) -> list[ConversationPart]:
    """The whole thread in reading order for the inbox (the last THREAD_MAX_PARTS parts)."""
    parts = list(
        conversation.parts.select_related(
            "author_teammate__parley_profile", "author_contact", "assigned_to__parley_profile", "assigned_team"
        )
        # The notes' mentions: the page highlights only the teammates a note told.
        .prefetch_related("attachments", NOTE_MENTIONS)
        .order_by("-created_at", "-id")[:THREAD_MAX_PARTS]
    )
    parts.reverse()
    return parts


def conversations_for_contact_panel(contact: Contact) -> list[Conversation]:
    """A contact's ten most recent conversations with their assignees and the contact's latest rating of each
    (`rating`, `rating_remark`: CSAT), for the contact page. One query."""
    latest_rated = _latest_rated()
    return list(
        Conversation.objects.filter(contact=contact)
        .select_related("assignee__parley_profile")
        .annotate(
            rating=Subquery(latest_rated.values("rating")[:1]),
            rating_remark=Subquery(latest_rated.values("remark")[:1]),
        )
        .order_by("-updated_at", "-id")[:10]
    )


def conversation_neighbour_id(*, conversation: Conversation, older: bool) -> int | None:
    """The conversation after (`older`) or before this one in the inbox's default order, newest activity
    first (ACTIVITY_ORDER: last_part_at descending, never-written ones last, then id descending); None at
    either end. One query on the inbox's order index."""
    at, pk = conversation.last_part_at, conversation.pk
    conversations = Conversation.objects.all()
    if older:
        if at is None:
            found = conversations.filter(last_part_at__isnull=True, pk__lt=pk).order_by("-pk")
        else:
            found = conversations.filter(
                Q(last_part_at__lt=at) | Q(last_part_at=at, pk__lt=pk) | Q(last_part_at__isnull=True)
            ).order_by(*ACTIVITY_ORDER)
    elif at is None:
        found = conversations.filter(Q(last_part_at__isnull=False) | Q(pk__gt=pk)).order_by(
            F("last_part_at").asc(nulls_first=True), "pk"
        )
    else:
        found = conversations.filter(Q(last_part_at__gt=at) | Q(last_part_at=at, pk__gt=pk)).order_by(
            "last_part_at", "pk"
        )
    return found.values_list("pk", flat=True).first()


def conversations_for_company_panel(company: Company) -> list[Conversation]:
    """The ten conversations of the people a company page shows with the latest activity (a message, a note,
    a state change: what the inbox sorts on, not any write to the row), for that page (one query)."""
    members = company_recent_member_ids(company=company)
    return list(
        Conversation.objects.filter(contact_id__in=members).select_related("contact").order_by(*ACTIVITY_ORDER)[:10]
    )


def saved_reply_list() -> QuerySet[SavedReply]:
    """Every saved reply (macros too), by name, with what their actions name (two queries)."""
    return (
        SavedReply.objects.select_related("assignee__parley_profile", "team").prefetch_related("tags").order_by("name")
    )


def tags_uses_in_conversations(*, tags: Sequence[Tag]) -> dict[int, list[str]]:
    """Tag id → what of the inbox names it, as a teammate reads it: assignment rules (as their condition, which a
    deletion would take with the rule, or their action), then saved replies that add it (two queries)."""
    ids = {tag.pk for tag in tags}
    found: dict[int, list[str]] = {}
    rules = AssignmentRule.objects.filter(Q(contact_tag__in=ids) | Q(add_tag__in=ids)).order_by("position", "id")
    for rule in rules:
        for pk in sorted({rule.contact_tag_id, rule.add_tag_id} & ids):
            found.setdefault(pk, []).append(f"the assignment rule “{rule.name}”")
    links = SavedReply.tags.through.objects.filter(tag_id__in=ids).select_related("savedreply")
    for link in links.order_by("savedreply__name", "savedreply_id"):
        found.setdefault(link.tag_id, []).append(f"the saved reply “{link.savedreply.name}”")
    return found


def macro_list() -> QuerySet[SavedReply]:
    """The saved replies that have actions (macros), by name."""
    has_actions = (
        ~Q(assign="") | Q(team__isnull=False) | ~Q(priority="") | Q(snooze_minutes__isnull=False) | Q(close=True)
        | Exists(SavedReply.tags.through.objects.filter(savedreply_id=OuterRef("pk")))
    )  # fmt: skip
    return SavedReply.objects.filter(has_actions).order_by("name")


# The inbox counts a teammate's unread mentions up to this many ("9+" past it): a bounded count.
MENTIONS_UNREAD_CAP = 9


def mentions_unread_count(*, teammate_id: int) -> int:
    """How many mentions of the teammate they have not opened yet, up to MENTIONS_UNREAD_CAP + 1 (index
    mention_teammate_unread)."""
    return (
        ConversationMention.objects.filter(teammate_id=teammate_id, read_at__isnull=True)
        .values("id")[: MENTIONS_UNREAD_CAP + 1]
        .count()
    )


def conversations_mentioning(*, teammate_id: int) -> QuerySet[ConversationMention]:
    """The ids of the conversations whose notes mention the teammate, as a subquery (index mention_teammate_conversation)."""
    return ConversationMention.objects.filter(teammate_id=teammate_id).values("conversation_id")


def team_list() -> QuerySet[Team]:
    """Every team, by name."""
    return Team.objects.order_by("name")


def conversation_with_tags() -> Prefetch:
    """The prefetch that brings a page of conversations' tags in one query."""
    return Prefetch("tags")


# The inbox counts unread conversations up to this many ("99+" past it): a bounded count.
INBOX_UNREAD_CAP = 99
INBOX_EVENTS_LIMIT = 20


def inbox_state() -> dict[str, Any]:
    """The newest part id (the page refreshes its list when it moves) and the unread count, capped."""
    latest = ConversationPart.objects.aggregate(latest=Max("id"))["latest"] or 0
    unread = (
        Conversation.objects.filter(state=Conversation.State.OPEN, teammate_unread_count__gt=0)
        .values("id")[: INBOX_UNREAD_CAP + 1]
        .count()
    )
    return {"latest_part_id": latest, "unread_conversations": min(unread, INBOX_UNREAD_CAP),
            "unread_capped": unread > INBOX_UNREAD_CAP}  # fmt: skip


def inbox_new_messages(*, teammate_id: int, after_part_id: int) -> list[dict[str, Any]]:
    """Contacts' messages, and internal notes that mention this teammate, after part `after_part_id`,
    oldest first, for notifications: each says whether it opened its conversation, whether the
    conversation is assigned to this teammate, and who mentioned them (`mentioned_by`, else "")."""
    opening_part = ConversationPart.objects.filter(conversation=OuterRef("conversation")).order_by("created_at", "id")
    mentions_me = ConversationMention.objects.filter(part=OuterRef("pk"), teammate_id=teammate_id)
    new_parts = (
        ConversationPart.objects.filter(pk__gt=after_part_id)
        .filter(
            Q(part_type=ConversationPart.Type.COMMENT, author_contact__isnull=False)
            | Q(Exists(mentions_me), part_type=ConversationPart.Type.NOTE)
        )
        .select_related("conversation__contact", "author_contact", "author_teammate__parley_profile")
        .annotate(opening_part_id=Subquery(opening_part.values("id")[:1]))
        .order_by("id")[:INBOX_EVENTS_LIMIT]
    )
    from conversations.services.threads import teammate_display_name

    return [
        {
            "part_id": part.pk,
            "conversation_id": part.conversation_id,
            "contact": str(part.conversation.contact),
            "body": part.body[:140],
            "new_conversation": part.pk == part.opening_part_id,
            "assigned_to_me": part.conversation.assignee_id == teammate_id,
            "mentioned_by": teammate_display_name(part.author_teammate) if part.is_note else "",
        }
        for part in new_parts
    ]


# --- outbound messages: the audience before sending, the deliveries after ----------------------

# The preview offers the first recipients of the audience to render the message for.
AUDIENCE_SAMPLE_SIZE = 10


# Who an outbound message skips, and why: (reason, condition on Contact), first match wins. The one
# rule the preview's counts, the send and the stats all read, so what the admin says is what happens.
SkipRule = tuple[str, Callable[[], Q]]
EMAIL_NOT_CONFIRMED = "email not confirmed"
EMAIL_SKIP_RULES: tuple[SkipRule, ...] = (
    ("processing restricted", lambda: Q(processing_restricted=True)),
    ("unsubscribed", lambda: Q(unsubscribed_from_emails=True)),
    ("no email address", lambda: Q(email="")),
    # Typed into a messenger and never confirmed: anyone can type anyone's address (services.email_confirmation).
    (EMAIL_NOT_CONFIRMED, lambda: Q(email_verified_at__isnull=True)),
)
# An in-app message is a marketing campaign (docs/privacy.md): not shown to a restricted contact, nor
# to one without the marketing purpose (no consent, unless a website of theirs has legitimate interest
# as its marketing basis). A teammate's reply in a conversation is support and never goes through this.
NO_MARKETING_CONSENT = "no marketing consent"
IN_APP_SKIP_RULES: tuple[SkipRule, ...] = (
    EMAIL_SKIP_RULES[0],
    (NO_MARKETING_CONSENT, lambda: ~marketing_allowed_q()),
)


def skip_rules(channel: str) -> tuple[SkipRule, ...]:
    """The skip rules of a channel (email or in-app)."""
    return EMAIL_SKIP_RULES if channel == Message.Channel.EMAIL else IN_APP_SKIP_RULES


def _skip_reason_expression(rules: tuple[SkipRule, ...]) -> Case:
    return Case(*(When(condition(), then=Value(reason)) for reason, condition in rules), default=Value(""))


def delivery_skip_reasons(*, contact_ids: list[int], channel: str) -> dict[int, str]:
    """Contact id → why a message on this channel skips them ('' when it goes out); one query."""
    if not contact_ids:
        return {}
    rows = Contact.objects.filter(pk__in=contact_ids).annotate(skip=_skip_reason_expression(skip_rules(channel)))
    return dict(rows.values_list("pk", "skip"))


def delivery_skip_reason(contact: Contact, *, channel: str) -> str:
    """Why a message on this channel skips the contact ('' when it goes out)."""
    return delivery_skip_reasons(contact_ids=[contact.pk], channel=channel).get(contact.pk, "")


def _skipped_counts(contacts: QuerySet[Contact], channel: str) -> dict[str, int]:
    """Reason → how many of these contacts a message on this channel skips ('' for those it reaches)."""
    rows = (
        contacts.order_by()
        .annotate(skip=_skip_reason_expression(skip_rules(channel)))
        .values("skip")
        .annotate(n=Count("pk"))
    )
    return {row["skip"]: row["n"] for row in rows}


@dataclass(frozen=True)
class MessageAudience:
    count: int
    reachable_by_email: int  # what the send emails: EMAIL_SKIP_RULES skip none of them
    sample: list[Contact]
    reachable_in_app: int = 0  # what an in-app send shows to: IN_APP_SKIP_RULES skip none of them
    skipped_by_email: tuple[tuple[str, int], ...] = ()  # (reason, count), for the preview to say why
    skipped_in_app: tuple[tuple[str, int], ...] = ()


def message_audience_contacts(
    *, tag: Any = None, contact_ids: list[int] | None = None, segment: Any = None
) -> QuerySet[Contact]:
    """The contacts a message to this tag, segment (or to these ids) reaches, as a query not yet run."""
    if segment is not None:
        return segment_selectors.segment_members(segment=segment)
    if tag is not None:
        return Contact.objects.filter(pk__in=ContactTag.objects.filter(tag=tag).values("contact_id"))
    return Contact.objects.filter(pk__in=contact_ids or [])


def message_test_recipient(*, reference: Any) -> Contact | None:
    """The contact an in-app test goes to: by id (digits) or by email (a user first, else a lead)."""
    if not isinstance(reference, str) or "\x00" in reference:
        return None
    reference = reference.strip()[:254]
    contact_id = int_or_none(reference, minimum=1)
    if contact_id is not None:
        return Contact.objects.filter(pk=contact_id).first()
    if "@" not in reference:
        return None
    return contact_find_by_email(email=reference)


def _is_blank(field: str) -> ExpressionWrapper:
    return ExpressionWrapper(Q(**{field: ""}), output_field=BooleanField())


def message_audience(*, contacts: QuerySet[Contact]) -> MessageAudience:
    """Who a message would reach now, and why the others are skipped: three queries, whatever the size."""
    by_email = _skipped_counts(contacts, Message.Channel.EMAIL)
    in_app = _skipped_counts(contacts, Message.Channel.IN_APP)
    return MessageAudience(
        count=sum(by_email.values()),
        reachable_by_email=by_email.get("", 0),
        reachable_in_app=in_app.get("", 0),
        skipped_by_email=tuple((reason, n) for reason, n in by_email.items() if reason),
        skipped_in_app=tuple((reason, n) for reason, n in in_app.items() if reason),
        # The preview starts with someone it shows well: a named contact with an email first.
        sample=list(contacts.order_by(_is_blank("email"), _is_blank("name"), "pk")[:AUDIENCE_SAMPLE_SIZE]),
    )


def _delivery_filters(channel: str) -> dict[str, Q]:
    """The per-recipient list's filters, in the order shown; their counts are the message's stats."""
    state = MessageDelivery.State
    filters = {
        "all": Q(),
        "sent": Q(state=state.SENT),
        "pending": Q(state__in=[state.PENDING, state.SENDING]),
        "not_sent": Q(state__in=[state.SKIPPED, state.FAILED]),
    }
    if channel == Message.Channel.EMAIL:
        filters |= {
            # Sent without the pixel and click redirects (no marketing consent or legitimate interest):
            # their opens and clicks are unknown, not "not opened".
            "not_tracked": Q(state=state.SENT, tracked=False),
            "opened": Q(opened_at__isnull=False),
            "clicked": Q(clicked_at__isnull=False),
            "unsubscribed": Q(unsubscribed_at__isnull=False),
        }
    else:
        filters["seen"] = Q(seen_at__isnull=False)
    filters["replied"] = Q(conversation__isnull=False)
    return filters


def message_delivery_stats(*, message: Message) -> dict[str, int]:
    """How many recipients are in each state of the per-recipient list, in one query."""
    filters = _delivery_filters(message.channel)
    return message.deliveries.aggregate(**{name: Count("pk", filter=q) for name, q in filters.items()})


def message_deliveries_page(*, message: Message, show: str, offset: int, limit: int) -> list[MessageDelivery]:
    """One page of a message's recipients (one query, contacts joined), oldest delivery first."""
    condition = _delivery_filters(message.channel).get(show, Q())
    return list(
        message.deliveries.filter(condition)
        .select_related("contact")
        .only(
            "id", "message_id", "state", "skip_reason", "tracked", "sent_at", "seen_at", "opened_at", "clicked_at", "unsubscribed_at",
            "conversation_id", "contact__id", "contact__name", "contact__email", "contact__role",
            "contact__external_id",
        )
        .order_by("id")[offset : offset + limit]
    )  # fmt: skip


def message_delivery_filter_names(*, message: Message) -> list[str]:
    """The recipient filters a sent message's page offers for its channel."""
    return list(_delivery_filters(message.channel))


def marketing_allowed_q() -> Q:
    """The condition on Contact of the marketing purpose being on (see contacts_marketing_allowed)."""
    legitimate = Website.objects.filter(marketing_basis=Website.MarketingBasis.LEGITIMATE_INTEREST).values("pk")
    on_legitimate_site = Q(Exists(WebSession.objects.filter(contact_id=OuterRef("pk"), website_id__in=legitimate))) | Q(
        Exists(Conversation.objects.filter(contact_id=OuterRef("pk"), website_id__in=legitimate))
    )
    # An email address with a refusal on record anywhere (another contact that refused marketing,
    # unsubscribed or is restricted) is not tracked: consent stated by an unverified browser for an
    # address does not outweigh that address's refusal (the protective rule, docs/privacy.md).
    refused_elsewhere = Exists(
        Contact.objects.annotate(address=Lower("email"))
        .filter(address=Lower(OuterRef("email")))
        .exclude(email="")
        .filter(Q(marketing_consent=False) | Q(unsubscribed_from_emails=True) | Q(processing_restricted=True))
    )
    return (
        Q(processing_restricted=False)
        & (
            Q(marketing_consent=True)
            # Under legitimate interest an unsubscribe is the objection (Art. 21): no more tracking either.
            | (Q(marketing_consent__isnull=True) & Q(unsubscribed_from_emails=False) & on_legitimate_site)
        )
        & ~(Q(email__gt="") & Q(refused_elsewhere))
    )


def contacts_marketing_allowed(*, contact_ids: list[int]) -> set[int]:
    """The contacts whose marketing purpose is on (email open/click tracking, in-app campaigns).

    Never a restricted contact or one who refused; a contact who agreed; one who made no choice only
    when a website they were seen on or wrote from has legitimate interest as its marketing basis
    (chosen by its owner). One query whatever the number of contacts."""
    if not contact_ids:
        return set()
    allowed = Contact.objects.filter(pk__in=contact_ids).filter(marketing_allowed_q())
    return set(allowed.values_list("pk", flat=True))


# --- customer satisfaction (CSAT): ratings for the messenger, the admin, the API and reports ------


def conversation_rating_current(*, conversation: Conversation) -> ConversationRating | None:
    """The request of the conversation's latest closure while it is closed (what the messenger shows under
    the thread), or None: open again, or its last closure asked for nothing. One query."""
    if conversation.state != Conversation.State.CLOSED:
        return None
    latest_closure = (
        ConversationPart.objects.filter(conversation_id=conversation.pk, part_type=ConversationPart.Type.CLOSE)
        .order_by("-created_at", "-id")
        .values("id")[:1]
    )
    return ConversationRating.objects.filter(closure_id=Subquery(latest_closure)).first()


def conversation_rating_for_contact(
    *, contact_id: int, public_id: Any, rating_id: Any, website_id: int, every_website: bool = False
) -> ConversationRating | None:
    """A rating request only when it belongs to this contact's conversation `public_id` that this website's
    messenger shows: another contact's, or another conversation's, looks exactly like one that does not
    exist. One query."""
    pk = int_or_none(rating_id) if isinstance(rating_id, str) else None
    # No query for what cannot be a public id (PostgreSQL raises on a NUL in a compared string).
    if pk is None or not isinstance(public_id, str) or len(public_id) > 32 or "\x00" in public_id:
        return None
    return (
        ConversationRating.objects.filter(
            _through_website(website_id=website_id, every_website=every_website, prefix="conversation__"),
            pk=pk,
            conversation__contact_id=contact_id,
            conversation__public_id=public_id,
        )
        .select_related("conversation")
        .first()
    )


def conversation_ratings_for_page(*, conversation: Conversation) -> list[ConversationRating]:
    """Every rating request of a conversation, oldest first, for the conversation page. One query."""
    return list(
        ConversationRating.objects.filter(conversation_id=conversation.pk)
        .select_related("teammate__parley_profile")
        .order_by("id")
    )


def _latest_rated() -> QuerySet[ConversationRating]:
    # Ids grow with the closures: the latest answered request is the first read backwards on `rating_conversation`.
    return ConversationRating.objects.filter(conversation_id=OuterRef("pk"), rating__isnull=False).order_by("-id")


def conversation_latest_rating() -> Subquery:
    """The score of a conversation's latest answered closure, as an annotation (the inbox's column): no query of
    its own, and no sort (index `rating_conversation`), so the inbox keeps reading its index in its order."""
    return Subquery(_latest_rated().values("rating")[:1])


def conversation_ratings_given_prefetch() -> Prefetch:
    """The answered ratings of a page of conversations in one query, latest closure first, as
    `conversation.ratings_given` (the API's `conversation_rating`)."""
    return Prefetch(
        "ratings",
        queryset=ConversationRating.objects.filter(rating__isnull=False).select_related("contact").order_by("-id"),
        to_attr="ratings_given",
    )


def ratings_given(
    *,
    since: dt.datetime,
    until: dt.datetime,
    website_id: int | None = None,
    team_id: int | None = None,
    teammate_id: int | None = None,
) -> QuerySet[ConversationRating]:
    """The ratings first given in [since, until) (index `rating_rated_at`), optionally for one website, team or
    teammate (as they were at the closure). The reports' source: a rating's day is the day it was given; it can
    change for RATING_CHANGE_WINDOW (24 h) after, so a daily rollup that recomputes yesterday and today sees
    every change."""
    rows = ConversationRating.objects.filter(rated_at__gte=since, rated_at__lt=until)
    if website_id is not None:
        rows = rows.filter(website_id=website_id)
    if team_id is not None:
        rows = rows.filter(team_id=team_id)
    if teammate_id is not None:
        rows = rows.filter(teammate_id=teammate_id)
    return rows


@dataclass(frozen=True)
class RatingsSummary:
    count: int
    average: float | None  # None without ratings
    distribution: dict[int, int]  # score (1-5) -> how many
    satisfied: int  # ratings of 4 or 5: CSAT % = satisfied / count

    @property
    def csat_percent(self) -> float | None:
        return round(100 * self.satisfied / self.count, 1) if self.count else None


SATISFIED_FROM = 4
_SCORES = range(1, 6)


def _summary_aggregates() -> dict[str, Any]:
    return {f"n{score}": Count("pk", filter=Q(rating=score)) for score in _SCORES}


def _summary(row: dict[str, Any]) -> RatingsSummary:
    distribution = {score: row[f"n{score}"] or 0 for score in _SCORES}
    count = sum(distribution.values())
    total = sum(score * n for score, n in distribution.items())
    return RatingsSummary(
        count=count,
        average=round(total / count, 2) if count else None,
        distribution=distribution,
        satisfied=sum(n for score, n in distribution.items() if score >= SATISFIED_FROM),
    )


def ratings_summary(ratings: QuerySet[ConversationRating]) -> RatingsSummary:
    """Count, average, distribution and satisfied share of `ratings` (e.g. ratings_given(...)). One query."""
    return _summary(ratings.aggregate(**_summary_aggregates()))


def ratings_by_day(ratings: QuerySet[ConversationRating]) -> list[tuple[dt.date, RatingsSummary]]:
    """`ratings` summed per UTC day they were given, oldest first: a daily rollup's rows. One query."""
    rows = (
        ratings.annotate(day=TruncDate("rated_at", tzinfo=dt.UTC))
        .order_by()
        .values("day")
        .annotate(**_summary_aggregates())
        .order_by("day")
    )
    return [(row["day"], _summary(row)) for row in rows]


# --- attachments ------------------------------------------------------------------------------------


def _attachment_public_id_ok(public_id: Any) -> bool:
    # No query for what cannot be a public id (PostgreSQL raises on a NUL in a compared string).
    return isinstance(public_id, str) and 0 < len(public_id) <= 32 and public_id.isascii() and "\x00" not in public_id


def attachment_for_contact(*, public_id: Any) -> Attachment | None:
    """A file of a contact's message (never a note's, which looks like a file that does not exist), with
    its conversation: whose it is decides whether a messenger link to it holds."""
    if not _attachment_public_id_ok(public_id):
        return None
    return (
        Attachment.objects.filter(public_id=public_id, part__part_type=ConversationPart.Type.COMMENT)
        .select_related("part__conversation__contact")
        .first()
    )


def attachment_for_teammate(*, public_id: Any) -> Attachment | None:
    """Any conversation's file, for a teammate who may read conversations (the caller checks that)."""
    if not _attachment_public_id_ok(public_id):
        return None
    return Attachment.objects.filter(public_id=public_id).first()


def team_answerers(team: Team) -> QuerySet:
    """The team's active members who may answer conversations: the round robin picks among them."""
    return team.members.filter(is_active=True, is_staff=True).filter(teammates_who_answer())


def team_has_answerer(team: Team) -> bool:
    """Whether the team has any answerer (one query): without one, whatever is routed to it is assigned to nobody."""
    return team_answerers(team).exists()


def teammates_who_answer() -> Q:
    """Teammates who may answer conversations (agents and superusers: `conversations.change_conversation`), as a
    filter on users. A viewer, or a staff user in no group, reads conversations only: nothing is assigned to them
    (threads.conversation_assign), and neither the pickers nor the round robin offer them."""
    permission = Permission.objects.filter(content_type__app_label="conversations", codename="change_conversation")
    holders = get_user_model().objects.filter(
        Q(user_permissions__in=permission) | Q(groups__permissions__in=permission)
    )
    return Q(is_superuser=True) | Q(pk__in=holders.values("pk"))


def teammate_answers(teammate: Any) -> bool:
    """Whether conversations may be assigned to this teammate (`teammates_who_answer`, for one)."""
    return bool(teammate.has_perm("conversations.change_conversation"))


def not_answering(teammate: Any) -> str:
    """Why a conversation cannot be assigned to this teammate, in words for the field that picked them."""
    return f"{teammate_name(teammate)} can only read conversations: choose a teammate who can answer them."


def conversation_attribute_definitions(*, names: Sequence[str]) -> QuerySet[DataAttribute]:
    """The definitions of the conversation attributes named (archived ones too: their values are still stored)."""
    return DataAttribute.objects.filter(model=DataAttribute.Model.CONVERSATION, name__in=list(names))
