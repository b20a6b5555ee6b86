"""The dashboard's filters from the query string: strict, every refusal naming its field (never a 500)."""

import datetime as dt
from typing import Any

from django import forms

from common.parsing import iso_date_or_none
from reports.selectors import MAX_RANGE_DAYS, ReportFilters

DEFAULT_RANGE_DAYS = 30
PRESET_DAYS = (7, 30, 90, 365)


class DashboardFilterForm(forms.Form):
    start = forms.CharField(required=False, max_length=10, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.CharField(required=False, max_length=10, widget=forms.DateInput(attrs={"type": "date"}))
    website = forms.ChoiceField(required=False)
    team = forms.ChoiceField(required=False)

    def __init__(
        self, data: Any, *, today: dt.date, websites: list[tuple[int, str]], teams: list[tuple[int, str]]
    ) -> None:
        super().__init__(data)
        self.today = today
        self.fields["website"].choices = [("", "All websites"), *((str(pk), name) for pk, name in websites)]
        self.fields["team"].choices = [("", "All teams"), *((str(pk), name) for pk, name in teams)]

    def _date(self, name: str) -> dt.date | None:
        text = self.cleaned_data.get(name) or ""
        if not text:
            return None
        day = iso_date_or_none(text)
        if day is None:
            raise forms.ValidationError("Enter a date as YYYY-MM-DD, e.g. 2025-03-01.")
        return day

    def clean_start(self) -> dt.date | None:
        return self._date("start")

    def clean_end(self) -> dt.date | None:
        return self._date("end")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        end = cleaned.get("end") or self.today
        span = dt.timedelta(days=min(DEFAULT_RANGE_DAYS - 1, (end - dt.date.min).days))  # never before year 1
        start = cleaned.get("start") or end - span
        if start > end:
            self.add_error("start", "The start must be on or before the end.")
        elif (end - start).days + 1 > MAX_RANGE_DAYS:
            self.add_error("start", f"Show at most {MAX_RANGE_DAYS} days at once.")
        elif end == dt.date.max:
            self.add_error("end", "Pick an end date before the year 9999 ends.")
        cleaned["start"], cleaned["end"] = start, end
        # The date inputs show the days shown, also when the query string left them out.
        self.data = self.data.copy()
        self.data["start"], self.data["end"] = start.isoformat(), end.isoformat()
        return cleaned

    def filters(self) -> ReportFilters:
        """The valid form's filters (call after is_valid())."""
        data = self.cleaned_data
        return ReportFilters(
            start=data["start"],
            end=data["end"],
            website_id=int(data["website"]) if data.get("website") else None,
            team_id=int(data["team"]) if data.get("team") else None,
        )


def preset_ranges(*, today: dt.date) -> list[tuple[str, dt.date, dt.date]]:
    """("Last 30 days", start, end) for the quick range links."""
    return [(f"Last {days} days", today - dt.timedelta(days=days - 1), today) for days in PRESET_DAYS]
