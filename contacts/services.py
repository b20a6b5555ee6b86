"""Writes to contacts, tags and data attributes.

Every write of a field that a teammate, the API or the site sets (WRITABLE_FIELDS), of a contact's
role and identity, and every create, merge, erase and export goes through these functions. Two
kinds of field are written elsewhere, set-based and without these checks, because nobody types them:
the tracked fields (first and last seen, web sessions, location, device) by the tracking services
on the ping's path, and the messaging timestamps (fields 10-13) by
`conversations.services.threads.contacts_touch_messaging`. Deletion with a contact's history is
`contacts.deletion`; the demo seeding (`contacts.demo`) bulk-inserts. Nothing else writes contact rows.
"""

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import models, transaction
from django.utils import timezone

from common.parsing import MOMENT_RANGE, text_problem, utc_or_none
from common.row_locks import row_gone_error, rows_hold
from contacts import lifecycle, uses
from contacts.custom_attributes import (
    coerce_value,
    custom_attributes_clean,
    custom_attributes_merge,
    data_attributes_cap_check,
    validate_attribute_name,
)
from contacts.deletion import contacts_delete_with_history
from contacts.models import ConsentSource, Contact, ContactNote, ContactTag, DataAttribute, PrivacyAuditEntry, Tag
from contacts.selectors import contacts_with_email, tags_named
from contacts.signals import contact_changed, contact_tag_changed

Teammate = AbstractBaseUser
# Fields a teammate, the API or the site may write directly. The tracked fields (last seen,
# sessions, location, device) are written only by the tracking services.
WRITABLE_FIELDS = frozenset(
    {
        "name", "email", "phone", "avatar", "external_id", "signed_up_at", "language_override",
        "unsubscribed_from_emails", "owner", "browser_language", "is_archived",
        "last_replied_at", "last_contacted_at",
    }
)  # fmt: skip
ROLE_RANK = {Contact.Role.VISITOR: 0, Contact.Role.LEAD: 1, Contact.Role.USER: 2}

# --- validation ---------------------------------------------------------------------------------


class AlreadyExists(ValidationError):
    """A write would repeat a value that must be unique (the REST API answers 409 Conflict)."""

    def __init__(self, *, field: str, message: str) -> None:
        super().__init__({field: message})
        self.field = field


class ContactIdentityTaken(AlreadyExists):
    """Another contact already holds this external id, or (among users) this email."""

    def __init__(self, *, field: str, message: str, contact_pk: int) -> None:
        super().__init__(field=field, message=message)
        self.contact_pk = contact_pk


def _validate_fields(*, contact: Contact, fields: dict[str, Any], role: str | None = None) -> None:
    """Check writable fields; `role` is the role the contact will have after the write."""
    unknown = set(fields) - WRITABLE_FIELDS
    if unknown:
        raise ValidationError({name: "This field cannot be written." for name in sorted(unknown)})
    for name, value in fields.items():
        field = Contact._meta.get_field(name)
        if isinstance(field, models.CharField) and value is not None:
            if not isinstance(value, str):
                raise ValidationError({name: "Must be a string."})
            if len(value) > field.max_length:
                raise ValidationError({name: f"Must be at most {field.max_length} characters."})
        if isinstance(field, models.DateTimeField) and value is not None:
            if not isinstance(value, dt.datetime) or timezone.is_naive(value):
                raise ValidationError({name: "Must be a timezone-aware date and time."})
            if utc_or_none(value) is None:
                raise ValidationError({name: f"Must be a date and time {MOMENT_RANGE}."})
        if isinstance(field, models.BooleanField) and not isinstance(value, bool):
            raise ValidationError({name: "Must be true or false."})
    if fields.get("email"):
        try:
            EmailValidator()(fields["email"])
        except ValidationError:
            raise ValidationError({"email": "Enter a valid email address."}) from None
    if fields.get("avatar"):
        try:
            URLValidator(schemes=["http", "https"])(fields["avatar"])
        except ValidationError:
            raise ValidationError({"avatar": "Enter a valid http(s) URL."}) from None
    if "external_id" in fields and fields["external_id"] is not None:
        fields["external_id"] = fields["external_id"].strip() or None
        holders = Contact.objects.filter(external_id=fields["external_id"]).exclude(pk=contact.pk)
        holder_pk = holders.values_list("pk", flat=True).first() if fields["external_id"] else None
        if holder_pk is not None:
            raise ContactIdentityTaken(
                field="external_id", message="Another contact already has this user id.", contact_pk=holder_pk
            )
    role = role or contact.role
    email = fields.get("email", contact.email)
    becomes_user = role == Contact.Role.USER and (contact.pk is None or contact.role != role)
    if role == Contact.Role.USER and email and ("email" in fields or becomes_user):
        taken = contacts_with_email(email=email).filter(role=Contact.Role.USER)
        holder_pk = taken.exclude(pk=contact.pk).values_list("pk", flat=True).first()
        if holder_pk is not None:
            raise ContactIdentityTaken(
                field="email", message="A user with this email already exists.", contact_pk=holder_pk
            )


def contact_validate(
    *,
    contact: Contact,
    fields: dict[str, Any],
    role: str | None = None,
    custom_attributes: dict[str, Any] | None = None,
) -> None:
    """Raise the ValidationError a write of these values would raise, without writing."""
    _validate_fields(contact=contact, fields=dict(fields), role=role)
    if custom_attributes is not None:
        custom_attributes_clean(values=custom_attributes)


def _apply_custom_attributes(
    *, contact: Contact, custom_attributes: dict[str, Any] | None, define: bool = True
) -> None:
    if custom_attributes is None:
        return
    contact.custom_attributes = custom_attributes_apply(
        current=contact.custom_attributes, values=custom_attributes, model=DataAttribute.Model.CONTACT, define=define
    )


def custom_attributes_apply(
    *, current: dict[str, Any] | None, values: Any, model: str, define: bool = True
) -> dict[str, Any]:
    """Check `values` against the model's data attributes (defining new ones when allowed) and merge them in.

    The one rule for every model with custom attributes (contacts, conversations): None removes a key.
    Call it inside the transaction that saves the result.
    """
    cleaned, new_definitions = custom_attributes_clean(
        values=values, model=model, allow_create=None if define else False
    )
    if new_definitions:
        DataAttribute.objects.bulk_create(new_definitions, ignore_conflicts=True)
    return custom_attributes_merge(current or {}, cleaned)


# --- contacts -----------------------------------------------------------------------------------


def _email_mark(contact: Contact, *, verified: bool) -> None:
    """Whether the contact's (new) email was shown to be theirs: given by a teammate or the API, or the address mail
    came from (`verified`); not one the messenger gave, typed by a visitor or sent unsigned beside a signed user_id.
    Mail to the support address joins a contact only by a shown address (selectors.contact_for_inbound_email)."""
    contact.email_verified_at = timezone.now() if verified and contact.email else None


def contact_email_confirm(*, contact: Contact) -> Contact:
    """The contact showed the address is theirs: they followed the link emailed to it (a locked row, in the caller's
    transaction)."""
    _email_mark(contact, verified=True)
    contact.save(update_fields=["email_verified_at", "updated_at"])
    return contact


@transaction.atomic
def contact_create(
    *,
    role: str = Contact.Role.USER,
    custom_attributes: dict[str, Any] | None = None,
    tags: Iterable[Tag] = (),
    actor: Teammate | None = None,
    define_attributes: bool = True,
    first_website_id: int | None = None,
    email_verified: bool = False,
    **fields: Any,
) -> Contact:
    """Create a contact; a user needs an external id or an email (`define_attributes` as in contact_update;
    `first_website_id`: the website whose widget created it, the only one its anonymous_id is honoured on;
    `email_verified`: its email was shown to be its own, as in `_email_mark`)."""
    if role not in Contact.Role.values:
        raise ValidationError({"role": f"Must be one of: {', '.join(Contact.Role.values)}."})
    contact = Contact(role=role, first_website_id=first_website_id)
    _validate_fields(contact=contact, fields=fields)
    if role == Contact.Role.USER and not (fields.get("external_id") or fields.get("email")):
        raise ValidationError({"external_id": "A user needs an external id (user_id) or an email."})
    for name, value in fields.items():
        setattr(contact, name, value)
    _email_mark(contact, verified=email_verified)
    _apply_custom_attributes(contact=contact, custom_attributes=custom_attributes, define=define_attributes)
    contact.save()
    if contact.role != Contact.Role.VISITOR:
        contact_changed.send(sender=Contact, topic=f"contact.{contact.role}.created", contact=contact)
    for tag in tags:
        contact_tag(contact=contact, tag=tag, actor=actor)
    return contact


# A contact marked verified is marked once; the cache spares the UPDATE on later sign-ins.
VERIFIED_MARK_CACHE_SECONDS = 24 * 3600


def contact_mark_identity_verified(*, contact: Contact) -> None:
    """A website that enforces verification signed this contact in: no website may claim it unsigned.

    A row read for this sign-in says whether it is marked already (no round trip); a partial one (the widget's
    cached snapshot of a returning user) asks the cache instead."""
    if "identity_verified_at" not in contact.get_deferred_fields():
        marked = contact.identity_verified_at is not None
    else:
        marked = not cache.add(f"contacts:identity-verified:{contact.pk}", 1, VERIFIED_MARK_CACHE_SECONDS)
    if not marked:  # (the query built only then: building it cost a returning user's sign-in ~0.1 ms)
        Contact.objects.filter(pk=contact.pk, identity_verified_at__isnull=True).update(
            identity_verified_at=timezone.now()
        )


def contact_mark_email_verified(*, contact: Contact, email: str) -> None:
    """A website signed this address (a user_hash of the email): it is the contact's, as an address the API gives is.
    A partial row (the widget's cached snapshot of a returning user) waits for the next full read, a new session or
    sign-in: a steady ping pays nothing for it."""
    if "email_verified_at" in contact.get_deferred_fields() or contact.email_verified_at is not None:
        return
    if contact.email.strip().lower() != email.strip().lower():
        return
    contact.email_verified_at = timezone.now()
    # Still that address: a change the messenger made meanwhile is not marked.
    Contact.objects.filter(pk=contact.pk, email__iexact=email.strip(), email_verified_at__isnull=True).update(
        email_verified_at=contact.email_verified_at
    )


@transaction.atomic
def contact_update(
    *,
    contact: Contact,
    custom_attributes: dict[str, Any] | None = None,
    define_attributes: bool = True,
    email_verified: bool = False,
    **fields: Any,
) -> Contact:
    """Update writable fields and merge custom attributes (None removes an attribute).

    `define_attributes=False` (unverified widget input, a teammate without the right to add data
    attributes): an unknown attribute name is refused instead of becoming a new definition. A changed email is
    marked as `email_verified` says (`_email_mark`); the same email again keeps its mark.
    """
    _validate_fields(contact=contact, fields=fields)
    changed = [name for name, value in fields.items() if getattr(contact, name) != value]
    for name in changed:
        setattr(contact, name, fields[name])
    if "email" in changed:
        _email_mark(contact, verified=email_verified)
        changed.append("email_verified_at")
    before = contact.custom_attributes
    _apply_custom_attributes(contact=contact, custom_attributes=custom_attributes, define=define_attributes)
    if contact.custom_attributes != before:
        changed.append("custom_attributes")
    if contact.role == Contact.Role.USER and not (contact.external_id or contact.email):
        raise ValidationError({"external_id": "A user needs an external id (user_id) or an email."})
    if changed:
        contact.save(update_fields=[*changed, "updated_at"])
        if "is_archived" in changed:
            contact_changed.send(
                sender=Contact,
                topic="contact.archived" if contact.is_archived else "contact.unarchived",
                contact=contact,
            )
        if contact.role != Contact.Role.VISITOR:
            contact_changed.send(sender=Contact, topic=f"contact.{contact.role}.updated", contact=contact)
    return contact


@transaction.atomic
def contact_convert(
    *,
    contact: Contact,
    role: str,
    external_id: str | None = None,
    email: str | None = None,
    email_verified: bool = False,
) -> Contact:
    """Promote visitor → lead → user; a contact is never demoted (a new `email` marked as in contact_update)."""
    if role not in Contact.Role.values:
        raise ValidationError({"role": f"Must be one of: {', '.join(Contact.Role.values)}."})
    if ROLE_RANK[role] < ROLE_RANK[contact.role]:
        raise ValidationError({"role": f"A {contact.role} cannot become a {role}."})
    fields = {k: v for k, v in {"external_id": external_id, "email": email}.items() if v is not None}
    _validate_fields(contact=contact, fields=fields, role=role)
    if role == Contact.Role.USER and not (
        fields.get("external_id") or contact.external_id or fields.get("email") or contact.email
    ):
        raise ValidationError({"external_id": "A user needs an external id (user_id) or an email."})
    email_changed = "email" in fields and fields["email"] != contact.email
    for name, value in fields.items():
        setattr(contact, name, value)
    if email_changed:
        _email_mark(contact, verified=email_verified)
    signed_up = contact.role != Contact.Role.USER and role == Contact.Role.USER
    contact.role = role
    contact.save(update_fields=["role", *fields, *(["email_verified_at"] if email_changed else []), "updated_at"])
    if signed_up:
        contact_changed.send(sender=Contact, topic="contact.lead.signed_up", contact=contact)
    return contact


@transaction.atomic
def contact_convert_and_update(
    *,
    contact: Contact,
    role: str,
    custom_attributes: dict[str, Any] | None = None,
    define_attributes: bool = True,
    **fields: Any,
) -> Contact:
    """Update a contact and, when `role` differs from its own, convert it first (never demoted; its
    external id and email go with the conversion), in one transaction: a refused update converts nothing. The
    API's: an email it gives is shown to be the contact's (`_email_mark`)."""
    if role != contact.role:
        contact = contact_convert(
            contact=contact, role=role, external_id=fields.pop("external_id", None), email=fields.pop("email", None),
            email_verified=True,
        )  # fmt: skip
    return contact_update(
        contact=contact, custom_attributes=custom_attributes, define_attributes=define_attributes, email_verified=True,
        **fields,
    )  # fmt: skip


@transaction.atomic
def visitor_convert(
    *,
    visitor: Contact,
    role: str,
    external_id: str | None = None,
    email: str | None = None,
    user: Contact | None = None,
) -> Contact:
    """An anonymous visitor becomes a lead (given its email), or a user: merged into `user` when that
    is an existing user (the one the caller's reference named), else promoted with `external_id` and `email`. The
    API's: the email it gives is shown to be the contact's (`_email_mark`)."""
    if role == Contact.Role.LEAD:
        contact = contact_convert(contact=visitor, role=Contact.Role.LEAD)
        if email:
            contact_update(contact=contact, email=email, email_verified=True)
        return contact
    if user is not None and user.role == Contact.Role.USER:
        return contact_merge(source=visitor, into=user)
    return contact_convert(
        contact=visitor, role=Contact.Role.USER, external_id=external_id, email=email, email_verified=True
    )


def _move_related_rows(*, source: Contact, into: Contact) -> None:
    """Repoint every row that references `source` at `into` (declared merge handlers first)."""
    for relation in Contact._meta.get_fields(include_hidden=True):
        if not (relation.auto_created and not relation.concrete and relation.one_to_many):
            continue
        model = relation.related_model
        handler = lifecycle.merge_handler(model)
        if handler is not None:
            handler(source, into)
        else:
            model._base_manager.filter(**{relation.field.name: source}).update(**{relation.field.name: into})


def contact_tags_merge(source: Contact, into: Contact) -> None:
    """Merge handler: the source's tags move to `into`, a tag both have is kept once."""
    existing = set(ContactTag.objects.filter(contact=into).values_list("tag_id", flat=True))
    ContactTag.objects.filter(contact=source, tag_id__in=existing).delete()
    ContactTag.objects.filter(contact=source).update(contact=into)


_EARLIEST_FIELDS = ("first_seen_at", "signed_up_at")
_LATEST_FIELDS = (
    "last_seen_at",
    "last_contacted_at",
    "last_replied_at",
    "last_email_opened_at",
    "last_email_clicked_at",
)
_FILL_BLANK_FIELDS = (
    "name", "phone", "avatar", "city", "country", "country_name", "os", "browser", "browser_version",
    "browser_language", "language_override", "owner_id",
)  # fmt: skip


def _merge_consent(*, source: Contact, into: Contact) -> None:
    """The most protective state wins: a refusal on either record holds, purpose by purpose, as does
    an objection made through a request and a restriction, whichever record carried them."""
    for name in ("analytics_consent", "marketing_consent"):
        values = {getattr(source, name), getattr(into, name)}
        setattr(into, name, False if False in values else (True if True in values else None))
    held = [c for c in (source, into) if c.consent_source == ConsentSource.REQUEST and c.marketing_consent is False]
    newer = source.consent_updated_at and (
        not into.consent_updated_at or source.consent_updated_at > into.consent_updated_at
    )
    origin = held[0] if held else (source if newer else into)
    into.consent_source, into.consent_updated_at = origin.consent_source, origin.consent_updated_at
    into.processing_restricted = into.processing_restricted or source.processing_restricted


@transaction.atomic
def contact_merge(*, source: Contact, into: Contact) -> Contact:
    """Merge a visitor or lead into a user: its history moves over and the source is deleted."""
    if source.pk == into.pk:
        raise ValidationError({"from": "A contact cannot be merged into itself."})
    if source.role == Contact.Role.USER:
        raise ValidationError({"from": "Only a visitor or a lead can be merged into a user."})
    if into.role != Contact.Role.USER:
        raise ValidationError({"into": "Contacts can only be merged into a user."})
    # In id order, as every writer holding several contacts takes them (bulk tagging, erasure): not a deadlock.
    locked = {c.pk: c for c in Contact.objects.select_for_update().filter(pk__in=[source.pk, into.pk]).order_by("pk")}
    if len(locked) != 2:
        raise ValidationError({"from": "The contact no longer exists."})
    source, into = locked[source.pk], locked[into.pk]
    for name in _EARLIEST_FIELDS:
        values = [v for v in (getattr(source, name), getattr(into, name)) if v]
        setattr(into, name, min(values) if values else None)
    for name in _LATEST_FIELDS:
        values = [v for v in (getattr(source, name), getattr(into, name)) if v]
        setattr(into, name, max(values) if values else None)
    for name in _FILL_BLANK_FIELDS:
        if not getattr(into, name) and getattr(source, name):
            setattr(into, name, getattr(source, name))
    if not into.email and source.email:
        into.email, into.email_verified_at = source.email, source.email_verified_at
    into.web_sessions_count += source.web_sessions_count
    into.unsubscribed_from_emails = into.unsubscribed_from_emails or source.unsubscribed_from_emails
    _merge_consent(source=source, into=into)
    into.custom_attributes = {**(source.custom_attributes or {}), **(into.custom_attributes or {})}
    _move_related_rows(source=source, into=into)
    for hook in lifecycle.merge_hooks():
        hook(source.pk, into.pk)
    source.delete()
    into.save()
    return into


# --- tags ---------------------------------------------------------------------------------------


@transaction.atomic
def tag_create(*, name: str, actor: Teammate | None = None) -> Tag:
    """Create a tag, or return the existing one with the same name (case-insensitive)."""
    name = _clean_tag_name(name)
    existing = tags_named(name).first()
    if existing:
        return existing
    return Tag.objects.create(name=name, created_by=actor)


@transaction.atomic
def tag_rename(*, tag: Tag, name: str) -> Tag:
    """Rename a tag; a name another tag has (in any case) is refused, and so is a tag a teammate has just deleted
    (locked first: the deletion waits for the rename, or the rename for the deletion)."""
    name = _clean_tag_name(name)
    if not Tag.objects.select_for_update(no_key=True).filter(pk=tag.pk).exists():
        raise tag_gone_error(tag, field="id")
    clash = tags_named(name).exclude(pk=tag.pk)
    if clash.exists():
        raise AlreadyExists(field="name", message="Another tag already has this name.")
    tag.name = name
    tag.save(update_fields=["name"])
    return tag


@transaction.atomic
def tag_save(
    *,
    name: str,
    tag: Tag | None = None,
    actor: Teammate | None = None,
    tag_contact_ids: Iterable[int] = (),
    untag_contact_ids: Iterable[int] = (),
) -> Tag:
    """Create a tag (or return the one with that name) or, given `tag`, rename it; then tag and untag
    the given contacts, all in one transaction."""
    tag = tag_rename(tag=tag, name=name) if tag is not None else tag_create(name=name, actor=actor)
    tag_ids, untag_ids = list(tag_contact_ids), list(untag_contact_ids)
    if tag_ids:
        # A link to no contact would fail the commit (PostgreSQL checks foreign keys then): a 400 instead.
        missing = set(tag_ids) - set(Contact.objects.filter(pk__in=tag_ids).values_list("pk", flat=True))
        if missing:
            raise ValidationError({"users": f"No contact has the id {min(missing)}."})
    if tag_ids:
        contacts_tag_bulk(contact_ids=tag_ids, tag=tag, actor=actor)
    if untag_ids:
        contacts_untag_bulk(contact_ids=untag_ids, tag=tag)
    return tag


class TagInUse(ValidationError):
    """A tag something still names (a saved segment's filter) is not deleted (the REST API answers Intercom's
    `tag_has_dependent_objects`)."""

    def __init__(self, message: str) -> None:
        super().__init__({"id": message})


def _listed(items: list[str]) -> str:
    """ "a", "a and b", "a, b and c": a refusal's list, as a sentence says it."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _it_or_them(items: list[str]) -> str:
    return "it" if len(items) == 1 else "them"


def tags_delete_problems(*, tags: Sequence[Tag]) -> dict[int, str]:
    """Tag id → why it cannot be deleted (what still names it, by name), for those of the tags that cannot."""
    found = uses.tags_uses(tags=tags)
    return {
        tag.pk: f"The tag “{tag.name}” is used by {_listed(named_by)}. Change or delete {_it_or_them(named_by)} first."
        for tag in tags
        if (named_by := found.get(tag.pk))
    }


def tags_hold(tag_ids: Iterable[int]) -> set[int]:
    """Of these tags, the ids that exist, each held until the caller's transaction ends, for a write that will
    name them (a link, a rule, a saved reply; common.row_locks). tag_delete locks its tag FOR UPDATE: it then waits
    for this transaction and sees what it saved, or this waited for the deletion and finds the tag gone (instead of
    a foreign key error at the commit)."""
    return rows_hold(Tag, (int(pk) for pk in tag_ids))


def tag_gone_error(tag: Tag, *, field: str) -> ValidationError:
    """The refusal of a write naming a tag that a teammate deleted meanwhile, on the field that named it."""
    return row_gone_error(f"tag “{tag.name}”", field=field)


def tag_hold(tag: Tag, *, field: str = "tag") -> None:
    """Hold one tag about to be linked (tags_hold); ValidationError naming `field` when it was just deleted."""
    if not tags_hold([tag.pk]):
        raise tag_gone_error(tag, field=field)


@transaction.atomic
def tags_delete(*, tags: Sequence[Tag]) -> int:
    """Delete tags that nothing names, with their links to contacts, companies and conversations, all or none: one
    a saved segment's filter, an assignment rule or a saved reply names refuses the lot (TagInUse, naming each use):
    `tag_id != it` would then hold for everyone, a rule would go with its condition. Tags already gone are skipped;
    how many were deleted. A fixed number of queries (and one delete of each kind of link) however many tags."""
    # Locked first, in id order as every deleter: a writer naming a tag holds it (tags_hold), so either it waits and
    # then finds the tag gone, or it committed and its use is seen here.
    there = set(
        Tag.objects.select_for_update()
        .filter(pk__in=[tag.pk for tag in tags])
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    remaining = [tag for tag in tags if tag.pk in there]
    problems = tags_delete_problems(tags=remaining)
    if problems:
        raise TagInUse(" ".join(problems.values()))
    Tag.objects.filter(pk__in=there).delete()
    return len(there)


def tag_delete(*, tag: Tag) -> None:
    """Delete one tag that nothing names (tags_delete)."""
    tags_delete(tags=[tag])


def _clean_tag_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": "A tag needs a name."})
    name = name.strip()
    if len(name) > Tag._meta.get_field("name").max_length:
        raise ValidationError({"name": "Must be at most 255 characters."})
    return name


@transaction.atomic
def contact_tag(*, contact: Contact, tag: Tag, actor: Teammate | None = None) -> ContactTag:
    """Tag a contact (once); announces the new tag for users and leads."""
    tag_hold(tag)
    link, created = ContactTag.objects.get_or_create(contact=contact, tag=tag, defaults={"tagged_by": actor})
    if created and contact.role != Contact.Role.VISITOR:
        contact_tag_changed.send(sender=ContactTag, topic=f"contact.{contact.role}.tag.created", link=link)
    return link


@transaction.atomic
def contact_untag(*, contact: Contact, tag: Tag) -> None:
    """Remove a tag from a contact, if it has it; announces the removal for users and leads."""
    link = ContactTag.objects.filter(contact=contact, tag=tag).first()
    if link is not None:
        link.delete()
        if contact.role != Contact.Role.VISITOR:
            contact_tag_changed.send(sender=ContactTag, topic=f"contact.{contact.role}.tag.deleted", link=link)


def tag_links_add_bulk(*, link_model: Any, owner_field: str, owner_ids: Iterable[int], tag: Tag, actor: Any) -> int:
    """Link one tag to many owners (contacts, companies) through `link_model`; existing links stay as
    they are. Returns links added. Run inside the caller's transaction, which holds the tag and the owners
    (common.row_locks): a tag deleted meanwhile is refused (ValidationError on `tag`), an owner deleted meanwhile
    is skipped, never a foreign key error at the commit."""
    tag_hold(tag)
    owner_model = link_model._meta.get_field(owner_field).related_model
    # The lock each new link's foreign key check takes anyway, taken first so that a deleted owner is seen.
    ids = sorted(rows_hold(owner_model, owner_ids))
    linked = link_model.objects.filter(tag=tag, **{f"{owner_field}__in": ids})
    before = linked.count()
    link_model.objects.bulk_create(
        [link_model(**{owner_field: pk}, tag=tag, tagged_by=actor) for pk in ids], ignore_conflicts=True,
        batch_size=1000,
    )  # fmt: skip
    return linked.count() - before


def tag_links_remove_bulk(*, link_model: Any, owner_field: str, owner_ids: Iterable[int], tag: Tag) -> int:
    """Remove one tag from many owners in one statement; returns how many links went."""
    deleted, _ = link_model.objects.filter(tag=tag, **{f"{owner_field}__in": list(owner_ids)}).delete()
    return deleted


@transaction.atomic
def contacts_tag_bulk(*, contact_ids: Iterable[int], tag: Tag, actor: Teammate | None = None) -> int:
    """Tag many contacts at once; already tagged ones are left as they are. Returns links added."""
    return tag_links_add_bulk(
        link_model=ContactTag, owner_field="contact_id", owner_ids=contact_ids, tag=tag, actor=actor
    )


@transaction.atomic
def contacts_untag_bulk(*, contact_ids: Iterable[int], tag: Tag) -> int:
    """Remove a tag from many contacts in one statement; returns how many links went."""
    return tag_links_remove_bulk(link_model=ContactTag, owner_field="contact_id", owner_ids=contact_ids, tag=tag)


NOTE_MAX_LENGTH = 10_000


@transaction.atomic
def contact_note_create(*, contact: Contact, author: Teammate | None, body: str) -> ContactNote:
    """An internal note by a teammate on a contact's profile."""
    if not isinstance(body, str) or not body.strip():
        raise ValidationError({"body": "A note needs a body."})
    problem = text_problem(body)
    if problem or len(body) > NOTE_MAX_LENGTH:
        raise ValidationError({"body": problem or f"A note has at most {NOTE_MAX_LENGTH:,} characters."})
    return ContactNote.objects.create(contact=contact, author=author, body=body.strip())


# --- data attributes ----------------------------------------------------------------------------


@transaction.atomic
def data_attribute_create(
    *,
    name: str,
    data_type: str,
    model: str = DataAttribute.Model.CONTACT,
    label: str = "",
    description: str = "",
    options: list[Any] | None = None,
    actor: Teammate | None = None,
) -> DataAttribute:
    """Define a custom attribute (name, type, options); a name already defined is refused."""
    data_attribute_validate(
        attribute=DataAttribute(), name=name, model=model, data_type=data_type, options=options or []
    )
    attribute = DataAttribute(
        model=model, name=name, data_type=data_type, label=label or name, description=description, created_by=actor
    )
    attribute.options = _clean_options(attribute, options or [])
    attribute.save()
    return attribute


def data_attribute_validate(*, attribute: DataAttribute, name: str, model: str, data_type: str, options: Any) -> None:
    """Raise what creating or updating this definition would raise."""
    validate_attribute_name(name, new=attribute.pk is None or name != attribute.name)
    if data_type not in DataAttribute.DataType.values:
        raise ValidationError({"data_type": f"Must be one of: {', '.join(DataAttribute.DataType.values)}."})
    if model not in DataAttribute.Model.values:
        raise ValidationError({"model": f"Must be one of: {', '.join(DataAttribute.Model.values)}."})
    if DataAttribute.objects.filter(model=model, name=name).exclude(pk=attribute.pk).exists():
        raise AlreadyExists(field="name", message="An attribute with this name already exists.")
    if attribute.pk is None:
        data_attributes_cap_check(model=model, adding=1, field="name")
    _clean_options(DataAttribute(name=name, data_type=data_type), options)


@transaction.atomic
def data_attribute_update(
    *,
    attribute: DataAttribute,
    label: str | None = None,
    description: str | None = None,
    archived: bool | None = None,
    options: list[Any] | None = None,
) -> DataAttribute:
    """Update a definition; its name and type never change, as stored values depend on them."""
    if label is not None:
        attribute.label = label
    if description is not None:
        attribute.description = description
    if archived is not None:
        attribute.archived = archived
    if options is not None:
        attribute.options = _clean_options(attribute, options)
    attribute.save()
    return attribute


def data_attribute_delete_problem(*, attribute: DataAttribute) -> str | None:
    """Why this definition cannot be deleted (what still names it, by name), or None when it can."""
    named_by = uses.data_attribute_uses(attribute=attribute)
    if not named_by:
        return None
    return (
        f"“{attribute.name}” is used by {_listed(named_by)}. Change or delete {_it_or_them(named_by)} first, or "
        "archive the attribute instead."
    )


@transaction.atomic
def data_attribute_delete(*, attribute: DataAttribute) -> None:
    """Delete a definition that nothing names: one a saved segment's filter names is refused, naming the segments
    (their filters would stop compiling). Values stored under the name stay on the rows."""
    # Locked first: a segment saved meanwhile locks the definitions it names (segments.services), so either it
    # waits and then finds this one gone, or it committed and is seen here.
    if not DataAttribute.objects.select_for_update().filter(pk=attribute.pk).exists():
        return
    problem = data_attribute_delete_problem(attribute=attribute)
    if problem:
        raise ValidationError({"name": problem})
    attribute.delete()


# A record's page lists every option in a select: 200,000 made each contact page 16 MB and 30 s (a review).
OPTIONS_MAX = 1000


def _clean_options(attribute: DataAttribute, options: Any) -> list[Any]:
    if not isinstance(options, list):
        raise ValidationError({"options": "Must be a list of values."})
    if len(options) > OPTIONS_MAX:
        raise ValidationError({"options": f"At most {OPTIONS_MAX:,} values: for more, leave the options empty."})
    try:
        return [coerce_value(attribute, option) for option in options]
    except ValueError as error:
        raise ValidationError({"options": f"Each option {error}."}) from None


# --- GDPR ---------------------------------------------------------------------------------------


@transaction.atomic
def contact_erase(*, contact: Contact, actor: Teammate | None, source: str) -> Counter:
    """GDPR erase: the contact and its whole history; the audit entry keeps only the id. A contact already erased
    (by a teammate at the same moment) erases nothing again: no second audit entry or webhook; an empty count."""
    # Its row first, as every writer of its history takes it: a second erase waits here, then finds it gone.
    if not Contact._base_manager.select_for_update().filter(pk=contact.pk).exists():
        return Counter()
    contact_changed.send(sender=Contact, topic="contact.deleted", contact=contact)
    counts = contacts_delete_with_history(contact_ids=[contact.pk])
    PrivacyAuditEntry.objects.create(
        action=PrivacyAuditEntry.Action.ERASE, source=source, contact_id=contact.pk, actor=actor
    )
    contact_id = contact.pk
    for hook in lifecycle.erase_hooks():
        transaction.on_commit(lambda hook=hook: hook(contact_id))
    return counts


def _timestamp(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime | dt.date) else value


def contact_tags_export(contact: Contact) -> list[dict[str, Any]]:
    """Export section: the person's tags, with when they were tagged."""
    return [{"name": link.tag.name, "tagged_at": link.tagged_at} for link in contact.tag_links.select_related("tag")]


def contact_notes_export(contact: Contact) -> list[dict[str, Any]]:
    """Export section: what teammates wrote about the person is their personal data too (the author stays out)."""
    return [{"body": note.body, "created_at": note.created_at} for note in contact.notes.order_by("created_at", "id")]


def contact_export(*, contact: Contact, actor: Teammate | None, source: str) -> dict[str, Any]:
    """GDPR export: one JSON-ready document with everything Parley holds about the person."""
    return contacts_export(contacts=[contact], actor=actor, source=source)[0]


def contacts_export(*, contacts: Iterable[Contact], actor: Teammate | None, source: str) -> list[dict[str, Any]]:
    """GDPR export of several people: every document is read first, then the audit log records each.

    Reads before the write, and no transaction around them, so a replica-safe admin action reads the
    documents from the replica (common/read_replica.py); a section that flushes queued page views first
    writes, and what is read after that comes from the primary."""
    documents = [_export_document(contact) for contact in contacts]
    PrivacyAuditEntry.objects.bulk_create(
        PrivacyAuditEntry(
            action=PrivacyAuditEntry.Action.EXPORT, source=source, contact_id=document["contact"]["id"], actor=actor
        )
        for document in documents
    )
    return documents


def _export_document(contact: Contact) -> dict[str, Any]:
    profile = {field.attname: _timestamp(getattr(contact, field.attname)) for field in Contact._meta.concrete_fields}
    profile["anonymous_id"] = str(contact.anonymous_id)
    document: dict[str, Any] = {"contact": profile}
    for section in lifecycle.export_sections():
        document[section.name] = [{k: _timestamp(v) for k, v in row.items()} for row in section.rows(contact)]
    return document


# --- consent by purpose and restriction (docs/privacy.md) -----------------------------------------


# Signals from the page (the loader's command, a consent platform): they may not undo a formal request.
SIGNAL_CONSENT_SOURCES = frozenset({ConsentSource.WIDGET, ConsentSource.TCF, ConsentSource.CONSENT_MODE})


def contact_consent_record(
    *, contact_id: int, analytics: bool | None, marketing: bool | None, source: str, now: dt.datetime | None = None
) -> bool:
    """Store the purposes stated (None leaves a purpose as it is) with their time and source; True if it changed.
    A change is a privacy change: what caches the contact's choices (the widget's snapshot) drops them."""
    changed = _consent_apply(contact_id=contact_id, analytics=analytics, marketing=marketing, source=source, now=now)[1]
    if changed:
        _after_privacy_change(contact_id)
    return changed


def contact_consent_apply(
    *, contact_id: int, analytics: bool | None, marketing: bool | None, source: str, now: dt.datetime | None = None
) -> dict[str, bool]:
    """`contact_consent_record`, returning the purposes now in effect as stated (field name → value).

    A signal from the page (widget, TCF, Consent Mode) never changes a restricted contact (Art. 18
    freezes it) nor the marketing purpose of one that objected through a data subject request
    (Art. 21): only a teammate or a new request changes those."""
    return _consent_apply(contact_id=contact_id, analytics=analytics, marketing=marketing, source=source, now=now)[0]


def _consent_apply(
    *, contact_id: int, analytics: bool | None, marketing: bool | None, source: str, now: dt.datetime | None
) -> tuple[dict[str, bool], bool]:
    values = {"analytics_consent": analytics, "marketing_consent": marketing}
    stated = {name: value for name, value in values.items() if value is not None}
    if not stated:
        return {}, False
    if source not in ConsentSource.values:
        raise ValidationError({"consent.source": f"Must be one of: {', '.join(ConsentSource.values)}."})
    rows = Contact.objects.filter(pk=contact_id)
    extra: dict[str, Any] = {"consent_source": source}
    if source in SIGNAL_CONSENT_SOURCES:
        held = rows.values_list("processing_restricted", "consent_source", "marketing_consent").first()
        if held is None or held[0]:
            return {}, False  # gone, or restricted: frozen
        if held[1] == ConsentSource.REQUEST and held[2] is False:
            stated.pop("marketing_consent", None)
            extra = {}  # the request stays the source of record (its objection holds)
            if not stated:
                return {}, False
    changed = rows.exclude(models.Q(**stated)).update(
        **stated, **extra, consent_updated_at=now or timezone.now(), updated_at=timezone.now()
    )
    return stated, bool(changed)


@transaction.atomic
def contact_processing_restrict(
    *,
    contact: Contact,
    restricted: bool,
    actor: Teammate | None = None,
    source: str = PrivacyAuditEntry.Source.ADMIN,
) -> Contact:
    """Restrict processing (GDPR Art. 18): no tracking, no outbound messages; chat only. False lifts it
    (Art. 18(3)). Either goes to the privacy audit log.

    The widget's hot path reads the flag from its contact snapshot, so it holds within a minute."""
    if contact.processing_restricted != restricted:
        contact.processing_restricted = restricted
        contact.save(update_fields=["processing_restricted", "updated_at"])
        action = PrivacyAuditEntry.Action.RESTRICT if restricted else PrivacyAuditEntry.Action.LIFT
        PrivacyAuditEntry.objects.create(action=action, source=source, contact_id=contact.pk, actor=actor)
    _after_privacy_change(contact.pk)
    return contact


def _after_privacy_change(contact_id: int) -> None:
    """Once committed, the apps drop what they cached of the contact's old state (the widget's snapshot)."""
    for hook in lifecycle.privacy_change_hooks():
        transaction.on_commit(lambda hook=hook: hook(contact_id))


@transaction.atomic
def contact_marketing_object(
    *,
    contact: Contact,
    now: dt.datetime | None = None,
    actor: Teammate | None = None,
    source: str = PrivacyAuditEntry.Source.ADMIN,
) -> Contact:
    """Objection to direct marketing (GDPR Art. 21(2)): marketing consent withdrawn and emails unsubscribed
    (in the privacy audit log)."""
    contact_consent_record(
        contact_id=contact.pk, analytics=None, marketing=False, source="request", now=now or timezone.now()
    )
    PrivacyAuditEntry.objects.create(
        action=PrivacyAuditEntry.Action.OBJECT, source=source, contact_id=contact.pk, actor=actor
    )
    contact.refresh_from_db(fields=["marketing_consent", "consent_source", "consent_updated_at"])
    if not contact.unsubscribed_from_emails:
        contact_update(contact=contact, unsubscribed_from_emails=True)
    _after_privacy_change(contact.pk)
    return contact
