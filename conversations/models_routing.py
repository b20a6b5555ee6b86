"""Routing, office hours and SLAs: assignment rules, office schedules per website, SLA targets and breaches.

Imported at the end of `conversations/models.py` (same app, own module: the conversations models stay
readable). The services are `conversations/services/{routing,office_hours,sla}.py`.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from contacts.models import Contact, Tag
from conversations.models import Conversation, Team


class AssignmentRule(models.Model):
    """Conditions (all that are set must hold) and actions; rules run in `position` order, the first match wins."""

    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0, help_text="Rules run from the lowest number up.")
    enabled = models.BooleanField(default=True)
    # --- conditions (empty: any) ---
    website = models.ForeignKey(
        "tracking.Website", null=True, blank=True, on_delete=models.CASCADE, related_name="assignment_rules"
    )
    page_url_prefix = models.CharField(
        "page URL starts with", max_length=500, blank=True,
        help_text="e.g. https://example.com/pricing (the page the conversation was started on).",
    )  # fmt: skip
    page_url_pattern = models.CharField(
        "page URL pattern", max_length=500, blank=True,
        help_text="* matches any characters, e.g. */checkout/*. Compared case-insensitively with the whole URL.",
    )  # fmt: skip
    language = models.CharField(max_length=16, blank=True, help_text="Language code, e.g. fr (also matches fr-CA).")
    contact_role = models.CharField(max_length=8, choices=Contact.Role.choices, blank=True)
    contact_tag = models.ForeignKey(
        Tag, null=True, blank=True, on_delete=models.CASCADE, related_name="+", help_text="The contact has this tag."
    )
    company_plan = models.CharField(
        "company plan", max_length=255, blank=True,
        help_text="One of the contact's companies is on this plan (any case).",
    )  # fmt: skip
    message_contains = models.CharField(
        "message contains", max_length=200, blank=True,
        help_text="Words separated by commas; the first message must contain one of them (any case).",
    )  # fmt: skip
    # --- actions ---
    assign_team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    assign_teammate = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Empty with a team: the team's round robin picks the teammate.",
    )  # fmt: skip
    add_tag = models.ForeignKey(Tag, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    set_priority = models.CharField(max_length=12, choices=Conversation.Priority.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class TeamRoundRobin(models.Model):
    """A team's round-robin pointer: locked while a member is picked, so concurrent picks are serialised."""

    team = models.OneToOneField(Team, primary_key=True, on_delete=models.CASCADE, related_name="round_robin")
    enabled = models.BooleanField(default=True, help_text="Conversations routed to the team go to its members in turn.")
    last_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"Round robin of {self.team}"


class OfficeSchedule(models.Model):
    """A website's office hours: weekly intervals in a time zone, minus holidays. No schedule: always open."""

    website = models.OneToOneField("tracking.Website", on_delete=models.CASCADE, related_name="office_schedule")
    timezone = models.CharField(max_length=64, default="UTC", help_text="An IANA time zone, e.g. Europe/Paris.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Office hours of {self.website}"


class OfficeInterval(models.Model):
    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    schedule = models.ForeignKey(OfficeSchedule, on_delete=models.CASCADE, related_name="intervals")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens = models.TimeField()
    closes = models.TimeField(help_text="Later than opens; 00:00 means midnight at the end of the day.")

    class Meta:
        ordering = ["weekday", "opens"]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}-{self.closes:%H:%M}"


class OfficeHoliday(models.Model):
    schedule = models.ForeignKey(OfficeSchedule, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["schedule", "date"], name="office_holiday_unique_date")]

    def __str__(self) -> str:
        return f"{self.date} {self.name}".strip()


MAX_TARGET_MINUTES = 60 * 24 * 90


class SlaPolicy(models.Model):
    """Targets for a priority (and a team, or every team), in office-hours minutes; empty: no target."""

    name = models.CharField(max_length=100)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="sla_policies",
        help_text="Empty: conversations of any team without a policy of their own.",
    )  # fmt: skip
    priority = models.CharField(max_length=12, choices=Conversation.Priority.choices)
    first_response_minutes = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(MAX_TARGET_MINUTES)]
    )
    next_response_minutes = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(MAX_TARGET_MINUTES)]
    )
    close_minutes = models.PositiveIntegerField(
        "time to close (minutes)", null=True, blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_TARGET_MINUTES)],
    )  # fmt: skip

    class Meta:
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        ordering = ["team__name", "priority"]
        constraints = [
            models.UniqueConstraint(fields=["team", "priority"], name="sla_policy_team_priority"),
            models.UniqueConstraint(
                fields=["priority"], condition=models.Q(team__isnull=True), name="sla_policy_default_priority"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SlaBreach(models.Model):
    """A target missed: recorded once per conversation, kind and due time by the beat task (for reports)."""

    class Kind(models.TextChoices):
        FIRST_RESPONSE = "first_response", "First response"
        NEXT_RESPONSE = "next_response", "Next response"
        CLOSE = "close", "Time to close"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="sla_breaches")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    due_at = models.DateTimeField()
    recorded_at = models.DateTimeField()
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    priority = models.CharField(max_length=12, choices=Conversation.Priority.choices)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "SLA breach"
        verbose_name_plural = "SLA breaches"
        ordering = ["-recorded_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "kind", "due_at"], name="sla_breach_once"),
        ]
        indexes = [models.Index(fields=["recorded_at"], name="sla_breach_recorded")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} missed in conversation {self.conversation_id}"
