"""Who a widget request is: the user_hash check, identification (and merge) of a user, lead emails."""

import hashlib
import hmac

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from common.row_locks import rows_lock
from contacts import services as contacts_services
from contacts.models import Contact
from contacts.selectors import contacts_with_email
from tracking.models import Website
from tracking.payloads import UserInput
from tracking.selectors import contact_belongs_to_verifying_website, contact_row_where
from tracking.services.hot_path import ActingContact
from tracking.widget_auth import widget_tokens_revoke_unverified


class IdentityVerificationFailed(Exception):
    """user_id/email sent without a valid user_hash while the website enforces verification."""


def user_hash_valid(*, website: Website, user: UserInput) -> bool:
    """Constant-time check of the hex HMAC-SHA256 of user_id (or of email when there is no user_id)."""
    if not user.user_hash:
        return False
    subject = user.user_id or user.email or ""
    expected = hmac.new(website.identity_secret.encode(), subject.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, user.user_hash.lower())


def verify_identity(*, website: Website, user: UserInput | None) -> None:
    """Refuse (IdentityVerificationFailed) a user_id/email without a valid user_hash where the website enforces it."""
    if (
        user is not None
        and user.identifies
        and website.identity_verification == Website.IdentityVerification.ENFORCED
        and not user_hash_valid(website=website, user=user)
    ):
        raise IdentityVerificationFailed


def user_field_errors(error: ValidationError) -> ValidationError:
    """Name the widget's fields (user.email, user.user_id, …) in errors raised by the contact services."""
    renamed = {"external_id": "user_id", "signed_up_at": "created_at"}
    messages = {}
    for name, texts in error.message_dict.items():
        messages[f"user.{renamed.get(name, name)}"] = texts
    return ValidationError(messages)


def matches_identity(contact: Contact, user: UserInput) -> bool:
    """Whether a contact is the user the widget names (same user id, or same email when no user id)."""
    if contact.role != Contact.Role.USER:
        return False
    if user.user_id:
        return contact.external_id == user.user_id
    return bool(user.email) and contact.email.lower() == (user.email or "").lower()


def identify(
    *,
    current: ActingContact | None,
    user: UserInput,
    proven_only: bool = False,
    on_verifying_website: bool = False,
    email_selects_user: bool = True,
) -> ActingContact:
    """The user this browser now acts for; an anonymous current contact merges into it.

    With `proven_only` (a valid user_hash, required where verification is enforced) only the
    identifier that user_hash signs picks the contact: given a user_id, the unsigned email never
    selects a user (else anyone could sign their own id and claim a victim by email). Without it, an
    existing user who belongs to a website that enforces verification is refused (docs/architecture.md,
    "Widget trust rules"). Given a user_id, an email that another user already has is left off, never
    refused: a refusal would tell anyone with a widget token whose email it is. Without
    `email_selects_user` (an update without a valid user_hash), an email alone sent by a user is that
    user's new email (left off likewise), never a switch to the user who has it.
    """
    if current is not None and matches_identity(current.contact, user):
        email_changed = bool(user.user_id and user.email and current.contact.email.lower() != user.email.lower())
        if email_changed and not _email_of_another_user(user.email, contact=current.contact):
            return ActingContact(contacts_services.contact_update(contact=current.loaded(), email=user.email))
        return current
    if (
        not email_selects_user
        and not user.user_id
        and current is not None
        and current.contact.role == Contact.Role.USER
    ):
        if user.email and not _email_of_another_user(user.email, contact=current.contact):
            return ActingContact(contacts_services.contact_update(contact=current.loaded(), email=user.email))
        return current
    return ActingContact(
        _identify_loaded(
            current=current.loaded() if current is not None else None,
            user=user,
            proven_only=proven_only,
            on_verifying_website=on_verifying_website,
        )
    )


def _identify_loaded(
    *, current: Contact | None, user: UserInput, proven_only: bool, on_verifying_website: bool
) -> Contact:
    """`identify` once the current contact's row is loaded and it is not already this user."""
    unproven_email = proven_only and bool(user.user_id)
    # A signed email (user_hash of the email, no user_id) is its owner's: it selects only a user whose address was
    # shown to be theirs, never one who typed it unsigned (attack review: the site's signed sign-in of a guest merged
    # the guest into the user who had typed the guest's address, and the mark then confirmed it there).
    signed_email = proven_only and not user.user_id
    if current is not None and current.role != Contact.Role.USER:
        # A visitor or lead merges into the user found below: both are locked first, in id order, as every writer
        # holding several contacts takes them (bulk tagging, erasure). Locking the user, then the visitor in the
        # merge, deadlocked with them whenever the visitor's id was the lower.
        rows_lock(Contact, [current.pk, *_users_named(user, unproven_email=unproven_email, signed_email=signed_email)])
    target = None
    # Locked: an unsigned claim waits for a verified sign-in of the same person to commit, then sees
    # it (and is refused); a claim that commits first has its token revoked by that sign-in.
    if user.user_id:
        target = contact_row_where("external_id", user.user_id, for_update=True)
    if target is None and user.email and not unproven_email:
        by_email = _users_with_email(user.email, signed_email=signed_email).select_for_update().first()
        # Given with a user_id, an email selects no user (it is left off below when another user has it),
        # except the browser's own user known by email only, which now gets its user_id.
        if by_email is not None and not (
            user.user_id and (by_email.external_id or by_email.pk != getattr(current, "pk", None))
        ):
            target = by_email
    if (
        target is not None
        and not proven_only
        and target.pk != getattr(current, "pk", None)
        and contact_belongs_to_verifying_website(contact_id=target.pk)
    ):
        raise IdentityVerificationFailed  # a weaker website must not expose a contact verified elsewhere
    if target is not None and (on_verifying_website or (signed_email and target.email_verified_at is None)):
        # Whoever claimed this user unsigned before (on a website without verification, or by its email) loses that
        # token. Not deferred to the commit: a revocation that outlives a rollback only asks for a new sign-in.
        widget_tokens_revoke_unverified(contact=target)
    if target is None and signed_email:
        _signed_email_take_back(user.email)
    identity = {"external_id": user.user_id, "email": user.email}
    if user.user_id and user.email and _email_of_another_user(user.email, contact=target):
        identity["email"] = None
    if target is None:
        if current is not None and current.role != Contact.Role.USER:
            return contacts_services.contact_convert(contact=current, role=Contact.Role.USER, **identity)
        return contacts_services.contact_create(
            role=Contact.Role.USER, **{k: v for k, v in identity.items() if v is not None}
        )
    if target.role != Contact.Role.USER:
        target = contacts_services.contact_convert(contact=target, role=Contact.Role.USER, **identity)
    else:
        missing = {k: v for k, v in identity.items() if v is not None and not getattr(target, k) and k == "external_id"}
        email = identity["email"]
        if user.user_id and email and target.email.lower() != email.lower():
            missing["email"] = email
        if missing:
            target = contacts_services.contact_update(contact=target, **missing)
    if current is not None and current.pk != target.pk and current.role != Contact.Role.USER:
        target = contacts_services.contact_merge(source=current, into=target)
    return target


def _users_named(user: UserInput, *, unproven_email: bool, signed_email: bool) -> list[int]:
    """The contacts this identification may pick (read without a lock)."""
    ids: list[int] = []
    if user.user_id:
        ids += Contact.objects.filter(external_id=user.user_id).values_list("pk", flat=True)
    if user.email and not unproven_email:
        ids += _users_with_email(user.email, signed_email=signed_email).values_list("pk", flat=True)
    return ids


def _users_with_email(email: str, *, signed_email: bool) -> QuerySet[Contact]:
    """The users an email selects. With `signed_email`, not a user with a user_id of their own who typed the address
    unsigned: only one whose address was shown to be theirs, or one known by that email alone."""
    users = contacts_with_email(email=email).filter(role=Contact.Role.USER)
    if signed_email:
        users = users.filter(Q(email_verified_at__isnull=False) | Q(external_id__isnull=True) | Q(external_id=""))
    return users


def _signed_email_take_back(email: str) -> None:
    """The site signed this address for a new user: users with a user_id of their own who only typed it (unsigned)
    lose it, as the address is someone else's (one user per email)."""
    typed = (
        contacts_with_email(email=email)
        .filter(role=Contact.Role.USER, email_verified_at__isnull=True)
        .exclude(Q(external_id__isnull=True) | Q(external_id=""))
        .select_for_update()
    )
    for holder in typed:
        contacts_services.contact_update(contact=holder, email="")


def _email_of_another_user(email: str, *, contact: Contact | None) -> bool:
    users = contacts_with_email(email=email).filter(role=Contact.Role.USER)
    return users.exclude(pk=getattr(contact, "pk", None)).exists()


def lead_email(*, website: Website, user: UserInput | None, contact: Contact) -> str | None:
    """An email a visitor or lead gives without user_id or valid user_hash: a lead's contact detail, not an identification."""
    if user is None or not user.email or user.user_id or contact.role == Contact.Role.USER:
        return None
    return None if user_hash_valid(website=website, user=user) else user.email


def lead_email_record(*, acting: ActingContact, email: str) -> ActingContact:
    """The visitor becomes a lead with this email; a later identification converts or merges that lead."""
    if acting.contact.role == Contact.Role.LEAD and acting.contact.email.lower() == email.lower():
        return acting
    try:
        return ActingContact(
            contacts_services.contact_convert(contact=acting.loaded(), role=Contact.Role.LEAD, email=email)
        )
    except ValidationError as error:
        raise user_field_errors(error) from None
