"""Writes to companies: create-or-update by the customer's company_id, update, delete, tags, and a
person's memberships (attach, detach), with the derived counts kept on the company row.

`user_count` moves by one in the transaction that adds or removes a membership, and a deleted
contact's memberships leave the counts in one statement (`companies_contacts_deleting`, called by
contacts.deletion through the lifecycle). `session_count` and `last_request_at` are written by
`companies_activity_record`, which the ping's general path calls (never its hot path).
"""

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from common.parsing import MOMENT_RANGE, float_or_none, text_problem, utc_or_none
from common.row_locks import row_gone_error, rows_hold, rows_lock
from companies.models import INT32_MAX, Company, CompanyContact, CompanyTag
from companies.signals import company_changed, company_contact_changed
from contacts import services as contacts_services
from contacts.custom_attributes import custom_attributes_clean, custom_attributes_merge
from contacts.models import Contact, DataAttribute, Tag

Teammate = AbstractBaseUser
# Fields a teammate, the API or a verified site may write; company_id is set once, at creation.
TEXT_FIELDS = ("name", "plan", "website", "industry")
WRITABLE_FIELDS = frozenset({*TEXT_FIELDS, "size", "monthly_spend", "remote_created_at"})
COMPANY_ID_MAX_LENGTH = 255
# A person belongs to at most this many companies (Intercom's widget takes a list; a list is not a bulk import).
MAX_COMPANIES_PER_CONTACT = 100
# last_request_at is written at most once per this many seconds per company, however many of its people ping.
LAST_REQUEST_RESOLUTION = dt.timedelta(seconds=60)


class CompanyMembershipRefused(ValidationError):
    """Only users and leads belong to companies (an anonymous visitor has no company)."""


# --- validation ---------------------------------------------------------------------------------


def company_id_clean(value: Any, *, field: str = "company_id") -> str:
    """The customer's own id as stored: a non-empty string (numbers are taken as their digits)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError({field: "A company needs a company_id (your own id for it)."})
    value = value.strip()
    problem = text_problem(value)
    if problem:
        raise ValidationError({field: problem})
    if len(value) > COMPANY_ID_MAX_LENGTH:
        raise ValidationError({field: f"Must be at most {COMPANY_ID_MAX_LENGTH} characters."})
    return value


def _whole_number(value: Any, *, field: str) -> int | None:
    """Intercom's integers: a finite number (a fraction is truncated) from 0 to 2**31-1, or null."""
    if value is None:
        return None
    number = float_or_none(value) if not isinstance(value, str) else None
    if number is None:
        raise ValidationError({field: "Must be a finite number."})
    if not 0 <= number <= INT32_MAX:
        raise ValidationError({field: f"Must be between 0 and {INT32_MAX}."})
    return int(value) if isinstance(value, int) else int(number)


def company_fields_clean(fields: dict[str, Any]) -> dict[str, Any]:
    """The writable fields as stored; anything unknown, mistyped or too long is refused, naming its field."""
    unknown = set(fields) - WRITABLE_FIELDS
    if unknown:
        raise ValidationError({name: "This field cannot be written." for name in sorted(unknown)})
    cleaned: dict[str, Any] = {}
    for name, value in fields.items():
        if name in TEXT_FIELDS:
            if value is None:
                value = ""
            if not isinstance(value, str):
                raise ValidationError({name: "Must be a string."})
            problem = text_problem(value)
            if problem:
                raise ValidationError({name: problem})
            max_length = Company._meta.get_field(name).max_length
            if len(value) > max_length:
                raise ValidationError({name: f"Must be at most {max_length} characters."})
            cleaned[name] = value.strip()
        elif name == "size":
            cleaned[name] = _whole_number(value, field=name)
        elif name == "monthly_spend":
            cleaned[name] = _whole_number(value, field=name) or 0
        elif name == "remote_created_at":
            if value is not None and (not isinstance(value, dt.datetime) or timezone.is_naive(value)):
                raise ValidationError({name: "Must be a timezone-aware date and time."})
            if value is not None and utc_or_none(value) is None:
                raise ValidationError({name: f"Must be a date and time {MOMENT_RANGE}."})
            cleaned[name] = value
    return cleaned


def company_validate(*, fields: dict[str, Any], custom_attributes: dict[str, Any] | None) -> None:
    """What a save of these fields and custom attributes would refuse, as a ValidationError naming each field (the
    admin's form shows it there, before saving: a custom attribute's integer out of range was a 500, a walk)."""
    company_fields_clean(fields)
    if custom_attributes is not None:
        custom_attributes_clean(values=custom_attributes, model=DataAttribute.Model.COMPANY, allow_create=False)


def _apply(*, company: Company, fields: dict[str, Any], custom_attributes: Any, define_attributes: bool) -> list[str]:
    """Set the cleaned values on `company`; returns the names of the fields that changed."""
    cleaned = company_fields_clean(fields)
    changed = [name for name, value in cleaned.items() if getattr(company, name) != value]
    for name in changed:
        setattr(company, name, cleaned[name])
    if custom_attributes is not None:
        values, new_definitions = custom_attributes_clean(
            values=custom_attributes,
            model=DataAttribute.Model.COMPANY,
            allow_create=None if define_attributes else False,
        )
        if new_definitions:
            DataAttribute.objects.bulk_create(new_definitions, ignore_conflicts=True)
        merged = custom_attributes_merge(company.custom_attributes or {}, values)
        if merged != company.custom_attributes:
            company.custom_attributes = merged
            changed.append("custom_attributes")
    return changed


# --- companies ----------------------------------------------------------------------------------


@transaction.atomic
def company_create_or_update(
    *,
    company_id: Any,
    custom_attributes: dict[str, Any] | None = None,
    define_attributes: bool = True,
    update_existing: bool = True,
    **fields: Any,
) -> tuple[Company, bool]:
    """The company with this company_id, created or updated with these values; (company, created).

    `define_attributes=False` (unverified widget input, a teammate without the right to add data
    attributes): an unknown custom attribute is refused instead of becoming a new definition.
    `update_existing=False` (unverified widget input): a company that exists keeps its values.
    """
    company_id = company_id_clean(company_id)
    company = Company.objects.select_for_update().filter(company_id=company_id).first()
    created = company is None
    if created:
        company = Company(company_id=company_id)
        _apply(company=company, fields=fields, custom_attributes=custom_attributes, define_attributes=define_attributes)
        try:
            with transaction.atomic():  # two first sightings at once: the second one updates
                company.save()
        except IntegrityError:
            company = Company.objects.select_for_update().get(company_id=company_id)
            created = False
    if not created and not update_existing:
        return company, False
    if not created:
        changed = _apply(
            company=company, fields=fields, custom_attributes=custom_attributes, define_attributes=define_attributes
        )
        if not changed:
            return company, False
        company.save(update_fields=[*changed, "updated_at"])
    company_changed.send(sender=Company, topic="company.created" if created else "company.updated", company=company)
    return company, created


@transaction.atomic
def company_update(
    *,
    company: Company,
    custom_attributes: dict[str, Any] | None = None,
    define_attributes: bool = True,
    **fields: Any,
) -> Company:
    """Update writable fields and merge custom attributes (None removes one); company_id never changes. A company a
    teammate has just deleted is refused (locked first: the deletion waits for the update, or the update for it)."""
    if not Company.objects.select_for_update(no_key=True).filter(pk=company.pk).exists():
        raise company_gone_error(company, field="id")
    changed = _apply(
        company=company, fields=fields, custom_attributes=custom_attributes, define_attributes=define_attributes
    )
    if changed:
        company.save(update_fields=[*changed, "updated_at"])
        company_changed.send(sender=Company, topic="company.updated", company=company)
    return company


@transaction.atomic
def companies_delete(*, company_ids: Iterable[int]) -> int:
    """Delete companies with their memberships and tag links, their people and tags staying as they are, in a fixed
    number of statements however many companies and people (no membership is read: one DELETE for each kind of row).
    Companies already gone are skipped; how many were deleted.

    Nothing else keeps a copy of a membership to update: user_count and session_count live on the company row, a
    person keeps no count of their companies, no signal announces a company's deletion, and segments recount their
    members in their periodic task (`refresh_segment_counts`)."""
    # Locked first, in id order as every deleter, so two deletions of overlapping selections queue, never deadlock.
    there = list(
        Company.objects.select_for_update().filter(pk__in=list(company_ids)).order_by("pk").values_list("pk", flat=True)
    )
    if there:
        Company.objects.filter(pk__in=there).delete()
    return len(there)


def company_gone_error(company: Company, *, field: str) -> ValidationError:
    """The refusal of a write naming a company that a teammate deleted meanwhile, on the field that named it."""
    return row_gone_error(f"company “{company}”", field=field)


def company_delete(*, company: Company) -> None:
    """Delete one company, its people staying (companies_delete)."""
    companies_delete(company_ids=[company.pk])


# --- memberships --------------------------------------------------------------------------------


@transaction.atomic
def company_attach(*, company: Company, contact: Contact) -> tuple[CompanyContact, bool]:
    """Make the person a member (once): user_count goes up by one; (membership, created)."""
    if contact.role == Contact.Role.VISITOR:
        raise CompanyMembershipRefused(
            {"contact": "Only users and leads belong to companies; identify the visitor first."}
        )
    membership = CompanyContact.objects.filter(company=company, contact=contact).first()
    if membership is not None:
        return membership, False
    # Locked as the user_count update below would, but before the membership: a company a teammate deletes
    # meanwhile is refused, never a membership to no company (a foreign key error at the commit).
    if not Company.objects.select_for_update(no_key=True).filter(pk=company.pk).exists():
        raise company_gone_error(company, field="company")
    if CompanyContact.objects.filter(contact=contact).count() >= MAX_COMPANIES_PER_CONTACT:
        raise ValidationError({"companies": f"A person belongs to at most {MAX_COMPANIES_PER_CONTACT} companies."})
    try:
        with transaction.atomic():
            membership = CompanyContact.objects.create(company=company, contact=contact)
    except IntegrityError:  # attached by a concurrent request meanwhile
        return CompanyContact.objects.get(company=company, contact=contact), False
    seen = contact.last_seen_at
    Company.objects.filter(pk=company.pk).update(
        user_count=F("user_count") + 1,
        last_request_at=Greatest(Coalesce("last_request_at", Value(seen)), Value(seen))
        if seen
        else F("last_request_at"),
    )
    company.refresh_from_db(fields=["user_count", "last_request_at"])
    company_contact_changed.send(sender=CompanyContact, topic="company.contact.attached", membership=membership)
    return membership, True


@transaction.atomic
def company_detach(*, company: Company, contact: Contact) -> bool:
    """End the person's membership, if any: user_count goes down by one. True when one ended."""
    # The company first, as companies_delete locks it before its memberships: a detach racing the company's
    # deletion waits for it (and finds nothing) instead of deadlocking with it. The lock its user_count update takes
    # anyway (NO KEY UPDATE), so detaches of one company queue no more than before.
    if not Company.objects.select_for_update(no_key=True).filter(pk=company.pk).exists():
        return False
    membership = CompanyContact.objects.select_for_update().filter(company=company, contact=contact).first()
    if membership is None:
        return False
    membership.delete()
    Company.objects.filter(pk=company.pk, user_count__gt=0).update(user_count=F("user_count") - 1)
    company.refresh_from_db(fields=["user_count"])
    company_contact_changed.send(sender=CompanyContact, topic="company.contact.detached", membership=membership)
    return True


def companies_contacts_deleting(contact_ids: list[int]) -> None:
    """Lifecycle hook, inside the deletion's transaction, before the memberships go with the contacts:
    each company loses its deleted people from user_count, in one statement.

    Visitors (every expiry batch) belong to no company: one indexed existence check and nothing else.
    The contacts are locked before their companies, in the order the ping's general path takes them
    (contact row, then its companies), so an erase racing a member's ping cannot deadlock with it.
    """
    if not CompanyContact.objects.filter(contact_id__in=contact_ids).exists():
        return
    rows_lock(Contact, contact_ids)
    gone = (
        CompanyContact.objects.filter(company=OuterRef("pk"), contact_id__in=contact_ids)
        .order_by()
        .values("company")
        .annotate(n=Count("pk"))
        .values("n")
    )
    Company.objects.filter(memberships__contact_id__in=contact_ids).update(
        user_count=Greatest(F("user_count") - Coalesce(Subquery(gone, output_field=IntegerField()), 0), 0)
    )


def companies_memberships_merge(source: Contact, into: Contact) -> None:
    """Merge handler: the source's memberships move to `into`; a company both belong to counts them once."""
    shared = CompanyContact.objects.filter(contact=into).values("company_id")
    both = list(
        CompanyContact.objects.filter(contact=source, company_id__in=shared).values_list("company_id", flat=True)
    )
    CompanyContact.objects.filter(contact=source, company_id__in=both).delete()
    Company.objects.filter(pk__in=both, user_count__gt=0).update(user_count=F("user_count") - 1)
    CompanyContact.objects.filter(contact=source).update(contact=into)


def companies_activity_record(*, contact_id: int, now: dt.datetime, new_session: bool) -> None:
    """The person made a request (last seen written) or started a web session: their companies'
    last_request_at (at most once a minute per company) and session_count follow, in one statement.

    Called on the ping's general path only, in its transaction; a person in no company costs one
    indexed lookup that matches nothing.
    """
    companies = Company.objects.filter(pk__in=CompanyContact.objects.filter(contact_id=contact_id).values("company_id"))
    if new_session:
        companies.update(
            session_count=F("session_count") + 1,
            last_request_at=Greatest(Coalesce("last_request_at", Value(now)), Value(now)),
        )
    else:
        companies.filter(Q(last_request_at__isnull=True) | Q(last_request_at__lt=now - LAST_REQUEST_RESOLUTION)).update(
            last_request_at=now
        )


def contact_companies_sync(
    *,
    contact: Contact,
    companies: Iterable[tuple[Any, dict[str, Any], dict[str, Any] | None]],
    define_attributes: bool,
    update_existing: bool = True,
) -> list[tuple[Company, bool]]:
    """The site's `company`/`companies` settings for an identified person: each company created or
    updated by its company_id (values: fields, custom attributes; an existing one only with `update_existing`),
    and the person attached to it. Returns each company and whether it was created."""
    synced = []
    with transaction.atomic():
        for company_id, fields, custom_attributes in companies:
            company, created = company_create_or_update(
                company_id=company_id,
                custom_attributes=custom_attributes,
                define_attributes=define_attributes,
                update_existing=update_existing,
                **fields,
            )
            company_attach(company=company, contact=contact)
            synced.append((company, created))
    return synced


# --- tags ---------------------------------------------------------------------------------------


@transaction.atomic
def company_tag(*, company: Company, tag: Tag, actor: Teammate | None = None) -> CompanyTag:
    """Tag a company (once); a company or a tag deleted meanwhile is refused on its field (common.row_locks)."""
    contacts_services.tag_hold(tag)
    if not rows_hold(Company, [company.pk]):
        raise company_gone_error(company, field="company")
    link, _ = CompanyTag.objects.get_or_create(company=company, tag=tag, defaults={"tagged_by": actor})
    return link


@transaction.atomic
def company_untag(*, company: Company, tag: Tag) -> None:
    """Remove a tag from a company, if it has it."""
    CompanyTag.objects.filter(company=company, tag=tag).delete()


@transaction.atomic
def companies_tag_bulk(*, company_ids: Iterable[int], tag: Tag, actor: Teammate | None = None) -> int:
    """Tag many companies at once; already tagged ones stay as they are. Returns links added."""
    return contacts_services.tag_links_add_bulk(
        link_model=CompanyTag, owner_field="company_id", owner_ids=company_ids, tag=tag, actor=actor
    )


@transaction.atomic
def companies_untag_bulk(*, company_ids: Iterable[int], tag: Tag) -> int:
    """Remove a tag from many companies in one statement; returns how many links went."""
    return contacts_services.tag_links_remove_bulk(
        link_model=CompanyTag, owner_field="company_id", owner_ids=company_ids, tag=tag
    )


@transaction.atomic
def tag_save_with_companies(
    *,
    name: str,
    tag: Tag | None = None,
    actor: Teammate | None = None,
    tag_contact_ids: Iterable[int] = (),
    untag_contact_ids: Iterable[int] = (),
    tag_company_ids: Iterable[int] = (),
    untag_company_ids: Iterable[int] = (),
) -> Tag:
    """POST /tags: contacts.services.tag_save (create or rename, tag and untag contacts), then tag and
    untag the given companies, all in one transaction."""
    tag = contacts_services.tag_save(
        name=name, tag=tag, actor=actor, tag_contact_ids=tag_contact_ids, untag_contact_ids=untag_contact_ids
    )
    if tag_ids := list(tag_company_ids):
        companies_tag_bulk(company_ids=tag_ids, tag=tag, actor=actor)
    if untag_ids := list(untag_company_ids):
        companies_untag_bulk(company_ids=untag_ids, tag=tag)
    return tag


# --- privacy ------------------------------------------------------------------------------------


def contact_companies_export(contact: Contact) -> list[dict[str, Any]]:
    """Export section: the companies the person belongs to, and since when."""
    memberships = CompanyContact.objects.filter(contact=contact).select_related("company").order_by("created_at", "id")
    return [
        {"company_id": m.company.company_id, "name": m.company.name, "member_since": m.created_at} for m in memberships
    ]
