"""Writes of the privacy app: data subject requests, recorded and carried out through the contacts services."""

import calendar
import datetime as dt
from types import EllipsisType
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from contacts import services as contact_services
from contacts.models import Contact, PrivacyAuditEntry
from privacy.models import DataSubjectRequest

Teammate = AbstractBaseUser


def request_deadline(received_at: dt.date) -> dt.date:
    """One month after receipt (GDPR Art. 12(3)): the same day next month, or that month's last day."""
    year, month = (received_at.year + 1, 1) if received_at.month == 12 else (received_at.year, received_at.month + 1)
    return dt.date(year, month, min(received_at.day, calendar.monthrange(year, month)[1]))


# The furthest ahead any clock runs (Kiritimati, UTC+14).
_AHEAD_OF_UTC_AT_MOST = dt.timedelta(hours=14)


def _latest_date_anywhere() -> dt.date:
    """Today somewhere: a request a teammate received on their own today, in any time zone, is no request from the
    future for a teammate who edits it later behind them (one in UTC could not save it, a note even, until midnight)."""
    return (timezone.now() + _AHEAD_OF_UTC_AT_MOST).astimezone(dt.UTC).date()


def data_subject_request_clean(*, kind: str, subject: str, received_at: dt.date, contact_id: int | None) -> None:
    """The rules a request's details follow (the admin form shows their errors on its fields)."""
    if kind not in DataSubjectRequest.Kind.values:
        raise ValidationError({"kind": f"Must be one of: {', '.join(DataSubjectRequest.Kind.values)}."})
    if not subject or not subject.strip():
        raise ValidationError({"subject": "Say who made the request (an email or a name)."})
    if "\x00" in subject:
        raise ValidationError({"subject": "Must not contain NUL characters."})
    if received_at > _latest_date_anywhere():
        raise ValidationError({"received_at": "A request cannot be received in the future."})
    if contact_id is not None and not Contact.objects.filter(pk=contact_id).exists():
        raise ValidationError({"contact_id": "No contact has this id."})


@transaction.atomic
def data_subject_request_create(
    *,
    kind: str,
    subject: str,
    received_at: dt.date,
    contact_id: int | None = None,
    handler: Teammate | None = None,
    notes: str = "",
) -> DataSubjectRequest:
    """Record a request with its one-month deadline."""
    data_subject_request_clean(kind=kind, subject=subject, received_at=received_at, contact_id=contact_id)
    return DataSubjectRequest.objects.create(
        kind=kind, subject=subject.strip(), received_at=received_at, due_at=request_deadline(received_at),
        contact_id=contact_id, handler=handler, notes=notes,
    )  # fmt: skip


@transaction.atomic
def data_subject_request_update(*, request: DataSubjectRequest, **fields: Any) -> DataSubjectRequest:
    """Change a request's details; a new received date moves its deadline. Done only by carrying it out."""
    if fields.get("status") == DataSubjectRequest.Status.DONE and request.status != DataSubjectRequest.Status.DONE:
        raise ValidationError({"status": "A request is done when it is carried out: use Carry out and close."})
    if request.status == DataSubjectRequest.Status.DONE and fields.get("status", request.status) != request.status:
        raise ValidationError({"status": "This request was carried out: it stays done."})
    data_subject_request_clean(
        kind=fields.get("kind", request.kind),
        subject=fields.get("subject", request.subject),
        received_at=fields.get("received_at", request.received_at),
        # An erased contact's request keeps its id: it can still be edited and closed.
        contact_id=fields["contact_id"] if fields.get("contact_id", request.contact_id) != request.contact_id else None,
    )
    for name, value in fields.items():
        setattr(request, name, value)
    if "received_at" in fields:
        request.due_at = request_deadline(request.received_at)
    request.save()
    return request


def data_subject_request_contact_to_act_on(
    *, request: DataSubjectRequest, shown_contact_id: int | EllipsisType | None = ...
) -> Contact | None:
    """The contact an open request would act on, or a ValidationError saying why it cannot be carried out: it is
    closed, it names another contact than the page showed (`shown_contact_id`: someone edited it meanwhile), or no
    contact that exists (only a rectification, the teammate's own edit, needs none). Checked before an erasure's
    confirmation is shown too, so that it never names someone the teammate's page did not."""
    if shown_contact_id is not ... and shown_contact_id != request.contact_id:
        raise ValidationError(
            {"contact_id": "The request's contact changed since the page was shown: check it and carry it out again."}
        )
    if request.status != DataSubjectRequest.Status.OPEN:
        raise ValidationError({"status": "This request is already closed."})
    contact = Contact.objects.filter(pk=request.contact_id).first() if request.contact_id else None
    if contact is not None or request.kind == DataSubjectRequest.Kind.RECTIFICATION:
        return contact
    if request.contact_id is None:
        raise ValidationError({"contact_id": "Link the request to the contact it is about first."})
    raise ValidationError(
        {
            "contact_id": f"Contact {request.contact_id} no longer exists (erased, merged into a user, or expired): "
            "link the request to the contact it is about, or refuse it with the reason in the notes."
        }
    )


@transaction.atomic
def data_subject_request_carry_out(
    *, request: DataSubjectRequest, teammate: Teammate, shown_contact_id: int | EllipsisType | None = ...
) -> tuple[DataSubjectRequest, dict[str, Any] | None]:
    """Do what the request asks through the contacts services, then close it as done by `teammate`.

    Access returns the GDPR export (the caller hands it over); erasure erases the contact and its
    history; restriction freezes it (chat only); objection withdraws marketing and unsubscribes;
    rectification is the teammate's edit of the contact, recorded as done. `shown_contact_id`: the
    contact the teammate confirmed (the admin page's); refused when the request now names another."""
    request = DataSubjectRequest.objects.select_for_update().get(pk=request.pk)
    contact = data_subject_request_contact_to_act_on(request=request, shown_contact_id=shown_contact_id)
    export = None
    source = PrivacyAuditEntry.Source.ADMIN
    if request.kind == DataSubjectRequest.Kind.ACCESS:
        export = contact_services.contact_export(contact=contact, actor=teammate, source=source)
    elif request.kind == DataSubjectRequest.Kind.ERASURE:
        contact_services.contact_erase(contact=contact, actor=teammate, source=source)
    elif request.kind == DataSubjectRequest.Kind.RESTRICTION:
        contact_services.contact_processing_restrict(contact=contact, restricted=True, actor=teammate, source=source)
    elif request.kind == DataSubjectRequest.Kind.OBJECTION:
        contact_services.contact_marketing_object(contact=contact, actor=teammate, source=source)
    request.status = DataSubjectRequest.Status.DONE
    request.handler = teammate
    request.completed_at = timezone.now()
    request.save(update_fields=["status", "handler", "completed_at"])
    return request, export
