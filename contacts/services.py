"""Every write to contacts, tags and data attributes goes through these functions."""

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import models, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from contacts.custom_attributes import (
    coerce_value,
    custom_attributes_clean,
    custom_attributes_merge,
    data_attributes_cap_check,
    validate_attribute_name,
)
from contacts.models import Contact, ContactNote, ContactTag, DataAttribute, PrivacyAuditEntry, Tag
from ops.parsing import text_problem

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

# Apps whose rows reach a contact register how they move on merge and what they export.
MergeHandler = Callable[[Contact, Contact], None]
ExportSection = Callable[[Contact], list[dict[str, Any]]]
_merge_handlers: dict[type[models.Model], MergeHandler] = {}
_export_sections: dict[str, ExportSection] = {}


def register_merge_handler(model: type[models.Model], handler: MergeHandler) -> None:
    """Rows of `model` move with `handler(source, into)` instead of a plain foreign key update."""
    _merge_handlers[model] = handler


_exported_models: set[type[models.Model]] = set()

# Rows that reach a contact but stay out of the GDPR export, each with the reason; a test fails when
# a model with a foreign key to Contact is neither exported by a section nor listed here.
EXPORT_EXCLUDED_MODELS: dict[str, str] = {
    "tracking.EventSummary": "counts derived from the events, which are exported one by one",
    "api.WebhookDelivery": "the log of what was sent to the team's own integrations (copies of exported "
    "rows); moved by merge and deleted by erase and expiry",
}


def register_export_section(name: str, section: ExportSection, *, rows_of: tuple[type[models.Model], ...]) -> None:
    """`section(contact)` gives the rows of the `rows_of` models that the GDPR export lists under `name`."""
    _export_sections[name] = section
    _exported_models.update(rows_of)


def export_covered_models() -> set[str]:
    """Labels of the models whose rows reach the GDPR export (its own sections and the apps')."""
    return {model._meta.label for model in _exported_models} | {"contacts.ContactTag", "contacts.ContactNote"}


# Listeners (the REST API's webhooks) hear of changes by Intercom topic name, inside the
# transaction that makes them, so that what they queue commits or rolls back with the change.
# Apps call `change_notify`; nothing here knows who listens.
ChangeListener = Callable[[str, models.Model], None]
_change_listeners: list[ChangeListener] = []


def register_change_listener(listener: ChangeListener) -> None:
    if listener not in _change_listeners:
        _change_listeners.append(listener)


def change_notify(*, topic: str, instance: models.Model) -> None:
    """Tell listeners that `topic` (e.g. "contact.user.created") happened to `instance`."""
    for listener in _change_listeners:
        listener(topic, instance)


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
        if (
            isinstance(field, models.DateTimeField)
            and value is not None
            and (not isinstance(value, dt.datetime) or timezone.is_naive(value))
        ):
            raise ValidationError({name: "Must be a timezone-aware date and time."})
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
        taken = Contact.objects.filter(role=Contact.Role.USER).annotate(email_ci=Lower("email"))
        holder_pk = taken.filter(email_ci=email.lower()).exclude(pk=contact.pk).values_list("pk", flat=True).first()
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
    cleaned, new_definitions = custom_attributes_clean(values=custom_attributes, allow_create=None if define else False)
    if new_definitions:
        DataAttribute.objects.bulk_create(new_definitions, ignore_conflicts=True)
    contact.custom_attributes = custom_attributes_merge(contact.custom_attributes or {}, cleaned)


# --- contacts -----------------------------------------------------------------------------------


@transaction.atomic
def contact_create(
    *,
    role: str = Contact.Role.USER,
    custom_attributes: dict[str, Any] | None = None,
    tags: Iterable[Tag] = (),
    actor: Teammate | None = None,
    define_attributes: bool = True,
    **fields: Any,
) -> Contact:
    """Create a contact; a user needs an external id or an email (`define_attributes` as in contact_update)."""
    if role not in Contact.Role.values:
        raise ValidationError({"role": f"Must be one of: {', '.join(Contact.Role.values)}."})
    contact = Contact(role=role)
    _validate_fields(contact=contact, fields=fields)
    if role == Contact.Role.USER and not (fields.get("external_id") or fields.get("email")):
        raise ValidationError({"external_id": "A user needs an external id (user_id) or an email."})
    for name, value in fields.items():
        setattr(contact, name, value)
    _apply_custom_attributes(contact=contact, custom_attributes=custom_attributes, define=define_attributes)
    contact.save()
    if contact.role != Contact.Role.VISITOR:
        change_notify(topic=f"contact.{contact.role}.created", instance=contact)
    for tag in tags:
        contact_tag(contact=contact, tag=tag, actor=actor)
    return contact


# A contact marked verified is marked once; the cache spares the UPDATE on later sign-ins.
VERIFIED_MARK_CACHE_SECONDS = 24 * 3600


def contact_mark_identity_verified(*, contact_id: int) -> None:
    """A website that enforces verification signed this contact in: no website may claim it unsigned."""
    if cache.add(f"contacts:identity-verified:{contact_id}", 1, VERIFIED_MARK_CACHE_SECONDS):
        Contact.objects.filter(pk=contact_id, identity_verified_at__isnull=True).update(
            identity_verified_at=timezone.now()
        )


@transaction.atomic
def contact_update(
    *,
    contact: Contact,
    custom_attributes: dict[str, Any] | None = None,
    define_attributes: bool = True,
    **fields: Any,
) -> Contact:
    """Update writable fields and merge custom attributes (None removes an attribute).

    `define_attributes=False` (unverified widget input, a teammate without the right to add data
    attributes): an unknown attribute name is refused instead of becoming a new definition.
    """
    _validate_fields(contact=contact, fields=fields)
    changed = [name for name, value in fields.items() if getattr(contact, name) != value]
    for name in changed:
        setattr(contact, name, fields[name])
    before = contact.custom_attributes
    _apply_custom_attributes(contact=contact, custom_attributes=custom_attributes, define=define_attributes)
    if contact.custom_attributes != before:
        changed.append("custom_attributes")
    if contact.role == Contact.Role.USER and not (contact.external_id or contact.email):
        raise ValidationError({"external_id": "A user needs an external id (user_id) or an email."})
    if changed:
        contact.save(update_fields=[*changed, "updated_at"])
        if "is_archived" in changed:
            change_notify(topic="contact.archived" if contact.is_archived else "contact.unarchived", instance=contact)
        if contact.role != Contact.Role.VISITOR:
            change_notify(topic=f"contact.{contact.role}.updated", instance=contact)
    return contact


@transaction.atomic
def contact_convert(
    *, contact: Contact, role: str, external_id: str | None = None, email: str | None = None
) -> Contact:
    """Promote visitor → lead → user; a contact is never demoted."""
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
    for name, value in fields.items():
        setattr(contact, name, value)
    signed_up = contact.role != Contact.Role.USER and role == Contact.Role.USER
    contact.role = role
    contact.save(update_fields=["role", *fields, "updated_at"])
    if signed_up:
        change_notify(topic="contact.lead.signed_up", instance=contact)
    return contact


def _move_related_rows(*, source: Contact, into: Contact) -> None:
    """Repoint every row that references `source` at `into` (registered handlers first)."""
    for relation in Contact._meta.get_fields(include_hidden=True):
        if not (relation.auto_created and not relation.concrete and relation.one_to_many):
            continue
        model = relation.related_model
        if model in _merge_handlers:
            _merge_handlers[model](source, into)
        else:
            model._base_manager.filter(**{relation.field.name: source}).update(**{relation.field.name: into})


def _merge_tag_links(source: Contact, into: Contact) -> None:
    existing = set(ContactTag.objects.filter(contact=into).values_list("tag_id", flat=True))
    ContactTag.objects.filter(contact=source, tag_id__in=existing).delete()
    ContactTag.objects.filter(contact=source).update(contact=into)


register_merge_handler(ContactTag, _merge_tag_links)

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


@transaction.atomic
def contact_merge(*, source: Contact, into: Contact) -> Contact:
    """Merge a visitor or lead into a user: its history moves over and the source is deleted."""
    if source.pk == into.pk:
        raise ValidationError({"from": "A contact cannot be merged into itself."})
    if source.role == Contact.Role.USER:
        raise ValidationError({"from": "Only a visitor or a lead can be merged into a user."})
    if into.role != Contact.Role.USER:
        raise ValidationError({"into": "Contacts can only be merged into a user."})
    locked = {c.pk: c for c in Contact.objects.select_for_update().filter(pk__in=[source.pk, into.pk])}
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
        into.email = source.email
    into.web_sessions_count += source.web_sessions_count
    into.unsubscribed_from_emails = into.unsubscribed_from_emails or source.unsubscribed_from_emails
    into.custom_attributes = {**(source.custom_attributes or {}), **(into.custom_attributes or {})}
    _move_related_rows(source=source, into=into)
    source.delete()
    into.save()
    return into


# --- tags ---------------------------------------------------------------------------------------


@transaction.atomic
def tag_create(*, name: str, actor: Teammate | None = None) -> Tag:
    """Create a tag, or return the existing one with the same name (case-insensitive)."""
    name = _clean_tag_name(name)
    existing = Tag.objects.annotate(name_ci=Lower("name")).filter(name_ci=name.lower()).first()
    if existing:
        return existing
    return Tag.objects.create(name=name, created_by=actor)


@transaction.atomic
def tag_rename(*, tag: Tag, name: str) -> Tag:
    name = _clean_tag_name(name)
    clash = Tag.objects.annotate(name_ci=Lower("name")).filter(name_ci=name.lower()).exclude(pk=tag.pk)
    if clash.exists():
        raise AlreadyExists(field="name", message="Another tag already has this name.")
    tag.name = name
    tag.save(update_fields=["name"])
    return tag


@transaction.atomic
def tag_delete(*, tag: Tag) -> None:
    tag.delete()


def _clean_tag_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": "A tag needs a name."})
    name = name.strip()
    if len(name) > Tag._meta.get_field("name").max_length:
        raise ValidationError({"name": "Must be at most 255 characters."})
    return name


@transaction.atomic
def contact_tag(*, contact: Contact, tag: Tag, actor: Teammate | None = None) -> ContactTag:
    link, created = ContactTag.objects.get_or_create(contact=contact, tag=tag, defaults={"tagged_by": actor})
    if created and contact.role != Contact.Role.VISITOR:
        change_notify(topic=f"contact.{contact.role}.tag.created", instance=link)
    return link


@transaction.atomic
def contact_untag(*, contact: Contact, tag: Tag) -> None:
    link = ContactTag.objects.filter(contact=contact, tag=tag).first()
    if link is not None:
        link.delete()
        if contact.role != Contact.Role.VISITOR:
            change_notify(topic=f"contact.{contact.role}.tag.deleted", instance=link)


@transaction.atomic
def contacts_tag_bulk(*, contact_ids: Iterable[int], tag: Tag, actor: Teammate | None = None) -> int:
    """Tag many contacts at once; already tagged ones are left as they are. Returns links added."""
    ids = list(contact_ids)
    before = ContactTag.objects.filter(tag=tag, contact_id__in=ids).count()
    ContactTag.objects.bulk_create(
        [ContactTag(contact_id=pk, tag=tag, tagged_by=actor) for pk in ids], ignore_conflicts=True, batch_size=1000
    )
    return ContactTag.objects.filter(tag=tag, contact_id__in=ids).count() - before


@transaction.atomic
def contacts_untag_bulk(*, contact_ids: Iterable[int], tag: Tag) -> int:
    deleted, _ = ContactTag.objects.filter(tag=tag, contact_id__in=list(contact_ids)).delete()
    return deleted


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
    validate_attribute_name(name)
    if data_type not in DataAttribute.DataType.values:
        raise ValidationError({"data_type": f"Must be one of: {', '.join(DataAttribute.DataType.values)}."})
    if model not in DataAttribute.Model.values:
        raise ValidationError({"model": "Must be contact or conversation."})
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


def _clean_options(attribute: DataAttribute, options: Any) -> list[Any]:
    if not isinstance(options, list):
        raise ValidationError({"options": "Must be a list of values."})
    try:
        return [coerce_value(attribute, option) for option in options]
    except ValueError as error:
        raise ValidationError({"options": f"Each option {error}."}) from None


# --- GDPR ---------------------------------------------------------------------------------------


def _dependents(model: type[models.Model]) -> list[Any]:
    """Reverse foreign keys (and one-to-ones, and auto-created m2m through tables) pointing at `model`."""
    return [
        rel
        for rel in model._meta.get_fields(include_hidden=True)
        if rel.auto_created and not rel.concrete and (rel.one_to_many or rel.one_to_one)
    ]


# A cycle in the foreign-key graph (a model referencing itself, or A → B → A) is followed this deep.
_MAX_CASCADE_DEPTH = 8


def _cascade_delete(model: type[models.Model], rows_filter: dict[str, Any], counts: Counter, depth: int = 0) -> None:
    """Delete the rows of `model` matching `rows_filter` and everything that cascades from them,
    leaves first, with one set-based statement per table.

    Children are addressed by `fk IN (subquery of the parent's keys)`, so no id list of a child
    table is ever loaded into memory; the caller bounds the work by the size of the root batch.
    """
    if depth > _MAX_CASCADE_DEPTH:
        raise ValidationError(f"The foreign keys to {model._meta.verbose_name} cascade too deep to delete.")
    rows = model._base_manager.filter(**rows_filter)
    # The root batch is a short list of ids: use it as is rather than as a subquery of itself.
    root_ids = rows_filter["pk__in"] if set(rows_filter) == {"pk__in"} else None
    connection = transaction.get_connection(rows.db)
    if root_ids is not None and connection.vendor == "postgresql":
        # One array parameter instead of n literals, which PostgreSQL would parse and plan in
        # every statement of the cascade.
        pk_type = model._meta.pk.rel_db_type(connection)
        root_ids = models.expressions.RawSQL(f"SELECT unnest(%s::{pk_type}[])", (list(root_ids),))  # noqa: S611 - type from model meta
        rows = model._base_manager.filter(pk__in=root_ids)
    for rel in _dependents(model):
        child = rel.related_model
        target = rel.field.target_field
        keys = root_ids if root_ids is not None and target.primary_key else rows.values(target.attname)
        child_filter = {f"{rel.field.name}__in": keys}
        if rel.on_delete is models.CASCADE:
            _cascade_delete(child, child_filter, counts, depth + 1)
        elif rel.on_delete is models.SET_NULL:
            child._base_manager.filter(**child_filter).update(**{rel.field.name: None})
        elif rel.on_delete is models.SET_DEFAULT:
            child._base_manager.filter(**child_filter).update(**{rel.field.name: rel.field.get_default()})
        elif rel.on_delete in (models.PROTECT, models.RESTRICT) and child._base_manager.filter(**child_filter).exists():
            raise ValidationError(f"{child._meta.verbose_name} rows protect this contact from deletion.")
        # DO_NOTHING: the model's owner chose to handle it (e.g. a database-level ON DELETE).
    deleted = rows._raw_delete(rows.db)
    if deleted:
        counts[model._meta.label] += deleted


def rows_delete_with_history(*, model: type[models.Model], pks: Iterable[Any]) -> Counter:
    """Delete rows of `model` by pk and every row that cascades from them. Returns rows per model label.

    The caller owns the transaction and bounds `pks` (e.g. 1,000 per batch).
    """
    counts: Counter = Counter()
    ids = list(pks)
    if ids:
        _cascade_delete(model, {"pk__in": ids}, counts)
    return counts


def contacts_delete_with_history(*, contact_ids: Iterable[int]) -> Counter:
    """Delete contacts and every row that reaches them. Returns rows deleted per model label.

    The caller owns the transaction, so expiry can run it per batch and erase per person. The
    admin's change history goes too: its entries name the person (name or email) in object_repr.
    """
    ids = list(contact_ids)
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Contact), object_id__in=[str(pk) for pk in ids]
    ).delete()
    return rows_delete_with_history(model=Contact, pks=ids)


@transaction.atomic
def contact_erase(*, contact: Contact, actor: Teammate | None, source: str) -> Counter:
    """GDPR erase: the contact and its whole history; the audit entry keeps only the id."""
    change_notify(topic="contact.deleted", instance=contact)
    counts = contacts_delete_with_history(contact_ids=[contact.pk])
    PrivacyAuditEntry.objects.create(
        action=PrivacyAuditEntry.Action.ERASE, source=source, contact_id=contact.pk, actor=actor
    )
    return counts


def _timestamp(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime | dt.date) else value


@transaction.atomic
def contact_export(*, contact: Contact, actor: Teammate | None, source: str) -> dict[str, Any]:
    """GDPR export: one JSON-ready document with everything Parley holds about the person."""
    profile = {field.attname: _timestamp(getattr(contact, field.attname)) for field in Contact._meta.concrete_fields}
    profile["anonymous_id"] = str(contact.anonymous_id)
    document: dict[str, Any] = {
        "contact": profile,
        "tags": [
            {"name": link.tag.name, "tagged_at": _timestamp(link.tagged_at)}
            for link in contact.tag_links.select_related("tag")
        ],
        # What teammates wrote about the person is their personal data too (the author stays out).
        "notes": [
            {"body": note.body, "created_at": _timestamp(note.created_at)}
            for note in contact.notes.order_by("created_at", "id")
        ],
    }
    for name, section in sorted(_export_sections.items()):
        document[name] = [{k: _timestamp(v) for k, v in row.items()} for row in section(contact)]
    PrivacyAuditEntry.objects.create(
        action=PrivacyAuditEntry.Action.EXPORT, source=source, contact_id=contact.pk, actor=actor
    )
    return document
