"""The record of processing activities (GDPR Art. 30), generated on demand from the running configuration:
the contact fields and defined custom attributes, the websites' purposes and legal bases, the live
retention policy, the email provider and webhook hosts, and the security measures in force."""

import datetime as dt
import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from api.models import WebhookSubscription
from contacts.models import Contact, DataAttribute
from retention.selectors import retention_policy_get
from tracking.models import Website

# Contact columns that are bookkeeping, not data about the person.
_NOT_PERSONAL = {"id", "owner", "is_archived", "created_at", "updated_at"}

PURPOSES = {
    "support": "Answer the person's messages (chat, email replies) and know who they are (identity).",
    "analytics": "Understand use of the website: page views, web sessions and custom events.",
    "marketing": "Outbound messages: email open and click tracking, in-app campaigns.",
}
# Only what the website's owner chose in its settings is printed (support_basis, analytics_basis,
# marketing_basis): a basis nobody chose is said to be not chosen, never assumed.
NOT_CHOSEN = "not chosen yet: choose it in the website's settings"
SUPPORT_BASIS = {
    Website.SupportBasis.CONTRACT: "Art. 6(1)(b) contract: answering the person's own requests",
    Website.SupportBasis.LEGITIMATE_INTEREST: "Art. 6(1)(f) legitimate interest in answering the people who write",
}
ANALYTICS_BASIS = {
    Website.AnalyticsBasis.CONSENT: "Art. 6(1)(a) consent",
    Website.AnalyticsBasis.LEGITIMATE_INTEREST: "Art. 6(1)(f) legitimate interest, a refusal is honoured",
}
ANALYTICS_MODE = {
    Website.TrackingMode.FULL: "analytics default Full tracking: recorded unless refused",
    Website.TrackingMode.SUPPORT_ONLY: "analytics default Support only: nothing recorded before consent",
}


def _analytics_basis(website: Website) -> str:
    basis = f"{ANALYTICS_BASIS[website.analytics_basis]}; {ANALYTICS_MODE[website.tracking_mode]}"
    if website.analytics_basis == Website.AnalyticsBasis.CONSENT and website.tracking_mode == Website.TrackingMode.FULL:
        basis += "; WARNING: this records page views before consent, set Support only until consent"
    return basis


MARKETING_BASIS = {
    Website.MarketingBasis.CONSENT: "Art. 6(1)(a) consent (no open/click tracking, no in-app campaigns before it)",
    Website.MarketingBasis.LEGITIMATE_INTEREST: "Art. 6(1)(f) legitimate interest, chosen by the website's owner "
    "(a refusal or objection is honoured)",
}


def _email_recipient() -> dict[str, str]:
    """The email provider from EMAIL_URL (its host for SMTP, the backend's name for an API provider)."""
    backend = settings.EMAIL_BACKEND
    if backend.endswith("smtp.EmailBackend"):
        return {"recipient": settings.EMAIL_HOST, "role": "email delivery (SMTP relay, processor)"}
    if "console" in backend or "locmem" in backend or "dummy" in backend or "filebased" in backend:
        return {"recipient": "none", "role": f"emails are not sent ({backend.rsplit('.', 2)[-2]} backend)"}
    return {"recipient": backend.split(".")[-2], "role": f"email delivery provider ({backend})"}


def _retention(*, now: dt.datetime) -> list[dict[str, Any]]:
    policy = retention_policy_get()
    visitors = policy.visitor_ttl_days if policy.visitor_expiry_enabled else None
    rules = [
        ("Anonymous visitors and their whole history", visitors),
        ("Leads and their whole history", policy.lead_ttl_days),
        ("Closed conversations, their messages", policy.closed_conversation_ttl_days),
        ("Page views and events", policy.tracking_ttl_days),
    ]
    # The wording of each rule is the retention admin's own (retention.models.RetentionPolicy help texts).
    wording = {
        "Anonymous visitors and their whole history": "deleted once not seen for {} days",
        "Leads and their whole history": "deleted once not seen for {} days",
        "Closed conversations, their messages": "deleted {} days after their last update",
        "Page views and events": "deleted when older than {} days",
    }
    rows = [
        {"data": data, "days": days, "rule": wording[data].format(days) if days else "kept until erased"}
        for data, days in rules
    ]
    if policy.tracking_keep_months:  # the months rule instead of the days one (the policy allows one)
        rows[-1]["rule"] = (
            f"kept for the current month and the {policy.tracking_keep_months} before it, then deleted month by month"
        )
    rows.append({"data": "Users", "days": None, "rule": "kept until erased on request (never by a rule)"})
    return rows


def record_of_processing(*, now: dt.datetime | None = None) -> dict[str, Any]:
    """The record as JSON-ready data, read from the live configuration (a fixed handful of queries)."""
    now = now or timezone.now()
    fields = [
        {"name": field.name, "label": str(field.verbose_name)}
        for field in Contact._meta.concrete_fields
        if field.name not in _NOT_PERSONAL
    ]
    attributes = [
        {"name": a.name, "label": a.label or a.name, "type": a.data_type, "archived": a.archived}
        for a in DataAttribute.objects.filter(model=DataAttribute.Model.CONTACT).order_by("name")
    ]
    websites = list(Website.objects.order_by("name", "pk"))
    webhook_topics: dict[str, set[str]] = {}
    for url, topics in WebhookSubscription.objects.filter(active=True).values_list("url", "topics"):
        host = urlsplit(url).hostname or url
        webhook_topics.setdefault(host, set()).update(str(t) for t in topics or [])
    return {
        "generated_at": now.isoformat(),
        "controller": "The operator of this Parley install (fill in name and contact details)",
        "categories_of_data_subjects": [
            "anonymous website visitors",
            "leads (wrote to support)",
            "users of the websites",
        ],
        "categories_of_personal_data": {
            "standard_fields": fields,
            "custom_attributes": attributes,
            "activity": ["web sessions", "page views (URL, title, referrer)", "custom events"],
            "communications": [
                "conversations and their messages",
                "outbound messages and their opens and clicks",
                # Listed from the live settings: only where an owner switched conversation ratings on.
                *(
                    [f"conversation ratings (1 to 5) and their comments ({', '.join(w.name for w in rating_sites)})"]
                    if (rating_sites := [w for w in websites if w.conversation_ratings_enabled])
                    else []
                ),
            ],
        },
        "purposes": [{"purpose": name, "description": text} for name, text in PURPOSES.items()],
        "legal_bases": [
            {
                "website": w.name,
                "app_id": w.app_id,
                "support": SUPPORT_BASIS.get(w.support_basis, NOT_CHOSEN),
                "analytics": _analytics_basis(w),
                "marketing": MARKETING_BASIS[w.marketing_basis],
            }
            for w in websites
        ],
        "retention": _retention(now=now),
        "recipients": [
            _email_recipient(),
            *(
                {"recipient": host, "role": f"webhook destination, topics: {', '.join(sorted(topics)) or 'none'}"}
                for host, topics in sorted(webhook_topics.items())
            ),
        ],
        "international_transfers": "None by Parley itself; check the recipients above.",
        "security_measures": {
            "ip_addresses": "Never stored or logged: city and country are derived at request time, then the IP is dropped.",
            "encryption_in_transit": "HTTPS enforced (redirect, HSTS)"
            if settings.HTTPS_ONLY
            else "HTTPS not enforced by Parley (HTTPS_ONLY is off)",
            "identity_verification": [
                {"website": w.name, "app_id": w.app_id, "status": w.get_identity_verification_display()}
                for w in websites
            ],
            "access_control": "Teammates in the agent group work conversations, the viewer group only reads; API tokens are stored hashed.",
            "audit": "Exports, erasures, restrictions (and their lifting) and objections are recorded in the privacy "
            "audit log (who, when, which contact id).",
        },
    }


# Characters that start Markdown syntax inside a line: links and images ([ ] !), raw HTML and autolinks
# (< >), entities (&), emphasis and strike (* _ ~), table cells (|) and the escape itself.
_MARKDOWN_SPECIAL = re.compile(r"([\\\[\]!<>&*_~|])")


def _markdown_safe(value: Any) -> Any:
    """Names typed by teammates (websites, attributes) stay plain text inside their table cell and line:
    no raw HTML, no links or images, no emphasis; backticks become quotes (no code spans)."""
    if isinstance(value, str):
        return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(value.split()).replace("`", "'"))
    if isinstance(value, dict):
        return {key: _markdown_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_markdown_safe(item) for item in value]
    return value


def record_of_processing_markdown(*, now: dt.datetime | None = None) -> str:
    """The same record as Markdown, for the data protection officer's file."""
    record = _markdown_safe(record_of_processing(now=now))
    return render_to_string("privacy/record_of_processing.md", {"record": record})
