from django.conf import settings
from django.db import models

DEFAULT_VISITOR_TTL_DAYS = 270


class RetentionPolicy(models.Model):
    """The one row of retention rules; the visitor rule is on by default, the others are opt-in."""

    visitor_expiry_enabled = models.BooleanField(
        "expire stale visitors",
        default=True,
        help_text="Delete anonymous visitors, with their whole history, once they have not been seen for the days "
        "below.",
    )
    visitor_ttl_days = models.PositiveIntegerField(
        "delete visitors not seen for (days)",
        default=DEFAULT_VISITOR_TTL_DAYS,
        help_text="Days since a visitor was last seen (first seen or created when never seen) before it expires.",
    )
    closed_conversation_ttl_days = models.PositiveIntegerField(
        "delete closed conversations after (days)",
        null=True,
        blank=True,
        help_text="When set, delete closed conversations, their parts and messages, this many days after their "
        "last update; the contact stays.",
    )
    tracking_ttl_days = models.PositiveIntegerField(
        "delete page views and events after (days)",
        null=True,
        blank=True,
        help_text="When set, delete page views and events older than this many days; contacts, sessions and "
        "their counters stay.",
    )
    tracking_keep_months = models.PositiveSmallIntegerField(
        "keep page views and events (months)",
        null=True,
        blank=True,
        help_text="When set, keep page views and events of the current month and this many months before it; "
        "older months go at once (on PostgreSQL a whole monthly partition is dropped, no row is deleted one by "
        "one). Set this or the days above, not both.",
    )
    lead_ttl_days = models.PositiveIntegerField(
        "delete leads not seen for (days)",
        null=True,
        blank=True,
        help_text="When set, delete leads (with their whole history) not seen for this many days; users are "
        "never deleted by a rule.",
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        verbose_name = "retention policy"
        verbose_name_plural = "retention policy"
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="retention_policy_single_row")]

    def __str__(self) -> str:
        return "Retention policy"


class RetentionRun(models.Model):
    """One execution of a retention job: what it deleted (counts per model), never whom."""

    class Kind(models.TextChoices):
        VISITORS = "visitors", "Stale visitors"
        RULES = "rules", "Optional rules"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.VISITORS)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    dry_run = models.BooleanField(default=False)
    trigger = models.CharField(max_length=16, default="task", help_text="task, command or admin")
    cutoff = models.DateTimeField(null=True, blank=True, help_text="Visitors last seen before this were expired.")
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last batch committed.")
    finished_at = models.DateTimeField(null=True, blank=True)
    batches = models.PositiveIntegerField(default=0)
    contacts_deleted = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True, help_text="Rows deleted per model.")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="retention_run_status_beat")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} run {self.pk} ({self.status})"

    @property
    def rows_deleted(self) -> int:
        return sum(count for label, count in self.counts.items() if not label.startswith("kept:"))
