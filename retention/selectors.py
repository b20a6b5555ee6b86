"""Reads of the retention policy and runs."""

import datetime as dt

from django.db import models

from contacts.models import Contact
from retention.models import RetentionPolicy, RetentionRun


def retention_policy_get() -> RetentionPolicy:
    """The policy row (created by the migration); its defaults when it is missing."""
    return RetentionPolicy.objects.filter(pk=1).first() or RetentionPolicy(pk=1)


def retention_runs_recent(*, limit: int = 20) -> models.QuerySet[RetentionRun]:
    return RetentionRun.objects.order_by("-started_at", "-id")[:limit]


def contact_expiry_get(*, contact: Contact, policy: RetentionPolicy | None = None) -> dict[str, object]:
    """Which rule would delete this contact, and when, unless it is seen again."""
    policy = policy or retention_policy_get()
    seen = contact.last_seen_at or contact.first_seen_at or contact.created_at
    if contact.role == Contact.Role.VISITOR and policy.visitor_expiry_enabled:
        ttl_days = policy.visitor_ttl_days
    elif contact.role == Contact.Role.LEAD and policy.lead_ttl_days:
        ttl_days = policy.lead_ttl_days
    else:
        return {"rule": None, "role": contact.get_role_display().lower(), "expires_at": None}
    return {
        "rule": f"{contact.get_role_display().lower()}s not seen for {ttl_days} days",
        "role": contact.get_role_display().lower(),
        "expires_at": seen + dt.timedelta(days=ttl_days) if seen else None,
    }
