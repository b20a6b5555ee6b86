"""Conversations with their parts, outbound messages with per-recipient deliveries, saved replies.

Every row that holds a person's data reaches `contacts.Contact` through CASCADE foreign keys
(directly or through its conversation or delivery), so erase and retention walk the keys.
"""

import re
import secrets
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, OrderBy
from django.utils import timezone

from contacts.models import Contact, Tag

PUBLIC_ID_BYTES = 16  # 128 random bits: conversation ids in the widget are not guessable
PUBLIC_ID_FORMAT = re.compile(r"[A-Za-z0-9_-]{20,32}")  # what a public id looks like (token_urlsafe: 22 characters)
PREVIEW_LENGTH = 200


def new_public_id() -> str:
    return secrets.token_urlsafe(PUBLIC_ID_BYTES)


class Team(models.Model):
    """A group of teammates a conversation can be assigned to (billing, support, sales…)."""

    name = models.CharField(max_length=100, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="parley_teams")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


# A teammate who has not been active in the admin this long is emailed a contact's new message in
# a conversation assigned to them (each teammate can change it or switch it off).
DEFAULT_EMAIL_WHEN_AWAY_MINUTES = 10


class TeammateProfile(models.Model):
    """What contacts see of a teammate, and how the teammate wants to be told of new messages."""

    teammate = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="parley_profile"
    )
    display_name = models.CharField(
        max_length=80,
        blank=True,
        help_text="Your name for contacts and teammates alike; empty: your full name, else your username.",
    )
    avatar_url = models.URLField(
        "avatar URL", max_length=500, blank=True, help_text="An https:// image shown beside your replies."
    )
    email_when_away_minutes = models.PositiveSmallIntegerField(
        "email me after (minutes away)",
        null=True,
        blank=True,
        default=DEFAULT_EMAIL_WHEN_AWAY_MINUTES,
        help_text="When a contact writes in a conversation assigned to you, or a teammate mentions you in a note, "
        "and you have not been active in the admin for this many minutes, it is emailed to you (a mention at once "
        "while you are away). Empty: never.",
    )
    last_active_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Routing (conversations/services/routing.py): away teammates and those at their cap get no new assignments.
    away_mode_enabled = models.BooleanField(
        "away", default=False, help_text="Away: no new conversations are assigned to you."
    )
    away_reason = models.CharField(
        max_length=100, blank=True, help_text="Optional, shown to teammates (e.g. On holiday)."
    )
    away_mode_reassign = models.BooleanField(
        "reassign replies while away", default=False,
        help_text="While away, a contact's reply in a conversation assigned to you goes back through the assignment rules.",
    )  # fmt: skip
    max_open_conversations = models.PositiveSmallIntegerField(
        "cap of open conversations", null=True, blank=True,
        help_text="Round robin skips you while you have this many open conversations. Empty: no cap.",
    )  # fmt: skip

    def __str__(self) -> str:
        return f"Profile of {self.teammate}"


class NullsLastIndex(models.Index):
    """An index with `DESC NULLS LAST` parts on every database: PostgreSQL needs the words to serve
    ORDER BY … DESC NULLS LAST (its DESC puts NULLs first); SQLite refuses them in an index, and its
    plain DESC already sorts NULLs last (its planner serves the same ORDER BY from it)."""

    def create_sql(self, model: Any, schema_editor: Any, using: str = "", **kwargs: Any) -> Any:
        if schema_editor.connection.vendor != "sqlite":
            return super().create_sql(model, schema_editor, using=using, **kwargs)
        plain = [
            OrderBy(part.expression, descending=True) if isinstance(part, OrderBy) and part.descending and part.nulls_last else part
            for part in self.expressions
        ]  # fmt: skip
        return models.Index(*plain, name=self.name).create_sql(model, schema_editor, using=using, **kwargs)


# The inbox's two orders. Newest activity first is the default (as in Intercom and Chatwoot: a new
# conversation or a new message comes to the top); a conversation without a message yet goes last.
ACTIVITY_ORDER = (F("last_part_at").desc(nulls_last=True), F("id").desc())
INBOX_NEWEST_FIRST = list(ACTIVITY_ORDER)
INBOX_WAITING_LONGEST = [F("waiting_since").asc(nulls_last=True), "id"]


class Conversation(models.Model):
    class State(models.TextChoices):
        OPEN = "open", "Open"
        SNOOZED = "snoozed", "Snoozed"
        CLOSED = "closed", "Closed"

    class Priority(models.TextChoices):
        NOT_PRIORITY = "not_priority", "Normal"
        PRIORITY = "priority", "Priority"

    class Source(models.TextChoices):
        CHAT = "chat", "Messenger"
        EMAIL = "email", "Email"
        ADMIN = "admin", "Started by a teammate"

    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="conversations")
    website = models.ForeignKey(
        "tracking.Website", null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.CHAT)
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations")
    priority = models.CharField(max_length=12, choices=Priority.choices, default=Priority.NOT_PRIORITY)
    # Set when the contact wrote and no teammate has answered yet; the inbox's "Waiting longest" order.
    waiting_since = models.DateTimeField(null=True, blank=True)
    # Read state per side: the counters answer "unread" without counting parts.
    contact_last_read_at = models.DateTimeField(null=True, blank=True)
    teammate_last_read_at = models.DateTimeField(null=True, blank=True)
    contact_unread_count = models.PositiveIntegerField(default=0)
    teammate_unread_count = models.PositiveIntegerField(default=0)
    tags = models.ManyToManyField(Tag, blank=True, related_name="conversations")
    # Set by teammates (admin or API); Intercom's conversation title.
    # db_default: code of the release before can still insert rows during a rolling deploy.
    title = models.CharField(max_length=255, blank=True, default="", db_default="")
    # Values typed by the data attributes with model=conversation (contacts.custom_attributes checks them).
    custom_attributes = models.JSONField(default=dict, blank=True, db_default=models.Value({}, models.JSONField()))
    # Denormalised last message (comments only, never a note) for the inbox and the widget list;
    # the inbox's default order ("Newest activity") is on last_part_at.
    last_part_at = models.DateTimeField(null=True, blank=True)
    preview = models.CharField(max_length=PREVIEW_LENGTH, blank=True)
    preview_author_type = models.CharField(max_length=8, blank=True)
    preview_author_name = models.CharField(max_length=150, blank=True)
    # Once per waiting episode: the assignee was emailed about the contact's unanswered message.
    assignee_emailed_at = models.DateTimeField(null=True, blank=True)
    # Routing and SLAs (conversations/services/routing.py, sla.py): the page the conversation started on,
    # the first teammate reply, the policy whose targets apply and when the next ones fall due.
    started_on_url = models.CharField(max_length=2000, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    sla_policy = models.ForeignKey(
        "conversations.SlaPolicy", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sla_response_due_at = models.DateTimeField(null=True, blank=True)
    sla_close_due_at = models.DateTimeField(null=True, blank=True)
    sla_due_at = models.DateTimeField(null=True, blank=True)  # the earlier of the two: the inbox sorts on it
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = INBOX_WAITING_LONGEST
        indexes = [
            # The inbox's SLA order and its "breaching soon" / "breached" views; the beat task's breach scan.
            models.Index(fields=["state", "sla_due_at", "id"], name="conv_state_sla_due"),
            # Inbox views in their default order, newest activity first (INBOX_NEWEST_FIRST): state
            # (+ assignee or team), then the last message's time, id as tie-breaker; "Everything" has no state.
            NullsLastIndex(F("state"), *ACTIVITY_ORDER, name="conv_state_activity"),
            NullsLastIndex(F("assignee"), F("state"), *ACTIVITY_ORDER, name="conv_assignee_activity"),
            NullsLastIndex(F("team"), F("state"), *ACTIVITY_ORDER, name="conv_team_activity"),
            NullsLastIndex(*ACTIVITY_ORDER, name="conv_activity"),
            # The same views ordered "Waiting longest" (INBOX_WAITING_LONGEST).
            models.Index(fields=["state", "waiting_since", "id"], name="conv_state_waiting"),
            models.Index(fields=["assignee", "state", "waiting_since", "id"], name="conv_assignee_waiting"),
            models.Index(fields=["team", "state", "waiting_since", "id"], name="conv_team_waiting"),
            # The beat task that reopens due snoozes.
            models.Index(fields=["state", "snoozed_until"], name="conv_snoozed_until"),
            # The inbox's unread count: only the few unread conversations are in this index.
            models.Index(
                fields=["state"], condition=models.Q(teammate_unread_count__gt=0), name="conv_teammate_unread"
            ),
            # Widget list and contact panel: a contact's conversations, newest first.
            models.Index(fields=["contact", "-updated_at"], name="conv_contact_updated"),
            # The messenger's unread count (ping, poll): only a contact's few unread conversations, whatever its history.
            models.Index(
                fields=["contact"], condition=models.Q(contact_unread_count__gt=0), name="conv_contact_unread"
            ),
            # The API's search `sort` (api.views.conversations.CONVERSATION_SORT_FIELDS), id breaking ties.
            models.Index(fields=["created_at", "id"], name="conv_created_id"),
            models.Index(fields=["updated_at", "id"], name="conv_updated_id"),
            models.Index(fields=["waiting_since", "id"], name="conv_waiting_id"),
            # Reports (reports/services.py): first responses sent on a day; the dashboard's counts of open,
            # waiting and snoozed conversations of one website.
            models.Index(fields=["first_response_at"], name="conv_first_response"),
            models.Index(fields=["website", "state", "waiting_since", "id"], name="conv_website_waiting"),
        ]

    def __str__(self) -> str:
        return f"Conversation {self.pk} with {self.contact}"


class ConversationPart(models.Model):
    class Type(models.TextChoices):
        COMMENT = "comment", "Message"
        NOTE = "note", "Internal note"
        ASSIGNMENT = "assignment", "Assignment"
        OPEN = "open", "Reopened"
        CLOSE = "close", "Closed"
        SNOOZE = "snooze", "Snoozed"
        # A tag put on or taken off (its name then in `body`): the team's labels, never shown to the contact.
        TAG = "tag", "Tagged"
        UNTAG = "untag", "Tag removed"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="parts")
    part_type = models.CharField(max_length=12, choices=Type.choices, default=Type.COMMENT)
    author_contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.CASCADE, related_name="conversation_parts"
    )
    author_teammate = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Plain text, always escaped when shown; never interpreted as HTML.
    body = models.TextField(blank=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assigned_team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    snoozed_until = models.DateTimeField(null=True, blank=True)
    # A teammate's reply the contact had not read in the messenger, sent to them by email at this time.
    emailed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # A contact's message as its messenger named it (a UUID the browser made for it): the messenger sends it again
    # when the answer was lost, and the server answers with this part instead of storing it twice.
    idempotency_key = models.UUIDField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # Two requests carrying one message at once: the second finds the first's part (threads._written_meanwhile).
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="part_idempotency_key",
            ),
        ]
        indexes = [
            models.Index(fields=["conversation", "created_at", "id"], name="part_conversation_time"),
            # Reports: the conversations closed on a day (close parts only: a small index).
            models.Index(fields=["created_at"], condition=models.Q(part_type="close"), name="part_close_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_part_type_display()} in conversation {self.conversation_id}"

    @property
    def author_type(self) -> str:
        return "contact" if self.author_contact_id else "teammate"

    @property
    def is_note(self) -> bool:
        return self.part_type == self.Type.NOTE


# The timeline's tag events; with internal notes, the parts that are the team's alone (left out of a contact's export).
TAG_EVENTS = (ConversationPart.Type.TAG, ConversationPart.Type.UNTAG)
TEAM_ONLY_PARTS = (ConversationPart.Type.NOTE, *TAG_EVENTS)


class SavedReply(models.Model):
    """A canned response; {{contact.name}}, {{contact.first_name}} and {{teammate.name}} are filled in.

    With actions it is a macro: one click on the conversation page sends the reply (when it has a body),
    then tags, sets the priority, assigns and snoozes or closes (conversations/services/macros.py).
    """

    class Assign(models.TextChoices):
        KEEP = "", "Leave the assignee as it is"
        RUNNER = "runner", "The teammate who runs the macro"
        TEAMMATE = "teammate", "The teammate chosen below"
        NOBODY = "nobody", "Nobody (unassign)"

    name = models.CharField(max_length=100, unique=True)
    body = models.TextField(blank=True)  # empty only for a macro with actions (the services check it)
    # --- the macro's actions (none: a plain saved reply). db_default: a rolling deploy's old code inserts rows.
    tags = models.ManyToManyField(Tag, blank=True, related_name="saved_replies", help_text="Tags it adds.")
    assign = models.CharField("assign to", max_length=8, choices=Assign.choices, blank=True, default="", db_default="")
    # No index on these two: the table holds a few dozen rows (and an index would lock it while built).
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name="teammate", db_index=False,
    )  # fmt: skip
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False,
        help_text="The team it assigns to.",
    )  # fmt: skip
    priority = models.CharField(
        "set priority", max_length=12, choices=Conversation.Priority.choices, blank=True, default="", db_default=""
    )
    snooze_minutes = models.PositiveIntegerField("snooze for (minutes)", null=True, blank=True)
    close = models.BooleanField("close the conversation", default=False, db_default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "saved reply or macro"
        verbose_name_plural = "saved replies and macros"

    def __str__(self) -> str:
        return self.name


class Message(models.Model):
    """An outbound message written once by a teammate; one MessageDelivery per recipient."""

    class Channel(models.TextChoices):
        IN_APP = "in_app", "In-app (shown by the widget on the next page view)"
        EMAIL = "email", "Email"

    class State(models.TextChoices):
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"

    channel = models.CharField(max_length=8, choices=Channel.choices)
    subject = models.CharField(max_length=255, blank=True)
    body = models.TextField(help_text="Plain text. Links (http/https) are tracked in emails.")
    # Links found in the body when it was written: click redirects may only go to these.
    links = models.JSONField(default=list, blank=True, editable=False)
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    audience = models.CharField(max_length=255, blank=True, help_text="Who it was sent to, in words.")
    state = models.CharField(max_length=8, choices=State.choices, default=State.SENDING)
    # The same key twice returns the first message instead of sending again.
    idempotency_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    recipients_count = models.PositiveIntegerField(default=0)
    # A teammate's test of a draft, shown to one contact they chose: never the real send, never in its counts.
    is_test = models.BooleanField("test", default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        text = message_title(self.subject) or message_title(self.body)
        return f"[Test] {text}" if self.is_test else text


# A message's name in titles, breadcrumbs and notices: its subject or the start of its body, with each
# placeholder read as its fallback (or left out) and cut at a word boundary, never mid-word.
MESSAGE_TITLE_LENGTH = 60
_TITLE_PLACEHOLDER_RE = re.compile(r'\{\{(?:[^}"]*?\|\s*fallback\s*:\s*"(?P<fallback>[^"]*)")?[^}]*\}\}')
_SPACE_BEFORE_PUNCTUATION_RE = re.compile(r"\s+([,.;:!?])")


def message_title(text: str, *, limit: int = MESSAGE_TITLE_LENGTH) -> str:
    """A one-line, placeholder-free excerpt of `text` cut at a word boundary with an ellipsis."""
    plain = _TITLE_PLACEHOLDER_RE.sub(lambda m: m.group("fallback") or "", text)
    plain = _SPACE_BEFORE_PUNCTUATION_RE.sub(r"\1", " ".join(plain.split()))
    plain = re.sub(r"^[,.;:!?\s]+", "", plain)
    if len(plain) <= limit:
        return plain
    cut = plain[: limit + 1].rsplit(" ", 1)[0] if " " in plain[: limit + 1] else plain[:limit]
    return cut.rstrip(" ,.;:!?-") + "…"


class MessageDelivery(models.Model):
    """One message to one contact: claimed atomically before it is sent, so it is sent at most once."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="deliveries")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="message_deliveries")
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    skip_reason = models.CharField(max_length=64, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    seen_at = models.DateTimeField(null=True, blank=True, help_text="In-app: shown by the widget.")
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    # Email: whether it went out with the open pixel and click redirects (the marketing purpose allowed
    # it: consent or the website's legitimate interest); null before this was recorded, and in-app.
    tracked = models.BooleanField(null=True, blank=True)
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The conversation the contact's reply started.",
    )  # fmt: skip

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "message deliveries"
        constraints = [models.UniqueConstraint(fields=["message", "contact"], name="delivery_unique_recipient")]
        indexes = [
            models.Index(fields=["message", "state", "id"], name="delivery_message_state"),
            models.Index(fields=["contact", "state"], name="delivery_contact_state"),
        ]

    def __str__(self) -> str:
        return f"{self.message} to {self.contact_id}"


class DeliveryEvent(models.Model):
    """Open, click or unsubscribe recorded from an email's pixel and links."""

    class Kind(models.TextChoices):
        OPEN = "open", "Opened"
        CLICK = "click", "Clicked"
        UNSUBSCRIBE = "unsubscribe", "Unsubscribed"

    delivery = models.ForeignKey(MessageDelivery, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    url = models.URLField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["delivery", "kind"], name="delivery_event_kind")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.delivery_id})"


from conversations.models_attachments import Attachment  # noqa: E402  (it references the models above)
from conversations.models_ratings import ConversationRating  # noqa: E402
from conversations.models_routing import (  # noqa: E402  (they reference the models above)
    AssignmentRule,
    OfficeHoliday,
    OfficeInterval,
    OfficeSchedule,
    SlaBreach,
    SlaPolicy,
    TeamRoundRobin,
)
from conversations.models_teamwork import ConversationMention  # noqa: E402  (it references the models above)

__all__ = [
    "AssignmentRule",
    "Attachment",
    "Conversation",
    "ConversationMention",
    "ConversationPart",
    "ConversationRating",
    "DeliveryEvent",
    "Message",
    "MessageDelivery",
    "OfficeHoliday",
    "OfficeInterval",
    "OfficeSchedule",
    "SavedReply",
    "SlaBreach",
    "SlaPolicy",
    "Team",
    "TeamRoundRobin",
    "TeammateProfile",
]
