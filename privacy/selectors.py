"""Reads of the privacy app: request deadlines for the admin."""

import datetime as dt
from dataclasses import dataclass
from email.utils import parseaddr

from django.db.models import QuerySet
from django.utils import timezone

from contacts.models import Contact
from privacy.models import DataSubjectRequest


def deadline_day(moment: dt.datetime | None = None) -> dt.date:
    """The day of `moment` (now by default) by the calendar deadlines are kept against: Parley's own (TIME_ZONE), not
    the teammate's. The admin runs in each teammate's zone, and a request was overdue in Tokyo hours before it was in
    London, and on the admin index for one and not the other."""
    return timezone.localdate(moment, timezone=timezone.get_default_timezone())


def deadline_today() -> dt.date:
    return deadline_day()


def data_subject_requests_overdue(*, today: dt.date | None = None) -> QuerySet[DataSubjectRequest]:
    """Open requests past their one-month deadline, the most overdue first."""
    today = today or deadline_today()
    return DataSubjectRequest.objects.filter(status=DataSubjectRequest.Status.OPEN, due_at__lt=today).order_by(
        "due_at", "id"
    )


def data_subject_requests_for_contact(*, contact_id: int, limit: int = 10) -> list[DataSubjectRequest]:
    """A contact's requests, newest first (the contact page's privacy panel)."""
    return list(DataSubjectRequest.objects.filter(contact_id=contact_id).order_by("-received_at", "-id")[:limit])


@dataclass(frozen=True)
class ErasureSubject:
    """Whom an erasure request would erase, as its confirmation names them."""

    contact: Contact
    conversations: int
    requester_differs: bool


def erasure_subject(request: DataSubjectRequest, contact: Contact) -> ErasureSubject:
    """How many conversations go with the request's `contact` (as the carry-out check found it), and whether the
    requester is written as an email address other than the contact's (a mistyped id erases someone else: a walk found
    nothing on the page to catch it)."""
    # "Jane Walker <jane@example.com>" as well as the bare address.
    requester = parseaddr(request.subject)[1].strip().casefold()
    differs = "@" in requester and requester != (contact.email or "").casefold()
    return ErasureSubject(contact=contact, conversations=contact.conversations.count(), requester_differs=differs)
