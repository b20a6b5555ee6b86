"""What the inbox list and the conversation page both offer a teammate: teammates to pick, snooze times."""

import datetime as dt

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone

from common.teammates import PROFILE, TeammateChoiceField, teammate_name_order
from conversations import selectors

SNOOZE_PRESETS = {
    "1h": ("In 1 hour", lambda now: now + dt.timedelta(hours=1)),
    "4h": ("In 4 hours", lambda now: now + dt.timedelta(hours=4)),
    # In the teammate's time zone, as every time the admin shows them (config.middleware.TeammateTimeZoneMiddleware).
    "tomorrow": (
        "Tomorrow 09:00",
        lambda now: (timezone.localtime(now) + dt.timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0),
    ),
    "week": ("In a week", lambda now: now + dt.timedelta(days=7)),
}


def teammates() -> QuerySet:
    """The teammates a conversation can be assigned to (not a viewer: selectors.teammates_who_answer), with their
    profiles (their names: common.teammates)."""
    return (
        get_user_model()
        .objects.filter(is_active=True, is_staff=True)
        .filter(selectors.teammates_who_answer())
        .select_related(PROFILE)
        .order_by(*teammate_name_order())
    )


def teammate_field(*, label: str = "Teammate", required: bool = False) -> TeammateChoiceField:
    """A picker of the teammates above, each by their one name."""
    return TeammateChoiceField(queryset=teammates(), required=required, label=label)


def parse_snooze(raw_until: str, preset: str) -> dt.datetime:
    """The snooze end a teammate typed (a date and time) or picked (one of SNOOZE_PRESETS)."""
    now = timezone.now()
    if raw_until:
        field = forms.DateTimeField(input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"])
        try:
            if not raw_until.isascii():  # strptime reads Arabic-Indic digits ("٢٠٣٠"): the digits 0-9 only
                raise ValidationError("not ASCII")
            until = field.clean(raw_until)
        except (ValidationError, OverflowError):  # OverflowError: year 9999 in a zone east of UTC
            raise ValidationError({"snoozed_until": "Enter a date and time."}) from None
        # A moment in year 9999 has no local time in a zone east of UTC: the page would fail to show it there.
        if until.year >= 9999:
            raise ValidationError({"snoozed_until": "Pick a time before the year 9999."})
        return until
    if preset in SNOOZE_PRESETS:
        return SNOOZE_PRESETS[preset][1](now)
    raise ValidationError({"snoozed_until": "Pick when the conversation should come back."})
