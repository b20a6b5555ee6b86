"""What the inbox list and the conversation page both offer a teammate: teammates to pick, snooze times."""

import datetime as dt

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


SNOOZE_INPUT_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S")


def parse_snooze(raw_until: str, preset: str) -> dt.datetime:
    """The snooze end a teammate typed (a date and time in their zone) or picked (one of SNOOZE_PRESETS). A time the
    clocks go back over (it comes twice) is its first; one they skip is refused by name (a re-check read "Enter a date
    and time." for both)."""
    now = timezone.now()
    if raw_until:
        naive = _naive_moment(raw_until.strip())
        if naive is None:
            raise ValidationError({"snoozed_until": "Enter a date and time."})
        # A moment in year 9999 has no local time in a zone east of UTC: the page would fail to show it there.
        if naive.year >= 9999:
            raise ValidationError({"snoozed_until": "Pick a time before the year 9999."})
        zone = timezone.get_current_timezone()
        until = naive.replace(tzinfo=zone)  # fold 0: the first of a time that comes twice
        try:
            round_trip = until.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None)
        except OverflowError:  # year 1 in a zone east of UTC: before any moment
            raise ValidationError({"snoozed_until": "Pick a time in the future."}) from None
        if round_trip != naive:
            raise ValidationError(
                {"snoozed_until": f"There is no {naive:%H:%M} on {naive:%b %d} in {zone}: the clocks go forward then."}
            )
        return until
    if preset in SNOOZE_PRESETS:
        return SNOOZE_PRESETS[preset][1](now)
    raise ValidationError({"snoozed_until": "Pick when the conversation should come back."})


def _naive_moment(text: str) -> dt.datetime | None:
    """A date and time in the digits 0-9 (strptime also reads Arabic-Indic ones) in one of SNOOZE_INPUT_FORMATS."""
    if not text.isascii():
        return None
    for pattern in SNOOZE_INPUT_FORMATS:
        try:
            return dt.datetime.strptime(text, pattern)  # noqa: DTZ007 - the teammate's zone is applied by the caller
        except ValueError:
            continue
    return None
