"""Reads of the retention policy and runs."""

import datetime as dt

from django.apps import apps
from django.core.cache import cache
from django.db import models
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import ngettext

from contacts.models import Contact
from retention.models import RetentionPolicy, RetentionRun

# The rules are also kept in the cache, so the contact page can show them without a query.
POLICY_CACHE_KEY = "retention:policy:v1"
POLICY_CACHE_SECONDS = 24 * 3600
POLICY_RULE_FIELDS = (
    "visitor_expiry_enabled",
    "visitor_ttl_days",
    "closed_conversation_ttl_days",
    "tracking_ttl_days",
    "tracking_keep_months",
    "lead_ttl_days",
)


def retention_policy_remember(policy: RetentionPolicy) -> None:
    """Cache the policy's rules, so the widget and admin read them without a query."""
    cache.set(POLICY_CACHE_KEY, {name: getattr(policy, name) for name in POLICY_RULE_FIELDS}, POLICY_CACHE_SECONDS)


def retention_policy_get() -> RetentionPolicy:
    """The policy row (created by the migration); its defaults when it is missing."""
    policy = RetentionPolicy.objects.filter(pk=1).first() or RetentionPolicy(pk=1)
    retention_policy_remember(policy)
    return policy


def retention_policy_cached() -> RetentionPolicy | None:
    """The policy's rules from the cache, without a query; None when the cache does not hold them."""
    rules = cache.get(POLICY_CACHE_KEY)
    return RetentionPolicy(pk=1, **rules) if rules is not None else None


def retention_optional_rules_on() -> bool:
    """At least one optional rule (closed conversations, page views and events, leads) has a TTL."""
    policy = retention_policy_get()
    return any(
        getattr(policy, name) is not None
        for name in ("closed_conversation_ttl_days", "tracking_ttl_days", "tracking_keep_months", "lead_ttl_days")
    )


def retention_runs_recent(*, limit: int = 20) -> models.QuerySet[RetentionRun]:
    """The most recent retention runs, newest first."""
    return RetentionRun.objects.order_by("-started_at", "-id")[:limit]


def model_label_words(label: str) -> str:
    """A model label as a person reads it ("contacts.Contact" → "Contacts"); unknown labels stay as they are."""
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError):
        return label
    return capfirst(str(model._meta.verbose_name_plural))


def contact_expiry_get(*, contact: Contact, policy: RetentionPolicy | None = None) -> dict[str, object]:
    """Which rule would delete this contact, and when, unless it is seen again (no query when the
    policy is cached; otherwise `known` is False and only the role is told)."""
    policy = policy or retention_policy_cached()
    if policy is None:
        return {"known": False, "rule": None, "role": contact.get_role_display().lower(), "expires_at": None}
    seen = contact.last_seen_at or contact.first_seen_at or contact.created_at
    if contact.role == Contact.Role.VISITOR and policy.visitor_expiry_enabled:
        ttl_days = policy.visitor_ttl_days
    elif contact.role == Contact.Role.LEAD and policy.lead_ttl_days:
        ttl_days = policy.lead_ttl_days
    else:
        return {"known": True, "rule": None, "role": contact.get_role_display().lower(), "expires_at": None}
    expires_at = seen + dt.timedelta(days=ttl_days) if seen else None
    return {
        "known": True,
        "rule": f"{contact.get_role_display().lower()}s not seen for {_days(ttl_days)}",
        "role": contact.get_role_display().lower(),
        # Already past: the next scheduled run deletes it, which is what the panel then says.
        "expires_at": expires_at if expires_at and expires_at > timezone.now() else None,
    }


def _days(count: int) -> str:
    return ngettext("%(count)d day", "%(count)d days", count) % {"count": count}
