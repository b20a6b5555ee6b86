"""Conversation writes: start, reply, note, assign, snooze, close, reopen, tag, mark read."""

import contextlib
import datetime as dt
import functools
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from common.parsing import text_problem
from common.teammates import teammate_name
from contacts import services as contact_services
from contacts.deletion import rows_delete_with_history
from contacts.models import Contact, DataAttribute, Tag
from conversations import selectors
from conversations.models import PREVIEW_LENGTH, Conversation, ConversationPart, Team
from conversations.services import attachments, mentions, presence, ratings, routing, sla, widget_quiet
from conversations.services.teammates import assignee_email_schedule
from conversations.signals import conversation_changed

Teammate = AbstractBaseUser
MAX_BODY_LENGTH = 10_000
TITLE_MAX_LENGTH = 255
MAX_URL_LENGTH = 2000
MESSAGING_FIELDS = ("last_replied_at", "last_contacted_at", "last_email_opened_at", "last_email_clicked_at")


def teammate_display_name(teammate: Any) -> str:
    """The one name of a teammate (common.teammates: display name, full name, else username); "Support" for none."""
    if teammate is None:
        return "Support"
    return teammate_name(teammate)


def contact_display_name(contact: Contact) -> str:
    """What teammates call a contact: name, else email, else role and id."""
    return contact.name or contact.email or f"{contact.get_role_display()} {contact.pk}"


def clean_url(url: Any) -> str:
    """A page URL as given (http or https only), bounded; anything else is dropped, never refused."""
    if not isinstance(url, str):
        return ""
    url = url.replace("\x00", "").strip()
    if not url.lower().startswith(("http://", "https://")):
        return ""
    return url[:MAX_URL_LENGTH]


def clean_body(body: Any, *, field: str = "body", allow_empty: bool = False) -> str:
    """Plain text, stripped, bounded; raises a ValidationError naming the field."""
    if body is None and allow_empty:
        return ""
    if not isinstance(body, str):
        raise ValidationError({field: "Must be a string."})
    body = body.replace("\x00", "").strip()
    if not body and not allow_empty:
        raise ValidationError({field: "Write a message first."})
    if len(body) > MAX_BODY_LENGTH:
        raise ValidationError({field: f"Must be at most {MAX_BODY_LENGTH} characters."})
    return body


def contacts_touch_messaging(*, contact_ids: Iterable[int], field: str, at: dt.datetime) -> int:
    """Move a messaging timestamp of contacts forward (never back), set-based.

    Standard fields 10-13 (last contacted, last heard from, last opened/clicked email).
    """
    if field not in MESSAGING_FIELDS:
        raise ValueError(f"{field} is not a messaging timestamp")
    ids = list(contact_ids)
    if not ids:
        return 0
    return (
        Contact.objects.filter(pk__in=ids)
        .filter(Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lt": at}))
        .update(**{field: at, "updated_at": at})
    )


def _locked(conversation: Conversation) -> Conversation:
    """Re-read the row under a lock so concurrent replies do not lose counter updates."""
    return Conversation.objects.select_for_update().select_related("contact").get(pk=conversation.pk)


class ContactGone(ValidationError):
    """The contact writing was erased, or merged into another, while its message was on its way (the widget answers
    it as a token naming a contact gone: its messenger starts over as a new visitor)."""

    def __init__(self) -> None:
        super().__init__({"contact": "This contact no longer exists: it was erased or merged meanwhile."})


def _contact_lock(contact_id: int) -> None:
    """Hold the contact's row until the transaction ends (FOR NO KEY UPDATE: the lock its update takes anyway), first,
    as erasure and merge take it before its conversations; ContactGone when it went meanwhile (its writes would fail
    on their foreign keys at the commit, a 500)."""
    if not Contact.objects.select_for_update(no_key=True).filter(pk=contact_id).values_list("pk", flat=True):
        raise ContactGone


def _add_part(*, conversation: Conversation, part_type: str, at: dt.datetime, **fields: Any) -> ConversationPart:
    return ConversationPart.objects.create(conversation=conversation, part_type=part_type, created_at=at, **fields)


def _set_preview(conversation: Conversation, *, body: str, author_type: str, author_name: str, at: dt.datetime) -> None:
    conversation.preview = " ".join(body.split())[:PREVIEW_LENGTH]
    conversation.preview_author_type = author_type
    conversation.preview_author_name = author_name[:150]
    conversation.last_part_at = at


_PREVIEW_FIELDS = ["preview", "preview_author_type", "preview_author_name", "last_part_at"]


@dataclass(frozen=True)
class _Message:
    """A message ready to write: its body cleaned, its files checked and already in storage (staged)."""

    body: str
    files: attachments.StagedFiles = attachments.NO_FILES

    @property
    def preview(self) -> str:
        return self.body or self.files.preview


# What a message's files may be given as: files to check, or files a caller already checked and staged (inbound
# email: it keeps what fits an email already sent, and removes them again if its own transaction fails).
MessageFiles = Sequence[File] | attachments.StagedFiles


@contextlib.contextmanager
def _message_prepared(
    *,
    body: Any,
    files: MessageFiles,
    field: attachments.FilesField,
    conversation: Conversation | None = None,
    website: Any = None,
) -> Iterator[_Message]:
    """The body cleaned, the files checked against the website's limits (type read from the bytes, images
    decoded, thumbnails made) and stored, all before the message's transaction opens (the block): on SQLite that
    transaction holds the database's one write lock. A block that fails removes the files again."""
    if isinstance(files, attachments.StagedFiles):
        yield _Message(body=clean_body(body, allow_empty=bool(files)), files=files)
        return
    checked = _checked_files(files, conversation=conversation, website=website, field=field)
    body = clean_body(body, allow_empty=bool(checked))
    with attachments.attachments_staged(checked) as staged:
        yield _Message(body=body, files=staged)


def _message_part(conversation: Conversation, *, part_type: str, message: _Message, at: dt.datetime,
                  **fields: Any) -> ConversationPart:  # fmt: skip
    """A message's part and its files' rows: the one way a comment (contact or teammate) or a note is written."""
    part = _add_part(conversation=conversation, part_type=part_type, at=at, body=message.body, **fields)
    attachments.attachments_record(part=part, files=message.files)
    return part


def _contact_writes(
    conversation: Conversation, *, message: _Message, at: dt.datetime, idempotency_key: uuid.UUID | None
) -> ConversationPart:
    """The shared part of a contact starting or replying: part, files, reopen, waiting, read state."""
    contact = conversation.contact
    changed = [*_PREVIEW_FIELDS, "teammate_unread_count", "contact_last_read_at", "contact_unread_count"]
    if conversation.state != Conversation.State.OPEN:
        conversation.state = Conversation.State.OPEN
        conversation.snoozed_until = None
        changed += ["state", "snoozed_until"]
        _add_part(conversation=conversation, part_type=ConversationPart.Type.OPEN, at=at, author_contact=contact)
        ratings.conversation_ratings_withdraw(conversation=conversation, at=at)
    if conversation.waiting_since is None:
        conversation.waiting_since = at
        changed.append("waiting_since")
    part = _message_part(conversation, part_type=ConversationPart.Type.COMMENT, message=message, at=at,
                         author_contact=contact, idempotency_key=idempotency_key)  # fmt: skip
    _set_preview(conversation, body=message.preview, author_type="contact",
                 author_name=contact_display_name(contact), at=at)  # fmt: skip
    conversation.teammate_unread_count = F("teammate_unread_count") + 1
    # Writing implies having read everything so far.
    conversation.contact_last_read_at = at
    conversation.contact_unread_count = 0
    conversation.save(update_fields=[*changed, "updated_at"])
    conversation.refresh_from_db(fields=["teammate_unread_count"])
    if contact.role == Contact.Role.VISITOR:
        contact_services.contact_convert(contact=contact, role=Contact.Role.LEAD)
    contacts_touch_messaging(contact_ids=[contact.pk], field="last_replied_at", at=at)
    assignee_email_schedule(conversation=conversation, part=part)
    # Sent: the team stops seeing "… is typing" at its next poll, not when the mark runs out.
    presence.contact_typing_tell(contact_id=contact.pk, public_id=conversation.public_id, typing=False)
    return part


def _teammate_comment(
    conversation: Conversation, *, teammate: Teammate, message: _Message, at: dt.datetime
) -> ConversationPart:
    # Replying to an unassigned conversation takes it, as in every help desk; the reply records it (its
    # assigned_to) so the admin's timeline shows it the way it shows an explicit assignment.
    takes_it = conversation.assignee_id is None
    part = _message_part(conversation, part_type=ConversationPart.Type.COMMENT, message=message, at=at,
                         author_teammate=teammate, assigned_to=teammate if takes_it else None)  # fmt: skip
    _set_preview(conversation, body=message.preview, author_type="teammate",
                 author_name=teammate_display_name(teammate), at=at)  # fmt: skip
    conversation.waiting_since = None
    conversation.contact_unread_count = F("contact_unread_count") + 1
    conversation.teammate_last_read_at = at
    conversation.teammate_unread_count = 0
    fields = [
        *_PREVIEW_FIELDS,
        "waiting_since",
        "contact_unread_count",
        "teammate_last_read_at",
        "teammate_unread_count",
    ]
    if takes_it:
        conversation.assignee = teammate
        fields.append("assignee")
    if conversation.first_response_at is None:
        conversation.first_response_at = at
        fields.append("first_response_at")
    conversation.save(update_fields=[*fields, "updated_at"])
    conversation.refresh_from_db(fields=["contact_unread_count"])
    sla.conversation_sla_refresh(conversation=conversation)
    contacts_touch_messaging(contact_ids=[conversation.contact_id], field="last_contacted_at", at=at)
    return part


def _checked_files(
    files: Sequence[File],
    *,
    field: attachments.FilesField,
    conversation: Conversation | None = None,
    website: Any = None,
) -> list[attachments.CheckedFile]:
    """A message's files against its website's limits (the conversation's, read only when there are files):
    all pass, or a refusal naming `field`."""
    if not files:
        return []
    if conversation is not None:
        website = conversation.website
    return attachments.attachments_check(files=files, limits=attachments.attachment_limits(website), field=field)


# --- start --------------------------------------------------------------------------------------


def conversations_merge(source: Contact, into: Contact) -> None:
    """On contact merge, the conversations move to the user, whose widget must now show them."""
    widget_quiet.contacts_mark_busy(contact_ids=[into.pk])
    Conversation.objects.filter(contact=source).update(contact=into)


def conversation_start_by_contact(
    *,
    contact: Contact,
    body: str,
    website: Any = None,
    source: str = Conversation.Source.CHAT,
    page_url: Any = "",
    files: MessageFiles = (),
    files_field: attachments.FilesField = attachments.FILES,
    idempotency_key: uuid.UUID | None = None,
) -> Conversation:
    """A contact writes first: a new open conversation waiting for a teammate; a visitor becomes a lead.

    The assignment rules route it (`page_url`: the page it was started on) and its SLA clock starts. Files
    are checked against the website's limits and stored before the transaction opens (a refusal names
    `files_field`, and nothing is written). `idempotency_key`: the message's, as its messenger named it; a
    request carrying the same message at once gets the conversation the first one started (start_resent)."""
    try:
        with (
            _message_prepared(body=body, files=files, field=files_field, website=website) as message,
            transaction.atomic(),
        ):
            # The contact first, as a reply, an erasure and a merge take it: a reply sent at once with this message's
            # key waited on this part's key, and this start on the contact the reply held (PostgreSQL checks foreign
            # keys at the commit), until the deadlock detector failed one of them (a 503).
            _contact_lock(contact.pk)
            at = timezone.now()
            widget_quiet.contacts_mark_busy(contact_ids=[contact.pk])
            conversation = Conversation.objects.create(
                contact=contact, website=website, source=source, started_on_url=clean_url(page_url)
            )
            conversation.contact = contact
            _contact_writes(conversation, message=message, at=at, idempotency_key=idempotency_key)
            routing.conversation_route(conversation=conversation, message=message.body)
            sla.conversation_sla_refresh(conversation=conversation, opened_at=at)
            conversation_changed.send(sender=Conversation, topic="conversation.user.created", conversation=conversation)
            return conversation
    except IntegrityError as error:
        resent = functools.partial(start_resent, idempotency_key=idempotency_key, contact=contact, website=website)
        return _written_meanwhile(error, resent).conversation


@transaction.atomic
def conversation_start_by_teammate(
    *, contact: Contact, teammate: Teammate, body: str, source: str = Conversation.Source.ADMIN
) -> Conversation:
    """A teammate writes first to a contact; nobody is waiting until the contact answers. `source` EMAIL: the
    opening went out as an email, so the teammate's replies do too."""
    message = _Message(body=clean_body(body))
    at = timezone.now()
    widget_quiet.contacts_mark_busy(contact_ids=[contact.pk])
    conversation = Conversation.objects.create(contact=contact, source=source, assignee=teammate)
    _teammate_comment(conversation, teammate=teammate, message=message, at=at)
    sla.conversation_sla_refresh(conversation=conversation, opened_at=at)
    conversation_changed.send(sender=Conversation, topic="conversation.admin.single.created", conversation=conversation)
    return conversation


# --- replies and notes --------------------------------------------------------------------------


def conversation_reply_as_contact(
    *,
    conversation: Conversation,
    body: str,
    files: MessageFiles = (),
    files_field: attachments.FilesField = attachments.FILES,
    idempotency_key: uuid.UUID | None = None,
) -> ConversationPart:
    """The contact answers: reopens a closed or snoozed conversation and puts it back in the queue.
    `idempotency_key`: as for conversation_start_by_contact (the part the first request wrote)."""
    try:
        with (
            _message_prepared(body=body, files=files, field=files_field, conversation=conversation) as message,
            transaction.atomic(),
        ):
            # The contact before the conversation, as an erasure or a merge of it takes them (the other order deadlocked
            # with them, a 503), and as a start holds it before its part.
            _contact_lock(conversation.contact_id)
            conversation = _locked(conversation)
            reopened = conversation.state != Conversation.State.OPEN
            at = timezone.now()
            part = _contact_writes(conversation, message=message, at=at, idempotency_key=idempotency_key)
            routing.conversation_route_on_contact_message(
                conversation=conversation, message=message.body, reopened=reopened
            )
            sla.conversation_sla_refresh(conversation=conversation, opened_at=at if reopened else None)
            conversation_changed.send(sender=Conversation, topic="conversation.user.replied", conversation=conversation)
            return part
    except IntegrityError as error:
        resent = functools.partial(
            reply_resent, idempotency_key=idempotency_key, contact_id=conversation.contact_id,
            conversation_id=conversation.pk,
        )  # fmt: skip
        return _written_meanwhile(error, resent)


# --- a message sent again (its answer was lost) ------------------------------------------------------------------

# How long a first message's key gives its writer's token back to a request without one (start_resent_without_token).
# The messenger sends a message again within seconds or minutes; a day covers a laptop closed while it was sent.
FIRST_MESSAGE_RESEND_WINDOW = dt.timedelta(days=1)
IDEMPOTENCY_KEY_FIELD = "idempotency_key"
_KEY_USED = "This key names another message: make a new one for each message."


def start_resent(*, idempotency_key: uuid.UUID | None, contact: Contact, website: Any) -> ConversationPart | None:
    """The first message sent already with this key, opening a conversation on `website` (its messenger sends a
    message again when the answer was lost: a reset, a time-out), or None. Mostly `contact`'s; a new writer's, as
    start_resent_without_token finds it, when its first try went without a token (the boot ping was slow) and this one
    with the token the ping gave meanwhile. Refused (naming the key): a key of another message."""
    part = _part_with_key(idempotency_key)
    if part is not None and part.author_contact_id != contact.pk:
        return _new_writers_first(part, website)
    return _resent(part, contact_id=contact.pk, fits=lambda part: _opens_on(part, website))


def reply_resent(
    *, idempotency_key: uuid.UUID | None, contact_id: int, conversation_id: int | None
) -> ConversationPart | None:
    """The reply contact `contact_id` sent already with this key into conversation `conversation_id` (None: one not
    started yet), or None; as start_resent, a key of another contact's message or of a message elsewhere is refused."""
    return _resent(
        _part_with_key(idempotency_key),
        contact_id=contact_id,
        fits=lambda part: part.conversation_id == conversation_id,
    )


def start_resent_without_token(*, idempotency_key: uuid.UUID | None, website: Any) -> ConversationPart | None:
    """The first message a writer without a token sent with this key on `website` in the last day (its answer,
    with the new writer's token, was lost), or None. The key is as good as that token, and only there: a part of
    a user (a token for one comes from a verified sign-in only), of another website or of another day is refused."""
    part = _part_with_key(idempotency_key)
    return None if part is None else _new_writers_first(part, website)


def _new_writers_first(part: ConversationPart, website: Any) -> ConversationPart:
    author = part.author_contact
    if (
        author is None
        or author.role == Contact.Role.USER
        or part.created_at < timezone.now() - FIRST_MESSAGE_RESEND_WINDOW
        or not _opens_on(part, website)
    ):
        raise ValidationError({IDEMPOTENCY_KEY_FIELD: _KEY_USED})
    return part


def _resent(
    part: ConversationPart | None, *, contact_id: int, fits: Callable[[ConversationPart], bool]
) -> ConversationPart | None:
    if part is not None and (part.author_contact_id != contact_id or not fits(part)):
        raise ValidationError({IDEMPOTENCY_KEY_FIELD: _KEY_USED})
    return part


def _opens_on(part: ConversationPart, website: Any) -> bool:
    """Whether `part` is the first of a conversation of `website` (None: one of no website)."""
    return (
        part.conversation.website_id == getattr(website, "pk", None)
        and not part.conversation.parts.filter(pk__lt=part.pk).exists()
    )


def _part_with_key(idempotency_key: uuid.UUID | None) -> ConversationPart | None:
    if idempotency_key is None:
        return None
    return (
        ConversationPart.objects.select_related("conversation", "author_contact")
        .filter(idempotency_key=idempotency_key)
        .first()
    )


def _written_meanwhile(error: IntegrityError, resent: Callable[[], ConversationPart | None]) -> ConversationPart:
    """The part a request carrying the same message wrote while this one ran (the key's unique index refused this
    one's, its transaction and staged files gone), as `resent` finds it; any other integrity error raised again."""
    part = resent()
    if part is None:
        raise error
    return part


def conversation_reply_as_teammate(
    *,
    conversation: Conversation,
    teammate: Teammate,
    body: str,
    files: MessageFiles = (),
    files_field: attachments.FilesField = attachments.FILES,
    seen_part_id: int | None = None,
) -> ConversationPart:
    """A teammate answers the contact: nobody is waiting any more, the contact has one more unread.
    `seen_part_id`: the last part the teammate's page showed; a message by someone else after it refuses
    the reply (two answers to one question), until the teammate has seen it (see reply_collision_check)."""
    with (
        _message_prepared(body=body, files=files, field=files_field, conversation=conversation) as message,
        transaction.atomic(),
    ):
        return _reply_as_teammate(conversation, teammate=teammate, message=message, seen_part_id=seen_part_id)


# The refusal's field: the conversation page's hidden "last part seen" input has this name.
SEEN_PART_FIELD = "seen_part"


def reply_collision_check(*, conversation: Conversation, teammate: Teammate, seen_part_id: int | None) -> None:
    """Refuse a reply when a teammate or the contact wrote after the part `seen_part_id` (None: no check):
    "Leo replied since you opened this — send anyway?". Called under the conversation's lock, so two replies
    sent at once cannot both pass."""
    if seen_part_id is None:
        return
    newer = (
        conversation.parts.filter(pk__gt=seen_part_id, part_type=ConversationPart.Type.COMMENT)
        .exclude(author_teammate=teammate)
        .select_related("author_teammate__parley_profile", "author_contact")
        .order_by("-id")
        .first()
    )
    if newer is None:
        return
    if newer.author_contact_id:
        words = f"{contact_display_name(newer.author_contact)} wrote"
    else:
        words = f"{teammate_display_name(newer.author_teammate)} replied"
    raise ValidationError({SEEN_PART_FIELD: f"{words} since you opened this — send anyway?"})


def _reply_as_teammate(
    conversation: Conversation, *, teammate: Teammate, message: _Message, seen_part_id: int | None = None
) -> ConversationPart:
    conversation = _locked(conversation)
    reply_collision_check(conversation=conversation, teammate=teammate, seen_part_id=seen_part_id)
    part = _teammate_comment(conversation, teammate=teammate, message=message, at=timezone.now())
    if conversation.source == Conversation.Source.EMAIL:
        from conversations.services.outbound import conversation_reply_email_schedule

        conversation_reply_email_schedule(part=part)
    elif conversation.source == Conversation.Source.CHAT:
        from conversations.services.outbound import conversation_reply_email_if_unread_schedule

        conversation_reply_email_if_unread_schedule(part=part)
    conversation_changed.send(sender=Conversation, topic="conversation.admin.replied", conversation=conversation)
    # The reply is the contact's to read: their messenger stops showing the teammate writing it.
    transaction.on_commit(
        functools.partial(
            presence.teammate_typing_tell, conversation=conversation, teammate_id=teammate.pk, typing=False
        )
    )
    return part


def conversation_add_note(
    *,
    conversation: Conversation,
    teammate: Teammate,
    body: str,
    files: MessageFiles = (),
    files_field: attachments.FilesField = attachments.FILES,
) -> ConversationPart:
    """An internal note: never shown to the contact (nor its files), changes nothing the contact can see;
    the teammates it mentions (`@username`) are told."""
    with (
        _message_prepared(body=body, files=files, field=files_field, conversation=conversation) as message,
        transaction.atomic(),
    ):
        part = _message_part(conversation, part_type=ConversationPart.Type.NOTE, message=message, at=timezone.now(),
                             author_teammate=teammate)  # fmt: skip
        mentions.note_mentions_record(part=part, author=teammate)
        conversation_changed.send(sender=Conversation, topic="conversation.admin.noted", conversation=conversation)
        return part


# --- assignment and state -----------------------------------------------------------------------


@transaction.atomic
def conversation_assign(
    *,
    conversation: Conversation,
    teammate: Teammate | None,
    assignee: Teammate | None,
    team: Team | None = None,
    reason: str = "",
) -> Conversation:
    """Assign to a teammate (None unassigns) and optionally a team; the same assignment changes nothing.
    `reason`: the rule that routed it and why nobody was, when nobody was (kept as the assignment part's body;
    the thread shows it)."""
    if assignee is not None and not (assignee.is_active and assignee.is_staff):
        raise ValidationError({"assignee": "Conversations can only be assigned to active teammates."})
    if assignee is not None and not selectors.teammate_answers(assignee):
        raise ValidationError({"assignee": selectors.not_answering(assignee)})
    conversation = _locked(conversation)
    if conversation.assignee_id == (assignee.pk if assignee else None) and (
        team is None or conversation.team_id == team.pk
    ):
        return conversation
    conversation.assignee = assignee
    fields = ["assignee", "updated_at"]
    if team is not None:
        conversation.team = team
        fields.append("team")
    conversation.save(update_fields=fields)
    _add_part(conversation=conversation, part_type=ConversationPart.Type.ASSIGNMENT, at=timezone.now(),
              author_teammate=teammate, assigned_to=assignee, assigned_team=team, body=reason)  # fmt: skip
    if team is not None:
        sla.conversation_sla_refresh(conversation=conversation)
    conversation_changed.send(sender=Conversation, topic="conversation.admin.assigned", conversation=conversation)
    return conversation


@transaction.atomic
def conversation_assign_with_note(
    *,
    conversation: Conversation,
    teammate: Teammate,
    assignee: Teammate | None,
    team: Team | None = None,
    note: str = "",
) -> Conversation:
    """Assign (as conversation_assign) and add `note` when given, in one transaction: a refused note assigns nothing."""
    conversation = conversation_assign(conversation=conversation, teammate=teammate, assignee=assignee, team=team)
    if note:
        conversation_add_note(conversation=conversation, teammate=teammate, body=note)
    return conversation


@transaction.atomic
def conversation_snooze(*, conversation: Conversation, teammate: Teammate | None, until: dt.datetime) -> Conversation:
    """Hide the conversation until `until`; the beat task reopens it then (or the contact writing does)."""
    if not isinstance(until, dt.datetime) or timezone.is_naive(until):
        raise ValidationError({"snoozed_until": "Must be a timezone-aware date and time."})
    now = timezone.now()
    if until <= now:
        raise ValidationError({"snoozed_until": "Pick a time in the future."})
    conversation = _locked(conversation)
    if conversation.state == Conversation.State.CLOSED:  # its closure is over: it will open again
        ratings.conversation_ratings_withdraw(conversation=conversation, at=now)
    conversation.state = Conversation.State.SNOOZED
    conversation.snoozed_until = until
    conversation.save(update_fields=["state", "snoozed_until", "updated_at"])
    _add_part(conversation=conversation, part_type=ConversationPart.Type.SNOOZE, at=now,
              author_teammate=teammate, snoozed_until=until)  # fmt: skip
    conversation_changed.send(sender=Conversation, topic="conversation.admin.snoozed", conversation=conversation)
    return conversation


@transaction.atomic
def conversation_close(
    *, conversation: Conversation, teammate: Teammate | None, ask_for_rating: bool = True
) -> Conversation:
    """Close and record who closed it, and ask the contact for a rating (CSAT) when the rules do (ratings.py;
    `ask_for_rating` False: one of a bulk close that did not ask); closing a closed conversation changes nothing."""
    conversation = _locked(conversation)
    if conversation.state == Conversation.State.CLOSED:
        return conversation
    conversation.state = Conversation.State.CLOSED
    conversation.snoozed_until = None
    conversation.waiting_since = None
    conversation.save(update_fields=["state", "snoozed_until", "waiting_since", "updated_at"])
    closure = _add_part(conversation=conversation, part_type=ConversationPart.Type.CLOSE, at=timezone.now(),
                        author_teammate=teammate)  # fmt: skip
    sla.conversation_sla_refresh(conversation=conversation)
    ratings.conversation_rating_request(
        conversation=conversation, closure=closure, teammate=teammate, ask_for_rating=ask_for_rating
    )
    conversation_changed.send(sender=Conversation, topic="conversation.admin.closed", conversation=conversation)
    return conversation


def conversation_reply_and_close(
    *,
    conversation: Conversation,
    teammate: Teammate,
    body: str,
    files: MessageFiles = (),
    files_field: attachments.FilesField = attachments.FILES,
    seen_part_id: int | None = None,
) -> Conversation:
    """Answer and close in one transaction: a refused reply leaves the conversation open (`seen_part_id` as
    conversation_reply_as_teammate's)."""
    with (
        _message_prepared(body=body, files=files, field=files_field, conversation=conversation) as message,
        transaction.atomic(),
    ):
        _reply_as_teammate(conversation, teammate=teammate, message=message, seen_part_id=seen_part_id)
        return conversation_close(conversation=conversation, teammate=teammate)


@transaction.atomic
def conversation_delete(*, conversation: Conversation) -> None:
    """Delete the conversation with its parts and every row that hangs off it."""
    rows_delete_with_history(model=Conversation, pks=[conversation.pk])


@transaction.atomic
def conversation_reopen(*, conversation: Conversation, teammate: Teammate | None) -> Conversation:
    """Open a closed or snoozed conversation again; `teammate` None means the snooze ran out."""
    conversation = _locked(conversation)
    if conversation.state == Conversation.State.OPEN:
        return conversation
    was_closed = conversation.state == Conversation.State.CLOSED
    conversation.state = Conversation.State.OPEN
    conversation.snoozed_until = None
    if was_closed:  # closing set the contact's wait aside; a message still unanswered waits again, from when it came
        conversation.waiting_since = _unanswered_since(conversation)
    conversation.save(update_fields=["state", "snoozed_until", "waiting_since", "updated_at"])
    at = timezone.now()
    _add_part(conversation=conversation, part_type=ConversationPart.Type.OPEN, at=at,
              author_teammate=teammate)  # fmt: skip
    ratings.conversation_ratings_withdraw(conversation=conversation, at=at)
    sla.conversation_sla_refresh(conversation=conversation, opened_at=at if was_closed else None)
    topic = "conversation.admin.opened" if teammate is not None else "conversation.admin.unsnoozed"
    conversation_changed.send(sender=Conversation, topic=topic, conversation=conversation)
    return conversation


def _unanswered_since(conversation: Conversation) -> dt.datetime | None:
    """When the contact's first message that no teammate answered came (None: nothing unanswered)."""
    comments = conversation.parts.filter(part_type=ConversationPart.Type.COMMENT)
    answered = comments.filter(author_contact__isnull=True).order_by("-pk").values_list("pk", flat=True).first()
    unanswered = comments.filter(author_contact__isnull=False, pk__gt=answered or 0).order_by("pk")
    return unanswered.values_list("created_at", flat=True).first()


def conversations_reopen_due_snoozes(*, now: dt.datetime | None = None, batch_size: int = 500) -> int:
    """Reopen every snoozed conversation whose time has come; each one in its own transaction."""
    now = now or timezone.now()
    reopened = 0
    while True:
        due = list(
            Conversation.objects.filter(state=Conversation.State.SNOOZED, snoozed_until__lte=now)
            .order_by("snoozed_until", "id")
            .values_list("pk", flat=True)[:batch_size]
        )
        for pk in due:
            with transaction.atomic():
                conversation = Conversation.objects.select_for_update().filter(pk=pk).first()
                # Re-checked under the lock: a contact reply or a second beat run may have got there first.
                if (
                    conversation
                    and conversation.state == Conversation.State.SNOOZED
                    and conversation.snoozed_until <= now
                ):
                    conversation_reopen(conversation=conversation, teammate=None)
                    reopened += 1
        if len(due) < batch_size:
            return reopened


@transaction.atomic
def conversation_set_priority(*, conversation: Conversation, priority: str) -> Conversation:
    """Mark a conversation as priority or not."""
    if priority not in Conversation.Priority.values:
        raise ValidationError({"priority": f"Must be one of: {', '.join(Conversation.Priority.values)}."})
    conversation.priority = priority
    conversation.save(update_fields=["priority", "updated_at"])
    sla.conversation_sla_refresh(conversation=conversation)
    return conversation


@transaction.atomic
def conversation_tag(*, conversation: Conversation, tag: Tag, teammate: Any) -> bool:
    """Tag a conversation (once): the timeline says who did, and when. False if it had the tag already."""
    contact_services.tag_hold(tag)
    return _tags_change(conversation, tag, teammate, tagging=True)


@transaction.atomic
def conversation_untag(*, conversation: Conversation, tag: Tag, teammate: Any) -> bool:
    """Remove a tag from a conversation, said in its timeline. False if it did not have it."""
    return _tags_change(conversation, tag, teammate, tagging=False)


def _tags_change(conversation: Conversation, tag: Tag, teammate: Any, *, tagging: bool) -> bool:
    """Put `tag` on the conversation or take it off, with its event in the timeline, under the conversation's lock:
    two teammates tagging at once record one event, not two."""
    _locked(conversation)
    if conversation.tags.filter(pk=tag.pk).exists() == tagging:
        return False
    (conversation.tags.add if tagging else conversation.tags.remove)(tag)
    part_type = ConversationPart.Type.TAG if tagging else ConversationPart.Type.UNTAG
    _add_part(
        conversation=conversation, part_type=part_type, at=timezone.now(), author_teammate=teammate, body=tag.name
    )
    return True


@transaction.atomic
def conversation_update(
    *,
    conversation: Conversation,
    title: str | None = None,
    custom_attributes: dict[str, Any] | None = None,
    read: bool | None = None,
    define_attributes: bool = False,
) -> Conversation:
    """Set the title, custom attributes (data attributes with model=conversation) and read state; None keeps each.

    An unknown attribute name becomes a definition only with `define_attributes` (a teammate who may add
    data attributes) and the PARLEY_AUTO_CREATE_CUSTOM_ATTRIBUTES setting; it is refused otherwise.
    """
    conversation = _locked(conversation)
    changed: list[str] = []
    if title is not None:
        conversation.title = title_clean(title)
        changed.append("title")
    if custom_attributes is not None:
        conversation.custom_attributes = contact_services.custom_attributes_apply(
            current=conversation.custom_attributes,
            values=custom_attributes,
            model=DataAttribute.Model.CONVERSATION,
            define=define_attributes,
        )
        changed.append("custom_attributes")
    if read is not None:
        # Unread again: the inbox counts it as one unread message until a teammate opens it.
        conversation.teammate_unread_count = 0 if read else max(conversation.teammate_unread_count, 1)
        conversation.teammate_last_read_at = timezone.now() if read else None
        changed += ["teammate_unread_count", "teammate_last_read_at"]
    if changed:
        conversation.save(update_fields=[*changed, "updated_at"])
    return conversation


def title_clean(title: Any) -> str:
    """A conversation title: one line of text, at most 255 characters, no NUL or lone surrogate."""
    if not isinstance(title, str):
        raise ValidationError({"title": "Must be a string."})
    problem = text_problem(title)
    if problem:
        raise ValidationError({"title": problem})
    title = " ".join(title.split())
    if len(title) > TITLE_MAX_LENGTH:
        raise ValidationError({"title": f"Must be at most {TITLE_MAX_LENGTH} characters."})
    return title


# --- read state ---------------------------------------------------------------------------------


def conversation_mark_read(*, conversation: Conversation, by_contact: bool) -> Conversation:
    """Everything up to now is read by the contact (widget) or by the teammates (inbox); one UPDATE."""
    now = timezone.now()
    prefix = "contact" if by_contact else "teammate"
    Conversation.objects.filter(pk=conversation.pk).update(
        **{f"{prefix}_last_read_at": now, f"{prefix}_unread_count": 0}
    )
    setattr(conversation, f"{prefix}_last_read_at", now)
    setattr(conversation, f"{prefix}_unread_count", 0)
    return conversation
