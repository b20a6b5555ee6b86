"""Outbound messages (in-app and email): create, deliver in batches at most once, track opens/clicks/unsubscribes."""

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core import mail
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import ngettext

from common.mail import email_header_line
from common.parsing import text_problem
from contacts import services as contact_services
from contacts.models import Contact, ContactTag, Tag
from conversations import email_links
from conversations.models import Conversation, ConversationPart, DeliveryEvent, Message, MessageDelivery
from conversations.selectors import contacts_marketing_allowed, delivery_skip_reasons, teammate_answers
from conversations.services import widget_quiet
from conversations.services.attachments import attachments_attach_to_email
from conversations.services.email_confirmation import email_confirmed_or_asked, team_sender
from conversations.services.placeholders import (
    placeholders_check,
    placeholders_in_links,
    placeholders_render,
    placeholders_segments,
)
from conversations.services.threads import (
    clean_body,
    contact_display_name,
    contacts_touch_messaging,
    conversation_start_by_teammate,
    teammate_display_name,
)
from segments import selectors as segment_selectors
from segments.models import Segment
from tracking.models import Website

Teammate = AbstractBaseUser
SEND_BATCH_SIZE = 100
MAX_LINKS = 50
URL_RE = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
# A claimed delivery that never finished (worker killed mid-send) is given up after this long,
# instead of being sent a second time: longer than send_message's hard time limit (600 s), so no
# send can still be under way.
STALE_CLAIM_AFTER = dt.timedelta(minutes=15)
# A message still sending with no delivery claimed for this long has lost its task: queue it again.
RESUME_STALLED_AFTER = dt.timedelta(minutes=5)
RECLAIM_MAX_MESSAGES = 100


def _links_in(body: str) -> list[str]:
    links: list[str] = []
    for match in URL_RE.finditer(body):
        url = match.group(0).rstrip(".,;:!?)")
        if url not in links:
            links.append(url)
    return links[:MAX_LINKS]


def _recipient_ids(*, contact_ids: Iterable[int] | None, tag: Tag | None, segment: Segment | None = None) -> list[int]:
    if segment is not None:
        members = segment_selectors.segment_members(segment=segment)
        return list(members.order_by("pk").values_list("pk", flat=True))
    if tag is not None:
        return list(ContactTag.objects.filter(tag=tag).order_by("contact_id").values_list("contact_id", flat=True))
    return sorted(set(contact_ids or ()))


@dataclass(frozen=True)
class MessageDraft:
    """What a teammate wrote, checked: the same rules for the preview, the test and the real send."""

    channel: str
    subject: str
    body: str


def message_draft_clean(*, channel: Any, subject: Any, body: Any) -> MessageDraft:
    """Check a message before it is previewed, tested or sent; every refusal names its field, all at once."""
    problems: dict[str, list[str]] = {}

    def refuse(field: str, problem: str) -> None:
        problems.setdefault(field, []).append(problem)

    if channel not in Message.Channel.values:
        refuse("channel", f"Must be one of: {', '.join(Message.Channel.values)}.")
    try:
        body = clean_body(body)
    except ValidationError as error:
        for field, messages in error.message_dict.items():
            for message in messages:
                refuse(field, message)
        body = ""
    if not isinstance(subject, str | None):
        refuse("subject", "Must be a string.")
        subject = ""
    # One line: a line break in a subject would be a header injection.
    subject = " ".join((subject or "").replace("\x00", "").split())
    for field, text in (("subject", subject), ("body", body)):
        problem = text_problem(text)
        if problem:
            refuse(field, problem)
            continue
        try:
            placeholders_check(text, field=field)
        except ValidationError as error:
            for message in error.message_dict.get(field, error.messages):
                refuse(field, message)
    if channel == Message.Channel.EMAIL and not subject:
        refuse("subject", "An email needs a subject.")
    if len(subject) > 255:
        refuse("subject", "Must be at most 255 characters.")
    if body and placeholders_in_links(body, URL_RE):
        refuse("body", "A placeholder cannot be part of a link: links are tracked, the same for everyone.")
    if problems:
        raise ValidationError(problems)
    return MessageDraft(channel=channel, subject=subject, body=body)


def message_segment_problem(*, segment: Segment) -> str | None:
    """Why a message cannot go to this segment, or None: one whose filter names a deleted tag (saved before a tag in
    use could not be deleted) holds others than when it was saved: "not tagged #7" is everyone once 7 is gone."""
    missing = segment_selectors.segments_deleted_tags(segments=[segment]).get(segment.pk)
    if not missing:
        return None
    listed = ", ".join(f"#{tag_id}" for tag_id in missing)
    return (
        f"The segment “{segment.name}” names a deleted tag ({listed}), so it holds others than when it was saved: fix "
        "its filter first (its page says how)."
    )


def message_recipient_ids(
    *, contact_ids: Iterable[int] | None, tag: Tag | None, segment: Segment | None = None
) -> list[int]:
    """Who a message to these contacts, to this tag or to this segment reaches now, in id order."""
    if sum(target is not None for target in (contact_ids, tag, segment)) != 1:
        raise ValidationError({"recipients": "Send to a list of contacts, to a tag or to a segment."})
    problem = message_segment_problem(segment=segment) if segment is not None else None
    if problem:
        raise ValidationError({"segment": problem})
    recipients = _recipient_ids(contact_ids=contact_ids, tag=tag, segment=segment)
    return list(Contact.objects.filter(pk__in=recipients).order_by("pk").values_list("pk", flat=True))


def _contacts_words(count: int) -> str:
    """1 contact, 3 contacts."""
    return ngettext("%(count)d contact", "%(count)d contacts", count) % {"count": count}


@transaction.atomic
def message_send(
    *,
    sender: Teammate | None,
    channel: str,
    body: str,
    subject: str = "",
    contact_ids: Iterable[int] | None = None,
    tag: Tag | None = None,
    segment: Segment | None = None,
    audience: str = "",
    idempotency_key: str | None = None,
    expected_recipients: int | None = None,
    open_conversation: bool = False,
) -> Message:
    """Write a message to contacts (ids, everyone with a tag, or a segment's members now) and queue its delivery.

    The same idempotency key returns the first message and sends nothing again. With
    `expected_recipients` (the count the teammate confirmed), a changed audience is refused. With
    `open_conversation` (one contact), the message opens a conversation at once (message_open_conversation).
    """
    if idempotency_key:
        existing = Message.objects.filter(idempotency_key=idempotency_key).first()
        if existing:
            return existing
    draft = message_draft_clean(channel=channel, subject=subject, body=body)
    recipients = message_recipient_ids(contact_ids=contact_ids, tag=tag, segment=segment)
    if not recipients:
        raise ValidationError({"recipients": "Nobody to send to."})
    if open_conversation and (len(recipients) != 1 or sender is None):
        raise ValidationError({"recipients": "A message opens a conversation with one contact, from a teammate."})
    if expected_recipients is not None and expected_recipients != len(recipients):
        raise ValidationError(
            {"recipients": f"The audience changed since the preview: it is now {_contacts_words(len(recipients))}."}
        )
    message = Message.objects.create(
        channel=draft.channel, subject=draft.subject, body=draft.body, links=_links_in(draft.body), sender=sender,
        audience=(audience or (f"Tag: {tag.name}" if tag else f"Segment: {segment.name}" if segment
                               else _contacts_words(len(recipients))))[:255],
        idempotency_key=idempotency_key or None, recipients_count=len(recipients),
    )  # fmt: skip
    MessageDelivery.objects.bulk_create(
        [MessageDelivery(message=message, contact_id=pk) for pk in recipients], batch_size=1000, ignore_conflicts=True
    )
    if open_conversation:
        message_open_conversation(message=message)
    from conversations import tasks

    transaction.on_commit(lambda: tasks.send_message.delay(message.pk))
    return message


def message_open_conversation(*, message: Message) -> Conversation:
    """A teammate's message to one contact opens a conversation now, without waiting for an answer (Intercom's
    `create_conversation_without_contact_reply`): the message, placeholders filled, is its first part.

    In-app, that conversation is how the messenger shows the message (support, as a conversation a teammate
    starts in the admin: not an in-app campaign card), delivered at once. By email, the email still goes out
    through the send (skip rules, tracking, unsubscribe) and the contact's answer continues the conversation;
    a contact the email would skip is refused here, so the inbox never shows a conversation around an email
    that never went. A restricted contact is refused on either channel (nothing new is sent to them)."""
    delivery = MessageDelivery.objects.select_related("contact").get(message=message)
    contact = delivery.contact
    if contact.processing_restricted:  # docs/privacy.md: nothing new is sent to a restricted contact, in-app either
        raise ValidationError({"recipients": "This contact's processing is restricted: no conversation opened."})
    if message.channel == Message.Channel.EMAIL:
        reason = delivery_skip_reasons(contact_ids=[contact.pk], channel=message.channel).get(contact.pk, "")
        if reason:
            raise ValidationError({"recipients": f"This contact is not emailed ({reason}): no conversation opened."})
    conversation = conversation_start_by_teammate(
        contact=contact, teammate=message.sender, body=_opening(message, contact),
        source=Conversation.Source.EMAIL if message.channel == Message.Channel.EMAIL else Conversation.Source.ADMIN,
    )  # fmt: skip
    delivered: dict[str, Any] = {"conversation": conversation}
    if message.channel == Message.Channel.IN_APP:
        delivered.update(state=MessageDelivery.State.SENT, sent_at=conversation.created_at)
    MessageDelivery.objects.filter(pk=delivery.pk).update(**delivered)
    return conversation


def _opening(message: Message, contact: Contact) -> str:
    """The message as this contact gets it (placeholders filled), as a conversation's first part."""
    subject = placeholders_render(message.subject, contact=contact, teammate=message.sender)
    body = placeholders_render(message.body, contact=contact, teammate=message.sender)
    return f"{subject}\n\n{body}" if subject else body


def _claim_batch(message: Message, size: int) -> list[MessageDelivery]:
    """Atomically move up to `size` pending deliveries to `sending`: nobody else can claim them now."""
    with transaction.atomic():
        ids = list(
            MessageDelivery.objects.select_for_update(skip_locked=True)
            .filter(message=message, state=MessageDelivery.State.PENDING)
            .order_by("id")
            .values_list("pk", flat=True)[:size]
        )
        if not ids:
            return []
        now = timezone.now()
        # Row locks on PostgreSQL; on SQLite the IMMEDIATE transaction serialises claimers.
        MessageDelivery.objects.filter(pk__in=ids, state=MessageDelivery.State.PENDING).update(
            state=MessageDelivery.State.SENDING, claimed_at=now
        )
    return list(
        MessageDelivery.objects.filter(pk__in=ids, state=MessageDelivery.State.SENDING, claimed_at=now)
        .select_related("contact")
        .order_by("id")
    )


def message_deliver_batch(*, message_id: int, batch_size: int = SEND_BATCH_SIZE) -> tuple[int, bool]:
    """Send one batch of a message; returns (sent in this batch, whether deliveries remain).

    Each delivery is claimed before sending, so a retried or duplicated task never sends it twice.
    """
    message = Message.objects.filter(pk=message_id).first()
    if message is None:
        return 0, False
    if message.channel == Message.Channel.EMAIL:
        return _deliver_email_batch(message, batch_size)
    batch = _claim_batch(message, batch_size)
    if not batch:
        _message_finish_if_done(message)
        return 0, False
    now = timezone.now()
    skipped: dict[str, list[int]] = {}
    reasons = delivery_skip_reasons(contact_ids=[d.contact_id for d in batch], channel=message.channel)
    for delivery in batch:
        if reason := reasons.get(delivery.contact_id, ""):
            skipped.setdefault(reason, []).append(delivery.pk)
    shown = [delivery for delivery in batch if not any(delivery.pk in ids for ids in skipped.values())]
    sent_ids = [delivery.pk for delivery in shown]
    widget_quiet.contacts_mark_busy(contact_ids=[d.contact_id for d in shown])
    with transaction.atomic():
        for reason, ids in skipped.items():  # never shown (restricted, no marketing consent): skipped, with why
            MessageDelivery.objects.filter(pk__in=ids).update(state=MessageDelivery.State.SKIPPED, skip_reason=reason)
        MessageDelivery.objects.filter(pk__in=sent_ids).update(state=MessageDelivery.State.SENT, sent_at=now)
        contacts_touch_messaging(contact_ids=[d.contact_id for d in shown], field="last_contacted_at", at=now)
    remaining = MessageDelivery.objects.filter(message=message, state=MessageDelivery.State.PENDING).exists()
    if not remaining:
        _message_finish_if_done(message)
    return len(sent_ids), remaining


def _deliver_email_batch(message: Message, size: int) -> tuple[int, bool]:
    """Claim, send and record one email at a time: a worker killed mid-batch leaves at most one
    delivery in `sending` (given up later, never resent); the rest stay pending for the next run."""
    batch = list(
        MessageDelivery.objects.filter(message=message, state=MessageDelivery.State.PENDING)
        .select_related("contact")
        .order_by("id")[:size]
    )
    if not batch:
        _message_finish_if_done(message)
        return 0, False
    sent = 0
    # Open pixel and click tracking only where the marketing purpose is on (docs/privacy.md).
    tracked = contacts_marketing_allowed(contact_ids=[delivery.contact_id for delivery in batch])
    reasons = delivery_skip_reasons(contact_ids=[delivery.contact_id for delivery in batch], channel=message.channel)
    with mail.get_connection() as connection:
        for delivery in batch:
            contact = delivery.contact
            reason = reasons.get(contact.pk, "")
            claimed = _delivery_claim(delivery, skip_reason=reason)
            if not claimed or reason:
                continue
            try:
                email = _build_outbound_email(message=message, delivery=delivery, tracked=contact.pk in tracked)
                connection.send_messages([email])
            except Exception:
                _delivery_finish(delivery, state=MessageDelivery.State.FAILED, skip_reason="send failed")
                continue
            _delivery_finish(delivery, state=MessageDelivery.State.SENT, tracked=contact.pk in tracked)
            sent += 1
    remaining = MessageDelivery.objects.filter(message=message, state=MessageDelivery.State.PENDING).exists()
    if not remaining:
        _message_finish_if_done(message)
    return sent, remaining


def _delivery_claim(delivery: MessageDelivery, *, skip_reason: str) -> bool:
    """Take one pending delivery (to send it, or to skip it with the reason); False if another run has it."""
    now = timezone.now()
    if skip_reason:
        changes: dict[str, Any] = {"state": MessageDelivery.State.SKIPPED, "skip_reason": skip_reason}
    else:
        changes = {"state": MessageDelivery.State.SENDING, "claimed_at": now}
    return MessageDelivery.objects.filter(pk=delivery.pk, state=MessageDelivery.State.PENDING).update(**changes) == 1


@transaction.atomic
def _delivery_finish(
    delivery: MessageDelivery, *, state: str, skip_reason: str = "", tracked: bool | None = None
) -> None:
    now = timezone.now()
    sent_at = now if state == MessageDelivery.State.SENT else None
    MessageDelivery.objects.filter(pk=delivery.pk).update(
        state=state, skip_reason=skip_reason, sent_at=sent_at, tracked=tracked
    )
    if state == MessageDelivery.State.SENT:
        contacts_touch_messaging(contact_ids=[delivery.contact_id], field="last_contacted_at", at=now)


def _message_finish_if_done(message: Message) -> None:
    stale = timezone.now() - STALE_CLAIM_AFTER
    MessageDelivery.objects.filter(message=message, state=MessageDelivery.State.SENDING, claimed_at__lt=stale).update(
        state=MessageDelivery.State.FAILED, skip_reason="interrupted while sending"
    )
    if not MessageDelivery.objects.filter(
        message=message, state__in=[MessageDelivery.State.PENDING, MessageDelivery.State.SENDING]
    ).exists():
        Message.objects.filter(pk=message.pk, state=Message.State.SENDING).update(
            state=Message.State.SENT, sent_at=timezone.now()
        )


def messages_reclaim_stalled(*, now: dt.datetime | None = None) -> list[int]:
    """Fail interrupted sends (never resent: at most once); return the stalled messages to queue again."""
    now = now or timezone.now()
    MessageDelivery.objects.filter(state=MessageDelivery.State.SENDING, claimed_at__lt=now - STALE_CLAIM_AFTER).update(
        state=MessageDelivery.State.FAILED, skip_reason="interrupted while sending"
    )
    quiet_since = now - RESUME_STALLED_AFTER
    stalled = (
        Message.objects.filter(state=Message.State.SENDING, created_at__lt=quiet_since)
        .exclude(deliveries__claimed_at__gte=quiet_since)
        .order_by("created_at")
        .values_list("pk", flat=True)
    )
    return list(stalled[:RECLAIM_MAX_MESSAGES])


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str  # the plain-text part's body (its links tracked like the HTML part's)
    html: SafeString  # the HTML part's body: every piece escaped


def _render_email(
    *, subject: str, body: str, contact: Contact, sender: Teammate | None, link_url: Callable[[str], str | None]
) -> RenderedEmail:
    """Fill the placeholders for one contact; links the teammate wrote go through `link_url` (the signed
    click redirect, or the link itself for a preview) in both parts; filled-in values are never links."""
    text_pieces: list[str] = []
    html_pieces: list[str] = []
    for piece, is_value in placeholders_segments(body, contact=contact, teammate=sender):
        if is_value:
            text_pieces.append(piece)
            html_pieces.append(escape(piece))
            continue
        last = 0
        for match in URL_RE.finditer(piece):
            raw = match.group(0)
            url = raw.rstrip(".,;:!?)")
            trailing = raw[len(url) :]
            html_pieces.append(escape(piece[last : match.start()]))
            text_pieces.append(piece[last : match.start()])
            href = link_url(url)
            if href is None:
                html_pieces.append(escape(raw))
                text_pieces.append(raw)
            else:
                html_pieces.append(f'<a href="{escape(href)}">{escape(url)}</a>{escape(trailing)}')
                text_pieces.append(f"{href}{trailing}")
            last = match.end()
        html_pieces.append(escape(piece[last:]))
        text_pieces.append(piece[last:])
    paragraphs = "".join(html_pieces).split("\n\n")
    # Every piece of the body went through escape() above, so the result is safe markup.
    html = mark_safe("".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in paragraphs))  # noqa: S308
    return RenderedEmail(
        subject=placeholders_render(subject, contact=contact, teammate=sender), text="".join(text_pieces), html=html
    )


def _tracked_links(message: Message, delivery_id: int) -> Callable[[str], str | None]:
    index = {url: i for i, url in enumerate(message.links)}
    return lambda url: email_links.click_url(delivery_id, index[url]) if url in index else None


def _untracked_link(url: str) -> str:
    return url


def message_preview(*, draft: MessageDraft, contact: Contact, sender: Teammate | None) -> RenderedEmail:
    """The message as this contact will get it (links not tracked: the preview must not count clicks)."""
    return _render_email(
        subject=draft.subject, body=draft.body, contact=contact, sender=sender, link_url=_untracked_link
    )


def _outbound_email(
    *, rendered: RenderedEmail, sender: Teammate | None, to: str, unsubscribe_url: str, pixel_url: str,
    headers: dict[str, str],
) -> mail.EmailMultiAlternatives:  # fmt: skip
    context = {
        "sender_name": teammate_display_name(sender),
        "body_text": rendered.text,
        "body_html": rendered.html,
        "pixel_url": pixel_url,
        "unsubscribe_url": unsubscribe_url,
    }
    email = mail.EmailMultiAlternatives(
        subject=email_header_line(rendered.subject),
        body=render_to_string("emails/outbound_message.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers=headers,
    )
    email.attach_alternative(render_to_string("emails/outbound_message.html", context), "text/html")
    return email


def _build_outbound_email(*, message: Message, delivery: MessageDelivery, tracked: bool) -> mail.EmailMultiAlternatives:
    """The email for one delivery; untracked (no pixel, links as written) without the marketing purpose."""
    contact = delivery.contact
    unsubscribe = email_links.unsubscribe_url(delivery.pk)
    rendered = _render_email(
        subject=message.subject, body=message.body, contact=contact, sender=message.sender,
        link_url=_tracked_links(message, delivery.pk) if tracked else _untracked_link,
    )  # fmt: skip
    email = _outbound_email(
        rendered=rendered, sender=message.sender, to=contact.email, unsubscribe_url=unsubscribe,
        pixel_url=email_links.open_pixel_url(delivery.pk) if tracked else "",
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        },
    )  # fmt: skip
    email.reply_to = [email_links.reply_address(delivery_id=delivery.pk)]
    return email


TEST_SUBJECT_PREFIX = "[Test] "


def message_send_test(*, draft: MessageDraft, contact: Contact, sender: Teammate) -> str:
    """Email the draft, filled for `contact`, to the teammate's own address; returns that address.

    Nothing is recorded: no message, no delivery, no tracking (links go straight to their targets).
    """
    if draft.channel != Message.Channel.EMAIL:
        raise ValidationError({"channel": "An in-app test is shown to a contact you choose, not emailed."})
    address = (getattr(sender, "email", "") or "").strip()
    if not address:
        raise ValidationError({"recipients": "Your account has no email address to send the test to."})
    rendered = message_preview(draft=draft, contact=contact, sender=sender)
    rendered = RenderedEmail(subject=TEST_SUBJECT_PREFIX + rendered.subject, text=rendered.text, html=rendered.html)
    email = _outbound_email(
        rendered=rendered, sender=sender, to=address, unsubscribe_url="", pixel_url="",
        headers={"Auto-Submitted": "auto-generated"},
    )  # fmt: skip
    email.send()
    return address


@transaction.atomic
def message_send_test_in_app(*, draft: MessageDraft, contact: Contact, sender: Teammate) -> Message:
    """Show an in-app draft, marked as a test, in the messenger of one contact the teammate chose.

    A message of its own (`is_test`, one delivery, sent at once): the contact sees it on their next page
    view, placeholders filled for them, like any in-app message. The real send, its idempotency key and
    its counts are untouched, and no messaging field of the contact moves (a test is not contact).
    """
    if draft.channel != Message.Channel.IN_APP:
        raise ValidationError({"channel": "This test is for in-app messages; an email test goes to your address."})
    now = timezone.now()
    message = Message.objects.create(
        channel=draft.channel, subject=draft.subject, body=draft.body, links=_links_in(draft.body), sender=sender,
        audience=f"Test to {contact_display_name(contact)}"[:255], state=Message.State.SENT, recipients_count=1,
        is_test=True, sent_at=now,
    )  # fmt: skip
    # The real send's rule: a contact it would skip (restricted, no marketing consent) does not see the
    # test either; the delivery says why, and the admin's notice says so instead of "their messenger shows it".
    reason = delivery_skip_reasons(contact_ids=[contact.pk], channel=draft.channel).get(contact.pk, "")
    if reason:
        MessageDelivery.objects.create(
            message=message, contact=contact, state=MessageDelivery.State.SKIPPED, skip_reason=reason
        )
        return message
    MessageDelivery.objects.create(message=message, contact=contact, state=MessageDelivery.State.SENT, sent_at=now)
    # The contact's next ping must look for messages, even if it was marked as having none.
    widget_quiet.contacts_mark_busy(contact_ids=[contact.pk])
    return message


def conversation_reply_email_schedule(*, part: ConversationPart) -> None:
    """Email a teammate's reply to a contact who wrote by email, once the reply is committed."""
    from conversations import tasks

    transaction.on_commit(lambda: tasks.email_conversation_reply.delay(part.pk))


def conversation_reply_email_if_unread_schedule(*, part: ConversationPart) -> None:
    """A reply in the messenger: emailed later if the contact (who has an email) has not read it by then."""
    conversation = part.conversation
    minutes = conversation.website.email_unread_replies_after_minutes if conversation.website else None
    if minutes is None or not conversation.contact.email or conversation.contact.unsubscribed_from_emails:
        return
    from conversations import tasks

    transaction.on_commit(lambda: tasks.email_unread_reply.apply_async((part.pk,), countdown=minutes * 60))


# A reply is emailed once, however often its task runs (a redelivered message, a rerun).
UNREAD_REPLY_CLAIM_SECONDS = 7 * 24 * 3600


def conversation_reply_email_if_unread(*, part_id: int) -> bool:
    """Email the reply unless the contact read it in the messenger meanwhile (the read cancels it)."""
    part = ConversationPart.objects.select_related("conversation").filter(pk=part_id).first()
    if part is None:
        return False
    read_at = part.conversation.contact_last_read_at
    if read_at is not None and read_at >= part.created_at:
        return False
    # Unclaimed while the address waits for its confirmation: confirming emails the reply then (email_confirmation).
    if not email_confirmed_or_asked(contact=part.conversation.contact, website=part.conversation.website):
        return False
    if not cache.add(f"conversations:unread-reply-emailed:{part_id}", 1, UNREAD_REPLY_CLAIM_SECONDS):
        return False
    return conversation_reply_email_send(part_id=part_id)


# A conversation's email subject: its first message's first line, cut at this many characters.
EMAIL_SUBJECT_LENGTH = 78
REPLY_PREFIX_RE = re.compile(r"^(?:(?:re|fwd?|aw|sv)\s*:\s*)+", re.IGNORECASE)


def _mail_domain() -> str:
    """The domain of the From address, for Message-IDs that are ours."""
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "parley.localhost"


def _email_thread_id(*, conversation_id: int) -> str:
    return f"<parley.conversation.{conversation_id}@{_mail_domain()}>"


def conversation_email_thread_headers(conversation: Conversation) -> dict[str, str]:
    """Every email of a conversation names the same thread, so mail clients show one thread."""
    thread = _email_thread_id(conversation_id=conversation.pk)
    return {"In-Reply-To": thread, "References": thread}


def conversation_subject(conversation: Conversation) -> str:
    """What the conversation is about, as its first message says it, on one line: an email's subject (its first line),
    else the message's opening words. A chat's first line alone gave "Re: Hi," to one that opened "Hi,⏎Does…"."""
    first = conversation.parts.filter(part_type=ConversationPart.Type.COMMENT).order_by("created_at", "id").first()
    text = first.body.strip() if first else ""
    if conversation.source == Conversation.Source.EMAIL:
        text = (text.splitlines() or [""])[0]
    line = REPLY_PREFIX_RE.sub("", " ".join(text[: EMAIL_SUBJECT_LENGTH * 4].split()))
    if not line:
        return "your conversation"
    if len(line) <= EMAIL_SUBJECT_LENGTH:
        return line
    cut = line[: EMAIL_SUBJECT_LENGTH - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut[EMAIL_SUBJECT_LENGTH // 2 :] else cut).rstrip(" ,;:") + "…"


def conversation_reply_email_send(*, part_id: int) -> bool:
    """Send one teammate reply by email; the Reply-To routes the answer back into the conversation."""
    part = (
        ConversationPart.objects.select_related(
            "conversation__contact", "conversation__website", "author_teammate__parley_profile"
        )
        .filter(pk=part_id, part_type=ConversationPart.Type.COMMENT, author_teammate__isnull=False)
        .first()
    )
    if part is None or not email_confirmed_or_asked(
        contact=part.conversation.contact, website=part.conversation.website
    ):
        return False
    conversation, contact = part.conversation, part.conversation.contact
    context = {"part": part, "contact": contact, "teammate_name": teammate_display_name(part.author_teammate)}
    email = mail.EmailMultiAlternatives(
        subject=email_header_line(f"Re: {conversation_subject(conversation)}"),
        body=render_to_string("emails/conversation_reply.txt", context),
        from_email=team_sender(conversation.website),
        to=[contact.email],
        reply_to=[email_links.reply_address(conversation_id=conversation.pk)],
        # A person wrote this reply: no Auto-Submitted header (RFC 3834 keeps it for automatic mail).
        headers={
            "Message-ID": f"<parley.part.{part.pk}@{_mail_domain()}>",
            **conversation_email_thread_headers(conversation),
        },
    )
    # The teammate's files travel with the reply (what fits in one email; the rest are named in it).
    context["files_left_out"] = attachments_attach_to_email(email=email, part=part)
    email.body = render_to_string("emails/conversation_reply.txt", context)
    email.attach_alternative(render_to_string("emails/conversation_reply.html", context), "text/html")
    email.send()
    ConversationPart.objects.filter(pk=part.pk).update(emailed_at=timezone.now())  # the inbox shows it went
    return True


# --- tracking: open, click, unsubscribe, in-app seen --------------------------------------------


def _delivery(delivery_id: int) -> MessageDelivery | None:
    return MessageDelivery.objects.select_related("message", "contact").filter(pk=delivery_id).first()


@transaction.atomic
def delivery_record_open(*, delivery_id: int) -> bool:
    """The open pixel was loaded: first open recorded on the delivery, last open on the contact."""
    delivery = _delivery(delivery_id)
    if delivery is None:
        return False
    if not contacts_marketing_allowed(contact_ids=[delivery.contact_id]):
        return True  # consent withdrawn (or restricted) since the email left: the pixel records nothing
    now = timezone.now()
    if delivery.opened_at is None:
        MessageDelivery.objects.filter(pk=delivery.pk, opened_at__isnull=True).update(opened_at=now)
        DeliveryEvent.objects.create(delivery=delivery, kind=DeliveryEvent.Kind.OPEN)
    contacts_touch_messaging(contact_ids=[delivery.contact_id], field="last_email_opened_at", at=now)
    return True


@transaction.atomic
def delivery_record_click(*, delivery_id: int, link_index: int) -> str | None:
    """A tracked link was followed: returns the URL to redirect to, only one that was in the message."""
    delivery = _delivery(delivery_id)
    if delivery is None or not 0 <= link_index < len(delivery.message.links):
        return None
    url = delivery.message.links[link_index]
    if not contacts_marketing_allowed(contact_ids=[delivery.contact_id]):
        return url  # consent withdrawn (or restricted) since the email left: redirect, record nothing
    now = timezone.now()
    MessageDelivery.objects.filter(pk=delivery.pk, clicked_at__isnull=True).update(clicked_at=now)
    # A click proves the email was opened even when images were blocked.
    MessageDelivery.objects.filter(pk=delivery.pk, opened_at__isnull=True).update(opened_at=now)
    DeliveryEvent.objects.create(delivery=delivery, kind=DeliveryEvent.Kind.CLICK, url=url)
    contacts_touch_messaging(contact_ids=[delivery.contact_id], field="last_email_clicked_at", at=now)
    return url


@transaction.atomic
def delivery_record_unsubscribe(*, delivery_id: int) -> bool:
    """One-click unsubscribe (RFC 8058): the contact gets no more outbound email."""
    delivery = _delivery(delivery_id)
    if delivery is None:
        return False
    if delivery.unsubscribed_at is None:
        MessageDelivery.objects.filter(pk=delivery.pk).update(unsubscribed_at=timezone.now())
        DeliveryEvent.objects.create(delivery=delivery, kind=DeliveryEvent.Kind.UNSUBSCRIBE)
    if not delivery.contact.unsubscribed_from_emails:
        contact_services.contact_update(contact=delivery.contact, unsubscribed_from_emails=True)
    return True


def delivery_merge(source: Contact, into: Contact) -> None:
    """On contact merge, a message both received stays once (on the user)."""
    widget_quiet.contacts_mark_busy(contact_ids=[into.pk])
    duplicate = MessageDelivery.objects.filter(contact=into).values("message_id")
    MessageDelivery.objects.filter(contact=source, message_id__in=duplicate).delete()
    MessageDelivery.objects.filter(contact=source).update(contact=into)


def deliveries_for_contact(contact: Contact) -> Any:
    """A contact's message deliveries that were handled (not waiting to be sent)."""
    return MessageDelivery.objects.filter(contact=contact).filter(~Q(state=MessageDelivery.State.PENDING))


def delivery_start_conversation(
    *,
    delivery: MessageDelivery,
    source: str = Conversation.Source.EMAIL,
    opening: str | None = None,
    seen: bool = False,
    website: Website | None = None,
) -> Conversation:
    """The contact answered an outbound message (by email, or in the messenger for an in-app one):
    the answer opens (or continues) a conversation whose first part is the message, as `opening`
    gives it (default: the email's subject and body); `seen` marks an in-app message shown; `website`: the one whose
    messenger the answer came from (its office hours, SLA clock and unread-reply email then apply). In the caller's
    transaction: the delivery's row is locked, so two answers at once open one conversation (the second continues
    the first's)."""
    conversation_id = (
        MessageDelivery.objects.select_for_update()
        .filter(pk=delivery.pk)
        .values_list("conversation_id", flat=True)
        .get()
    )
    if conversation_id:
        delivery.conversation_id = conversation_id
        return Conversation.objects.get(pk=conversation_id)
    message = delivery.message
    at = timezone.now()
    widget_quiet.contacts_mark_busy(contact_ids=[delivery.contact_id])
    # Its sender gets the answer, unless they can no longer answer conversations (a viewer now, or deactivated).
    sender = message.sender
    assignee = sender if sender is not None and teammate_answers(sender) else None
    conversation = Conversation.objects.create(
        contact=delivery.contact, source=source, assignee=assignee, website=website
    )
    if opening is None:  # the email as this contact got it, placeholders filled
        opening = _opening(message, delivery.contact)
    # The outbound message is the first part, so the teammate sees what the contact answers.
    ConversationPart.objects.create(
        conversation=conversation, part_type=ConversationPart.Type.COMMENT, author_teammate=message.sender,
        body=opening, created_at=at,
    )  # fmt: skip
    MessageDelivery.objects.filter(pk=delivery.pk).update(
        conversation=conversation, **({"seen_at": at} if seen else {})
    )
    return conversation
