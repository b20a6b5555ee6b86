"""Routing, office hours and SLAs in the admin: assignment rules (with a preview), office schedules per
website, SLA policies and the breaches the beat task recorded."""

import datetime as dt
import re
import zoneinfo
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator

from common.admin_forms import ServiceValidatedForm, choices_may_be_deleted
from common.read_only_admin import ReadOnlyAdmin
from common.teammates import PROFILE, TeammateNamesAdmin, teammate_name
from conversations import services
from conversations.admin.choices import teammates
from conversations.models import (
    AssignmentRule,
    OfficeHoliday,
    OfficeInterval,
    OfficeSchedule,
    SlaBreach,
    SlaPolicy,
)
from conversations.services.expectations import availability_forget
from conversations.services.office_hours import hours_for_schedule, status_words, timezone_validate
from conversations.services.routing import assignment_rule_validate


class AssignmentRuleForm(ServiceValidatedForm, forms.ModelForm):
    class Meta:
        model = AssignmentRule
        fields = [
            "name", "position", "enabled", "website", "page_url_prefix", "page_url_pattern", "language",
            "contact_role", "contact_tag", "company_plan", "message_contains", "assign_team", "assign_teammate", "add_tag",
            "set_priority",
        ]  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices_may_be_deleted(self, "tag", "contact_tag", "add_tag")

    def _post_clean(self) -> None:
        super()._post_clean()
        if not self.errors:
            self.validate_with(lambda: assignment_rule_validate(rule=self.instance))


def _preview_text(rule: AssignmentRule) -> str:
    matched, total = services.rule_preview(rule=rule)
    if total == 1:
        return "Would match the last conversation." if matched else "Would not match the last conversation."
    return f"Would match {matched} of the last {total} conversations."


@admin.register(AssignmentRule)
class AssignmentRuleAdmin(TeammateNamesAdmin, admin.ModelAdmin):
    form = AssignmentRuleForm
    list_display = ["name", "position", "enabled", "conditions", "actions_column"]
    list_editable = ["position", "enabled"]
    list_select_related = ["website", "contact_tag", "assign_team", f"assign_teammate__{PROFILE}", "add_tag"]
    readonly_fields = ["preview"]
    autocomplete_fields = ["contact_tag", "add_tag"]
    fieldsets = [
        (None, {"fields": ["name", "position", "enabled", "preview"]}),
        ("When a conversation is created or reopened and all of these hold (empty: any)", {"fields": [
            "website", "page_url_prefix", "page_url_pattern", "language", "contact_role", "contact_tag",
            "company_plan", "message_contains",
        ]}),
        ("Then", {"fields": ["assign_team", "assign_teammate", "add_tag", "set_priority"]}),
    ]  # fmt: skip

    @admin.display(description="Preview")
    def preview(self, rule: AssignmentRule) -> str:
        if rule.pk is None:
            return (
                "Save the rule (not enabled yet) to see how many recent conversations it would match; then enable it."
            )
        return _preview_text(rule)

    def formfield_for_foreignkey(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        if db_field.name == "assign_teammate":  # only those who can answer (a viewer cannot)
            kwargs["queryset"] = teammates()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        # A new rule starts disabled: saving it to see its preview does not route anything yet.
        return {"enabled": False, **super().get_changeform_initial_data(request)}

    @admin.display(description="When")
    def conditions(self, rule: AssignmentRule) -> str:
        parts = [
            f"website {rule.website}" if rule.website_id else "",
            f"URL starts with {rule.page_url_prefix}" if rule.page_url_prefix else "",
            f"URL like {rule.page_url_pattern}" if rule.page_url_pattern else "",
            f"language {rule.language}" if rule.language else "",
            f"role {rule.get_contact_role_display()}" if rule.contact_role else "",
            f"tagged {rule.contact_tag}" if rule.contact_tag_id else "",
            f"company plan {rule.company_plan}" if rule.company_plan else "",
            f"message has {rule.message_contains}" if rule.message_contains else "",
        ]
        return "; ".join(p for p in parts if p) or "always"

    @admin.display(description="Then")
    def actions_column(self, rule: AssignmentRule) -> str:
        parts = [
            f"team {rule.assign_team}" if rule.assign_team_id else "",
            f"teammate {teammate_name(rule.assign_teammate)}" if rule.assign_teammate_id else "",
            f"tag {rule.add_tag}" if rule.add_tag_id else "",
            f"priority {rule.get_set_priority_display()}" if rule.set_priority else "",
        ]
        return "; ".join(p for p in parts if p)

    def save_model(self, request: HttpRequest, obj: AssignmentRule, form: forms.ModelForm, change: bool) -> None:
        services.assignment_rule_save(rule=obj)
        status = "" if obj.enabled else " Not enabled yet: tick Enabled to route conversations with it."
        self.message_user(request, f"“{obj}”: {_preview_text(obj)}{status}", messages.INFO)


# Besides 09:00 and 17:30, the hours people write: "9am", "5:30 pm", "17h", "17h30" (new-user walk: "9am" was refused).
_CLOCK_RE = re.compile(r"^\s*(\d{1,2})(?:[:.h](\d{2})?)?\s*(am|pm|a\.m\.|p\.m\.)?\s*$", re.IGNORECASE | re.ASCII)


class ClockTimeField(forms.TimeField):
    def to_python(self, value: Any) -> dt.time | None:
        match = _CLOCK_RE.match(value) if isinstance(value, str) else None
        if match is None:
            return super().to_python(value)
        hour, minute, half = int(match.group(1)), int(match.group(2) or 0), (match.group(3) or "").lower()[:1]
        if half:
            if not 1 <= hour <= 12:
                raise forms.ValidationError("With am or pm, the hour is from 1 to 12.", code="invalid")
            hour = hour % 12 + (12 if half == "p" else 0)
        if hour == 24 and minute == 0:
            hour = 0  # midnight at the end of the day, as 00:00 means it in a closing time
        if hour > 23 or minute > 59:
            raise forms.ValidationError("Enter a time such as 09:00, 9am or 17:30.", code="invalid")
        return dt.time(hour, minute)


class OfficeIntervalForm(forms.ModelForm):
    opens = ClockTimeField(help_text="09:00, 9am, 17h30…")
    closes = ClockTimeField(help_text="Later than opens; 00:00 (or midnight, 24:00) ends the day.")

    class Meta:
        model = OfficeInterval
        fields = ["weekday", "opens", "closes"]


class OfficeIntervalInline(admin.TabularInline):
    model = OfficeInterval
    form = OfficeIntervalForm
    extra = 0


class OfficeHolidayInline(admin.TabularInline):
    model = OfficeHoliday
    extra = 0


class OfficeScheduleForm(forms.ModelForm):
    # A list, not free text (new-user walk): a select jumps to what is typed, and a name is never misspelt.
    timezone = forms.ChoiceField(
        choices=lambda: [(name, name.replace("_", " ")) for name in sorted(zoneinfo.available_timezones())],
        initial="UTC",
        help_text="The time zone the hours below are in.",
    )

    class Meta:
        model = OfficeSchedule
        fields = ["website", "timezone"]

    def clean_timezone(self) -> str:
        name = self.cleaned_data["timezone"]
        try:
            timezone_validate(name)
        except forms.ValidationError as error:
            raise forms.ValidationError(error.message_dict["timezone"]) from None
        return name


@admin.register(OfficeSchedule)
class OfficeScheduleAdmin(admin.ModelAdmin):
    """A website's office hours: the messenger's "usually replies in…" / "back at…", and SLA clocks."""

    form = OfficeScheduleForm
    list_display = ["website", "timezone", "hours", "now"]
    list_select_related = ["website"]
    readonly_fields = ["now"]
    inlines = [OfficeIntervalInline, OfficeHolidayInline]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("intervals", "holidays")

    @admin.display(description="Now")
    def now(self, schedule: OfficeSchedule) -> str:
        if schedule.pk is None:
            return "Add the weekly hours below (one row per day and span); without any, the team is always open."
        return status_words(hours_for_schedule(schedule), timezone.now())

    @admin.display(description="Weekly hours")
    def hours(self, schedule: OfficeSchedule) -> str:
        # No hours: always open, as the "Now" column and the services say (it read "closed every day", a walk).
        return ", ".join(str(i) for i in schedule.intervals.all()) or "none set: always open"

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        availability_forget(website_id=form.instance.website_id)
        schedule = form.instance  # its rows as saved, not as prefetched before the save
        holidays = OfficeHoliday.objects.filter(schedule=schedule).exists()
        if holidays and not OfficeInterval.objects.filter(schedule=schedule).exists():
            # No hours: always open, holidays or not (a re-check saw "Open now" on a holiday, and no word why).
            self.message_user(
                request,
                "No weekly hours are set, so the team counts as always open and the holidays have no effect: add "
                "the hours it works.",
                messages.WARNING,
            )


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "priority", "first_response_minutes", "next_response_minutes", "close_minutes"]
    list_select_related = ["team"]


@admin.register(SlaBreach)
class SlaBreachAdmin(ReadOnlyAdmin):
    list_display = [
        "conversation_link", "kind", "due_at", "recorded_at", "team", "priority", "assignee_name", "notified_at",
    ]  # fmt: skip
    list_filter = ["kind", "priority", "team"]
    list_select_related = ["team", f"assignee__{PROFILE}", "conversation__contact"]
    show_full_result_count = False

    @admin.display(description="Assignee", ordering="assignee")
    def assignee_name(self, breach: SlaBreach) -> str:
        return teammate_name(breach.assignee) if breach.assignee_id else "—"

    @admin.display(description="Conversation")
    def conversation_link(self, breach: SlaBreach) -> str:
        """Who and what it is about, not its number alone (new-user walk: a list of "#25", "#31" to click through)."""
        conversation = breach.conversation
        about = Truncator(conversation.title or conversation.preview).chars(60)
        return format_html(
            '<a href="../conversation/{}/change/">#{} · {}</a><div class="help">{}</div>',
            conversation.pk, conversation.pk, conversation.contact, about,
        )  # fmt: skip
