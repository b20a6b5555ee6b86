"""An address is confirmed before Parley emails it anything of a conversation: double opt-in, asked when needed.

Anyone can type any address into a messenger, or send one unsigned beside a signed user_id. A reply emailed there put
the support address's name, and a subject the typist wrote, in a stranger's inbox; the stranger's emailed answer then
landed in the typist's conversation. So a conversation's emails (a teammate's reply, a rating request) go only to an
address shown to be the contact's (`Contact.email_verified_at`). The first time one would go to an address not shown
yet, Parley emails a confirmation link instead, with nothing of the conversation in it: no subject, no name, no text
the typist chose. Following it (a POST: link scanners only GET) marks the address and emails the replies still unread.
An emailed answer from an address not confirmed never joins the thread (`inbound`): it opens a conversation of its own.
"""

import datetime as dt
import re
from dataclasses import dataclass
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core import mail, signing
from django.core.mail.message import sanitize_address
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.template.loader import render_to_string
from django.urls import reverse

from common.mail import email_header_line
from common.rate_limit import Limit, RateLimited, rate_limit, subject_hash
from contacts import services as contact_services
from contacts.models import Contact
from conversations.models import Conversation, ConversationPart
from tracking.models import Website

CONFIRM_SALT = "parley.email-confirm"
CONFIRM_LINK_MAX_AGE = dt.timedelta(days=7)
MAX_TOKEN_LENGTH = 400
# A confirmation per contact and address a day (a lost one is asked again by the next day's reply), and at most a few
# per address a day, however many leads type it: a stranger's inbox gets little more than one a day from Parley.
CONFIRMATIONS_PER_CONTACT_PER_DAY = 1
CONFIRMATIONS_PER_ADDRESS_PER_DAY = 3
DAY_SECONDS = 24 * 3600
# Confirmed, the replies still unread go out: those of the contact's latest conversations, one each.
UNREAD_REPLIES_SENT_ON_CONFIRMATION = 5
# Where dots in the local part reach the same inbox (the allowance counts them as one mailbox).
GMAIL_DOMAINS = ("gmail.com", "googlemail.com")
# Where any address at a subdomain reaches the mailbox the subdomain names.
SUBDOMAIN_ADDRESSING = ("fastmail.com", "fastmail.fm")
# Proton's personal addresses: one account at each domain, and its dots, hyphens and underscores are transparent
# ("user_name" and "user.name" reach "username", as Proton's help on usernames says).
PROTON_DOMAINS = ("proton.me", "protonmail.com", "protonmail.ch", "pm.me")
# Yahoo's disposable addresses are "base-keyword@" (a Yahoo username holds no hyphen).
YAHOO_DOMAINS = ("yahoo.com", "ymail.com", "rocketmail.com")


def email_confirmed(contact: Contact) -> bool:
    """Whether the contact's email was shown to be theirs (a teammate's or the API's word, mail from it, or the link)."""
    return bool(contact.email) and contact.email_verified_at is not None


def email_confirmed_or_asked(*, contact: Contact, website: Website | None) -> bool:
    """True when the contact's address is confirmed. Otherwise False, and a confirmation link is emailed to it unless
    one went there within the day (per contact, and a few per address whoever typed it)."""
    if email_confirmed(contact):
        return True
    if not contact.email or contact.unsubscribed_from_emails or contact.processing_restricted:
        return False
    mailbox = _mailbox(contact.email)
    if mailbox is None:  # no mail server could take it (a domain label too long): nothing to confirm, nothing spent
        return False
    address = subject_hash(mailbox)
    try:
        # Apart: a contact asked again within the day uses up nothing of the address's own allowance.
        rate_limit([Limit("email-confirm-contact", f"{contact.pk}.{address}", CONFIRMATIONS_PER_CONTACT_PER_DAY,
                          window=DAY_SECONDS)])  # fmt: skip
        rate_limit([Limit("email-confirm-address", address, CONFIRMATIONS_PER_ADDRESS_PER_DAY, window=DAY_SECONDS)])
    except RateLimited:
        return False
    _confirmation_email(contact=contact, website=website).send()
    return False


def _mailbox(email: str) -> str | None:
    """The mailbox an address reaches, as the mail goes out (Django's own `sanitize_address`): quotes and escapes
    taken off the local part, the domain in IDNA form, all in lower case. Attack review: full-width letters in the
    domain, then "b\\omb"@ forms of the local part, each had an allowance of its own for one mailbox. Only the
    allowance counts by it; the mail goes to the address as typed. None when no mail server could take it, or for an
    address at an IP literal, which no person gives and which reaches the local part of whatever server it names."""
    try:
        address = sanitize_address(email.strip(), "utf-8").lower()
    except (ValueError, UnicodeError):
        return None
    # Re-attack: bomb+1@, bomb+2@… reach one inbox (subaddresses, RFC 5233), as b.o.m.b@ does at Gmail, b_o-m.b@ at
    # Proton and bomb-1@ at Yahoo. Counted as one: two people who truly differ only by a tag share three confirmations
    # a day, which only slows them.
    local, _, domain = address.rpartition("@")
    if domain.startswith("["):  # bomb@[93.184.216.34]: the mail server at that address delivers it to its own bomb@
        return None
    local = local.split("+", 1)[0] or local
    if domain in GMAIL_DOMAINS:
        local, domain = local.replace(".", ""), GMAIL_DOMAINS[0]
    elif domain in PROTON_DOMAINS:
        local, domain = re.sub(r"[._-]", "", local) or local, PROTON_DOMAINS[0]
    elif domain in YAHOO_DOMAINS or domain.startswith("yahoo."):  # yahoo.co.uk, yahoo.fr…
        local = local.split("-", 1)[0] or local
    for base in SUBDOMAIN_ADDRESSING:  # anything@me.fastmail.com reaches me@fastmail.com
        if domain.endswith(f".{base}"):
            local, domain = domain.removesuffix(f".{base}").rsplit(".", 1)[-1], base
    return f"{local}@{domain}"


def _address_digest(email: str) -> str:
    """What a link carries of the address: a keyed digest, so that the URL (in logs, in proxies) shows no address, and
    a long address still makes a short link."""
    return subject_hash(f"confirm:{email.strip().lower()}")


def confirmation_token(*, contact_id: int, email: str, website_id: int | None) -> str:
    """A signed, timestamped token naming one contact, the address it confirms (a digest) and the website asking."""
    return signing.TimestampSigner(salt=CONFIRM_SALT).sign_object([contact_id, _address_digest(email), website_id])


def confirmation_url(*, contact_id: int, email: str, website_id: int | None) -> str:
    token = confirmation_token(contact_id=contact_id, email=email, website_id=website_id)
    return settings.PUBLIC_URL + reverse("conversations:email_confirm", args=[token])


def team_sender(website: Website | None) -> str:
    """The From of a conversation's emails: the website's name (the team the contact talked to) at the configured
    address ("Acme Support <support@…>"); the configured sender as it is for a conversation without a website. The
    walk found a confirmation from "Demo shop" followed by its reply from "Parley", a name customers never saw."""
    name = " ".join((website.name if website else "").split())  # one line: no header can be added through it
    if not name:
        return settings.DEFAULT_FROM_EMAIL
    return formataddr((name, parseaddr(settings.DEFAULT_FROM_EMAIL)[1]))


def _confirmation_email(*, contact: Contact, website: Website | None) -> mail.EmailMultiAlternatives:
    team = " ".join((website.name if website else "").split())
    context = {
        "team_name": team,
        "url": confirmation_url(contact_id=contact.pk, email=contact.email, website_id=website and website.pk),
        "valid_days": CONFIRM_LINK_MAX_AGE.days,
    }
    email = mail.EmailMultiAlternatives(
        subject=email_header_line(f"Confirm your email address for {team}" if team else "Confirm your email address"),
        body=render_to_string("emails/email_confirmation.txt", context),
        from_email=team_sender(website),
        to=[contact.email],
        headers={"Auto-Submitted": "auto-generated"},  # sent by Parley, not written by a person (RFC 3834)
    )
    email.attach_alternative(render_to_string("emails/email_confirmation.html", context), "text/html")
    return email


@dataclass(frozen=True)
class Confirmation:
    """What a confirmation link names: `state` is "invalid", "expired", "changed" (the contact's address is another
    now, or the contact is gone) or "ready" (it can be confirmed, or was)."""

    state: str
    contact: Contact | None = None
    email: str = ""
    website: Website | None = None


def confirmation_read(token: str) -> Confirmation:
    """The contact and address a link names, and whether it can still confirm them."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        return Confirmation("invalid")
    signer = signing.TimestampSigner(salt=CONFIRM_SALT)
    try:
        value = signer.unsign_object(token, max_age=CONFIRM_LINK_MAX_AGE)
    except signing.SignatureExpired:
        return Confirmation("expired")
    except (signing.BadSignature, ValueError, UnicodeError):
        return Confirmation("invalid")
    if not (
        isinstance(value, list)
        and len(value) == 3
        and isinstance(value[0], int)
        and isinstance(value[1], str)
        and (value[2] is None or isinstance(value[2], int))
    ):  # signed by us, so never in practice: another version's shape
        return Confirmation("invalid")
    contact_id, digest, website_id = value
    website = Website.objects.filter(pk=website_id).first() if website_id is not None else None
    contact = Contact.objects.filter(pk=contact_id).first()
    if contact is None or not contact.email or _address_digest(contact.email) != digest:
        return Confirmation("changed", website=website)
    return Confirmation("ready", contact=contact, email=contact.email.strip(), website=website)


@transaction.atomic
def email_confirm(*, token: str) -> Confirmation:
    """Mark the address the link names as the contact's (once; again is a no-op), then email the replies it has not
    read yet. A link to an address the contact no longer has confirms nothing."""
    found = confirmation_read(token)
    if found.state != "ready":
        return found
    contact = Contact.objects.select_for_update().filter(pk=found.contact.pk).first()
    if contact is None or contact.email.strip() != found.email:  # changed (or erased) since it was read
        return Confirmation("changed", website=found.website)
    if contact.email_verified_at is None:
        contact = contact_services.contact_email_confirm(contact=contact)
        _unread_replies_send(contact)
    return Confirmation("ready", contact=contact, email=found.email, website=found.website)


def _unread_replies_send(contact: Contact) -> None:
    """Once the address is confirmed: the latest reply of each recent conversation the contact has not read, by email
    (the tasks check again that it is unread, and send each reply once)."""
    from conversations import tasks

    latest_reply = (
        ConversationPart.objects.filter(
            conversation=OuterRef("pk"),
            part_type=ConversationPart.Type.COMMENT,
            author_teammate__isnull=False,
            emailed_at__isnull=True,
        )
        .order_by("-created_at", "-id")
        .values("pk")[:1]
    )
    rows = (
        Conversation.objects.filter(contact=contact)
        .filter(Q(source=Conversation.Source.EMAIL) | Q(website__email_unread_replies_after_minutes__isnull=False))
        .annotate(reply_id=Subquery(latest_reply))
        .filter(reply_id__isnull=False)
        .order_by("-updated_at")
        .values_list("reply_id", "source")[:UNREAD_REPLIES_SENT_ON_CONFIRMATION]
    )
    for part_id, source in rows:
        task = tasks.email_conversation_reply if source == Conversation.Source.EMAIL else tasks.email_unread_reply
        transaction.on_commit(lambda task=task, part_id=part_id: task.delay(part_id))
