"""Reads of the privacy app: request deadlines for the admin."""

import datetime as dt

from django.db.models import QuerySet
from django.utils import timezone

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
