"""Reads of the retention policy and runs."""

from django.db import models

from retention.models import RetentionPolicy, RetentionRun


def retention_policy_get() -> RetentionPolicy:
    """The policy row (created by the migration); its defaults when it is missing."""
    return RetentionPolicy.objects.filter(pk=1).first() or RetentionPolicy(pk=1)


def retention_runs_recent(*, limit: int = 20) -> models.QuerySet[RetentionRun]:
    return RetentionRun.objects.order_by("-started_at", "-id")[:limit]
