"""Email from contacts: replies routed by the signed Reply-To address they answered, and new mail to
the support address, which opens a conversation.

The email is parsed and its attachments checked (types read, images decoded) and stored before the one
transaction that writes the conversation, its part and the note: on SQLite a transaction holds the database's
write lock, which a 35 MB email must not keep for the time its files take."""

import email
import email.policy
import logging
import re
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.validators import validate_email
from django.db import transaction

from contacts import services as contact_services
from contacts.models import Contact
from contacts.selectors import contact_for_inbound_email
from conversations import email_links
from conversations.models import Conversation, ConversationPart, MessageDelivery
from conversations.services.attachments import (
    CheckedFile,
    attachment_limits,
    attachments_check_lenient,
    attachments_staged,
)
from conversations.services.email_confirmation import email_confirmed
from conversations.services.outbound import delivery_start_conversation
from conversations.services.threads import (
    MAX_BODY_LENGTH,
    conversation_add_note,
    conversation_reply_as_contact,
    conversation_start_by_contact,
)

logger = logging.getLogger(__name__)

# Room for attachments: 25 MB of files (what common mail servers take) grow by a third in base64.
MAX_RAW_EMAIL_BYTES = 35 * 1024 * 1024
# What one email's attachments may cost: at most this many files are read and checked (the rest are counted
# in one line, never checked one by one), and parts past the second limit are not even looked at. An email of
# 30,000 tiny files otherwise held a worker and the database transaction for tens of seconds.
EMAIL_MAX_FILES_READ = 50
EMAIL_MAX_PARTS_READ = 500
# One header's length (folded lines together) and all of one part's: above what mail clients write (a To of 100
# recipients is about 5,000 characters), below what makes the header parser slow (_headers_check: 8 KB of the worst
# address takes a quarter of a second, 20 KB one and a half).
MAX_HEADER_CHARS = 8 * 1024
MAX_HEADERS_CHARS = 64 * 1024
# Headers of parameters (a part's type, its file name): the parser reads every part's type while it splits the parts,
# slower still. One is a few hundred characters (a long file name in RFC 2231 pieces included); all of an email's
# together bound what its parse costs.
PARAMETER_HEADERS = frozenset({"content-type", "content-disposition"})
MAX_PARAMETER_HEADER_CHARS = 2 * 1024
MAX_PARAMETER_HEADERS_CHARS = 32 * 1024
SUBJECT_MAX_LENGTH = 255
NAME_MAX_LENGTH = 150
RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")
# Where the quoted history of a reply starts: "On … wrote:", an Outlook header block or "> " lines.
QUOTE_START_RE = re.compile(
    r"^(On .{1,300} wrote:\s*$|-{2,}\s*Original Message\s*-{2,}|From: .+$|>)", re.IGNORECASE | re.MULTILINE
)


@dataclass(frozen=True)
class InboundResult:
    conversation: Conversation
    part: ConversationPart
    warnings: tuple[str, ...] = ()


def _parse(raw: bytes | str) -> EmailMessage:
    if isinstance(raw, str):
        raw = raw.encode("utf-8", errors="replace")
    if not raw.strip():
        raise ValidationError({"message": "The email is empty."})
    if len(raw) > MAX_RAW_EMAIL_BYTES:
        raise ValidationError({"message": "The email is too large."})
    # Its headers measured first, as text (compat32 parses none of them): the parse that reads them (policy.default)
    # already reads each part's Content-Type while it splits the parts.
    _headers_check(email.message_from_bytes(raw, policy=email.policy.compat32))
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def _headers_check(message: Message) -> None:
    """Refuse headers longer than any mail client writes, before one is parsed: Python's header parser takes time
    that grows with the square of a header's length (a 40 KB From of `"a\\"` took 12 s, 160 KB six minutes; a
    Content-Type of 32,000 ";" 22 s, of 8,000 one second)."""
    parameters = 0
    for part in message.walk():
        total = 0
        for name, value in part.raw_items():
            total += len(value)
            limit = MAX_PARAMETER_HEADER_CHARS if name.lower() in PARAMETER_HEADERS else MAX_HEADER_CHARS
            if len(value) > limit:
                raise ValidationError({"message": f"The email's {name[:40]} header is too long to read."})
            if total > MAX_HEADERS_CHARS:
                raise ValidationError({"message": "The email's headers are too long to read."})
            if name.lower() in PARAMETER_HEADERS:
                parameters += len(value)
        if parameters > MAX_PARAMETER_HEADERS_CHARS:
            raise ValidationError({"message": "The email's parts' headers are too long to read."})


def _content(part: EmailMessage, warnings: list[str]) -> str:
    """The part's text; a charset Python does not know is read as UTF-8 with replacement characters."""
    try:
        return part.get_content()
    except LookupError:
        charset = str(part.get_content_charset() or "")[:40]
        warnings.append(f"Unknown charset {charset!r}: the text was decoded as UTF-8 with replacement characters.")
        logger.warning("Inbound email with an unknown charset %r, decoded with replacement.", charset)
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else str(payload or "")


def _text_of(message: EmailMessage, warnings: list[str]) -> str:
    part = message.get_body(preferencelist=("plain",))
    if part is not None:
        return _content(part, warnings)
    html = message.get_body(preferencelist=("html",))
    if html is not None:
        # Plain text only is ever stored: drop the markup instead of keeping it.
        return re.sub(r"<[^>]+>", " ", _content(html, warnings))
    return ""


def _attachments(message: EmailMessage, *, website: object, warnings: list[str]) -> list[CheckedFile]:
    """The email's files within the limits (of the conversation's website, else the defaults); each one left
    out is named in `warnings`. An email already sent cannot be refused for a file, so it is kept without it."""
    files = []
    not_read = 0
    for index, part in enumerate(message.iter_attachments()):
        if index >= EMAIL_MAX_PARTS_READ:
            warnings.append(
                f"Not kept: the email has more than {EMAIL_MAX_PARTS_READ} attachments; the rest were not read."
            )
            break
        if len(files) >= EMAIL_MAX_FILES_READ:
            not_read += 1
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and payload:
            files.append(ContentFile(payload, name=str(part.get_filename() or "attachment")))
    kept, refused = attachments_check_lenient(files=files, limits=attachment_limits(website))
    warnings.extend(f"Not kept: {reason}" for reason in refused)
    if not_read:
        warnings.append(
            f"Not kept: {not_read} more attachments (at most {EMAIL_MAX_FILES_READ} of one email are read)."
        )
    return kept


def _note_left_out(conversation: Conversation, warnings: list[str]) -> None:
    """Teammates learn which files of the contact's email were left out (the contact sees nothing of it)."""
    left_out = [warning for warning in warnings if warning.startswith("Not kept: ")]
    if left_out:
        body = "Files of this email that were not kept:\n" + "\n".join(w.removeprefix("Not kept: ") for w in left_out)
        conversation_add_note(conversation=conversation, teammate=None, body=body[:MAX_BODY_LENGTH])


def reply_text(text: str) -> str:
    """The new text of a reply, without the quoted history below it."""
    match = QUOTE_START_RE.search(text)
    if match:
        text = text[: match.start()]
    return text.strip()[:MAX_BODY_LENGTH]


def _sender(message: EmailMessage) -> str:
    addresses = getaddresses([str(message.get("From", ""))])
    return addresses[0][1].strip().lower() if addresses else ""


def _recipients(message: EmailMessage) -> set[str]:
    return {
        address.strip().lower()
        for header in RECIPIENT_HEADERS
        for _, address in getaddresses([str(v) for v in message.get_all(header, [])])
    }


def _support_address() -> str:
    return parseaddr(settings.PARLEY_SUPPORT_EMAIL)[1].strip().lower()


def _support_email_receive(message: EmailMessage) -> InboundResult:
    """Mail to the support address itself opens a conversation from its sender (a shared inbox)."""
    sender = _sender(message)
    try:
        validate_email(sender)
    except ValidationError:
        raise ValidationError({"from": "The sender's address is not a valid email address."}) from None
    warnings: list[str] = []
    text = reply_text(_text_of(message, warnings))
    subject = " ".join(str(message.get("Subject", "")).split())[:SUBJECT_MAX_LENGTH]
    body = "\n\n".join(piece for piece in (subject, text) if piece)[:MAX_BODY_LENGTH]
    files = _attachments(message, website=None, warnings=warnings)
    if not body and not files:
        raise ValidationError({"body": "The email has no subject and no text."})
    with attachments_staged(files) as staged, transaction.atomic():
        contact = contact_for_inbound_email(email=sender)
        if contact is None:
            name = " ".join(parseaddr(str(message.get("From", "")))[0].split())[:NAME_MAX_LENGTH]
            # Mail came from the address: mail from it again joins this lead (contacts.services._email_mark).
            contact = contact_services.contact_create(
                role=Contact.Role.LEAD, email=sender, name=name, email_verified=True
            )
        conversation = conversation_start_by_contact(
            contact=contact, body=body, source=Conversation.Source.EMAIL, files=staged
        )
        _note_left_out(conversation, warnings)
    part = conversation.parts.filter(author_contact=contact).order_by("-id").first()
    return InboundResult(conversation=conversation, part=part, warnings=tuple(warnings))


def email_reply_receive(*, raw: bytes | str) -> InboundResult:
    """Append an emailed answer to its conversation; forged, unknown or foreign senders are refused."""
    try:
        return _receive(raw)
    except RecursionError:  # parts inside parts, or comments inside comments in an address, a thousand deep
        raise ValidationError({"message": "The email is nested too deeply to read."}) from None


def _receive(raw: bytes | str) -> InboundResult:
    message = _parse(raw)
    target = None
    for header in RECIPIENT_HEADERS:
        for _, address in getaddresses([str(v) for v in message.get_all(header, [])]):
            target = email_links.reply_address_read(address)
            if target:
                break
        if target:
            break
    if target is None:
        if _support_address() in _recipients(message):
            return _support_email_receive(message)
        raise ValidationError({"to": "No valid Parley reply address among the recipients."})
    if target.kind == "conversation":
        conversation = Conversation.objects.select_related("contact").filter(pk=target.object_id).first()
        contact = conversation.contact if conversation else None
        delivery = None
    else:
        delivery = (
            MessageDelivery.objects.select_related("contact", "message__sender").filter(pk=target.object_id).first()
        )
        contact = delivery.contact if delivery else None
        conversation = None
    if contact is None:
        raise ValidationError({"to": "This reply address points at nothing any more."})
    if not contact.email or _sender(message) != contact.email.strip().lower():
        raise ValidationError({"from": "The sender is not the contact this address was given to."})
    if not email_confirmed(contact):
        # The address was typed into a messenger and never confirmed: its owner may not be whoever typed it, so their
        # mail opens a conversation of their own instead of joining the typist's (services.email_confirmation).
        return _support_email_receive(message)
    warnings: list[str] = []
    body = reply_text(_text_of(message, warnings))
    website = conversation.website if conversation is not None else None
    files = _attachments(message, website=website, warnings=warnings)
    if not body and not files:
        raise ValidationError({"body": "The reply has no text."})
    with attachments_staged(files) as staged, transaction.atomic():
        if conversation is None and delivery is not None:
            conversation = delivery_start_conversation(delivery=delivery)
        part = conversation_reply_as_contact(conversation=conversation, body=body, files=staged)
        _note_left_out(conversation, warnings)
    return InboundResult(conversation=conversation, part=part, warnings=tuple(warnings))
