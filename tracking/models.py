import secrets
import string

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import ngettext

from common.attachment_types import (
    ATTACHMENT_MAX_MB_CEILING,
    DEFAULT_ATTACHMENT_MAX_MB,
    DEFAULT_ATTACHMENT_TYPES,
    default_attachment_types,
)

APP_ID_ALPHABET = string.ascii_lowercase + string.digits
APP_ID_LENGTH = 8


def new_app_id() -> str:
    return "".join(secrets.choice(APP_ID_ALPHABET) for _ in range(APP_ID_LENGTH))


def new_identity_secret() -> str:
    return secrets.token_hex(32)


class Website(models.Model):
    """One site that embeds the widget: its public app id, allowed origins and privacy settings."""

    class IdentityVerification(models.TextChoices):
        OFF = "off", "Off"
        ENFORCED = "enforced", "Enforced"

    class TrackingMode(models.TextChoices):
        FULL = "full", "Full tracking"
        SUPPORT_ONLY = "support_only", "Support only until consent"

    class MarketingBasis(models.TextChoices):
        CONSENT = "consent", "Consent: no open/click tracking, no in-app campaigns until the contact agrees"
        LEGITIMATE_INTEREST = "legitimate_interest", "Legitimate interest: track unless the contact refused or objected"

    class SupportBasis(models.TextChoices):
        CONTRACT = "contract", "Contract: answering the person's own requests (Art. 6(1)(b))"
        LEGITIMATE_INTEREST = (
            "legitimate_interest",
            "Legitimate interest in answering the people who write (Art. 6(1)(f))",
        )

    class AnalyticsBasis(models.TextChoices):
        CONSENT = "consent", "Consent (Art. 6(1)(a))"
        LEGITIMATE_INTEREST = (
            "legitimate_interest",
            "Legitimate interest (Art. 6(1)(f)), your own documented assessment",
        )

    app_id = models.CharField(max_length=32, unique=True, default=new_app_id, editable=False)
    name = models.CharField(max_length=255)
    allowed_origins = models.JSONField(
        default=list, blank=True, help_text="Origins allowed to call the widget API, e.g. https://example.com"
    )
    # Secure by default: a new website identifies users (user_id, email) only with a valid user_hash.
    identity_verification = models.CharField(
        max_length=16,
        choices=IdentityVerification.choices,
        default=IdentityVerification.ENFORCED,
        help_text="Enforced: a boot or update naming a user (user_id or email) needs a valid user_hash, else "
        "the visitor stays anonymous. Off: anyone who knows a user's id or email can open that user's "
        "conversations from a browser console.",
    )
    identity_secret = models.CharField(max_length=128, default=new_identity_secret)
    # The analytics purpose's default (page views, sessions, events): full, or nothing until consent.
    tracking_mode = models.CharField(
        "analytics default",
        max_length=16,
        choices=TrackingMode.choices,
        default=TrackingMode.FULL,
        help_text="Support only: no page views, sessions or events until the visitor gives analytics consent "
        "(Parley('consent', {analytics: true}) or a TCF / Consent Mode signal). The chat always works.",
    )
    # The marketing purpose's basis: consent unless the owner explicitly chooses legitimate interest.
    marketing_basis = models.CharField(
        "marketing legal basis",
        max_length=24,
        choices=MarketingBasis.choices,
        default=MarketingBasis.CONSENT,
        help_text="Email open pixels, click tracking and in-app campaigns for this website's contacts. "
        "Legitimate interest is your own legal assessment: choose it only if you documented it.",
    )
    # The legal bases the record of processing prints: the owner's own choice, never assumed.
    support_basis = models.CharField(
        "support legal basis",
        max_length=24,
        choices=SupportBasis.choices,
        blank=True,
        default="",
        db_default="",  # added to a live table without a rewrite or a NOT NULL risk
        help_text="For the record of processing: why you may answer the people who write. Left empty, the record "
        "says it is not chosen yet.",
    )
    analytics_basis = models.CharField(
        "analytics legal basis",
        max_length=24,
        choices=AnalyticsBasis.choices,
        default=AnalyticsBasis.CONSENT,
        db_default=AnalyticsBasis.CONSENT,
        help_text="For the record of processing. With consent, set the analytics default to Support only until "
        "consent.",
    )
    # Secure and sane by default: crawlers get an answer but never a contact.
    track_bots = models.BooleanField(
        "record bots",
        default=False,
        db_default=False,  # the column arrives with its value on existing rows, no table rewrite
        help_text='Off: known crawlers (the user-agent parser\'s "Spider" devices) and requests without a user '
        "agent are answered but create no contact, session or page view. On: they are recorded like people.",
    )
    ask_email_after_seconds = models.PositiveIntegerField(
        "ask for an email after (seconds)",
        null=True,
        blank=True,
        default=120,
        help_text="When a visitor without an email has written and no teammate has answered for this long, the "
        "messenger asks for an email, so the answer can reach them after they leave. Empty: never.",
    )
    email_unread_replies_after_minutes = models.PositiveSmallIntegerField(
        "email unread replies after (minutes)",
        null=True,
        blank=True,
        default=5,
        help_text="A teammate's reply in the messenger that the contact (with an email) has not read after this "
        "many minutes is emailed to them; their answer by email lands in the same conversation. Empty: never.",
    )
    # Customer satisfaction (conversations/services/ratings.py). Off until the owner turns it on, as in
    # Intercom, Chatwoot and Zendesk: it writes to customers in the company's name (the messenger and
    # email) and collects their opinion, personal data the owner must decide to gather.
    conversation_ratings_enabled = models.BooleanField(
        "ask for conversation ratings (CSAT)",
        default=False,
        db_default=False,  # added to a live table without a rewrite or a NOT NULL risk
        help_text="When a teammate closes a conversation they answered, the messenger asks the contact to rate it "
        "from 1 to 5 with an optional comment (contacts who do not see it get a link by email). One rating per "
        "closure, changeable for 24 hours.",
    )
    # Files in conversations, both ways (conversations.services.attachments): the largest one and the types
    # allowed, read from the bytes. Only types of common.attachment_types' catalog can ever be allowed.
    attachment_max_mb = models.PositiveSmallIntegerField(
        "largest attachment (MB)",
        default=DEFAULT_ATTACHMENT_MAX_MB,
        db_default=DEFAULT_ATTACHMENT_MAX_MB,
        validators=[MinValueValidator(1), MaxValueValidator(ATTACHMENT_MAX_MB_CEILING)],
        help_text=f"Per file, from 1 to {ATTACHMENT_MAX_MB_CEILING} MB, for visitors and teammates alike.",
    )
    attachment_types = models.JSONField(
        "allowed attachment types",
        default=default_attachment_types,
        db_default=models.Value(DEFAULT_ATTACHMENT_TYPES, models.JSONField()),
        blank=True,
        help_text="The type is read from the file's content, not its name. None chosen: no attachments.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.app_id})"


# Longest URL we keep: browsers send longer ones, but nothing useful lives past this length.
URL_MAX_LENGTH = 2048
TITLE_MAX_LENGTH = 512
UTM_MAX_LENGTH = 255
EVENT_NAME_MAX_LENGTH = 255


class WebSession(models.Model):
    """A visit: consecutive page views of one contact, split after 30 minutes idle or 24 hours."""

    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.CASCADE, related_name="web_sessions", db_index=False
    )
    website = models.ForeignKey(
        Website, null=True, blank=True, on_delete=models.SET_NULL, related_name="web_sessions", db_index=False
    )
    started_at = models.DateTimeField()
    last_activity_at = models.DateTimeField()
    page_views_count = models.PositiveIntegerField(default=0)
    landing_url = models.CharField(max_length=URL_MAX_LENGTH, blank=True)
    referrer = models.CharField(max_length=URL_MAX_LENGTH, blank=True)
    utm_source = models.CharField("UTM source", max_length=UTM_MAX_LENGTH, blank=True)
    utm_medium = models.CharField("UTM medium", max_length=UTM_MAX_LENGTH, blank=True)
    utm_campaign = models.CharField("UTM campaign", max_length=UTM_MAX_LENGTH, blank=True)
    utm_term = models.CharField("UTM term", max_length=UTM_MAX_LENGTH, blank=True)
    utm_content = models.CharField("UTM content", max_length=UTM_MAX_LENGTH, blank=True)
    # Derived at session start from the user agent and the request IP; the IP itself is never kept.
    os = models.CharField("OS", max_length=64, blank=True)
    browser = models.CharField(max_length=64, blank=True)
    browser_version = models.CharField(max_length=32, blank=True)
    browser_language = models.CharField(max_length=35, blank=True)
    city = models.CharField(max_length=128, blank=True)
    country = models.CharField("country code", max_length=2, blank=True)
    country_name = models.CharField(max_length=128, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            # The contact page panel and the "current session" lookup.
            models.Index(fields=["contact", "-last_activity_at"], name="websession_contact_activity"),
            # Retention by date and the admin date hierarchy.
            models.Index(fields=["started_at"], name="websession_started"),
            models.Index(fields=["website", "started_at"], name="websession_website_started"),
        ]

    def __str__(self) -> str:
        return f"Session {self.pk} of contact {self.contact_id}"


class PageView(models.Model):
    # Page views and events reference their contact and session without a database foreign key: on
    # monthly partitions every deleted contact or session made PostgreSQL look for referencing rows in
    # each partition, the visitor expiry's main cost. Deletes still cascade (Django, contacts.deletion),
    # and writers and deleters lock the parent rows so no row outlives them (docs/partitioning.md, Integrity).
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.CASCADE, db_constraint=False, related_name="page_views", db_index=False
    )
    session = models.ForeignKey(WebSession, on_delete=models.CASCADE, db_constraint=False, related_name="page_views")
    url = models.CharField("URL", max_length=URL_MAX_LENGTH)
    title = models.CharField(max_length=TITLE_MAX_LENGTH, blank=True)
    referrer = models.CharField(max_length=URL_MAX_LENGTH, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # "Newest 20 page views" of a contact.
            models.Index(fields=["contact", "-created_at", "-id"], name="pageview_contact_recent"),
            # Retention deletes and the website's page-views-per-day chart.
            models.Index(fields=["created_at"], name="pageview_created"),
        ]

    def __str__(self) -> str:
        return self.url


class Event(models.Model):
    """A custom event the site tracked for a contact (Intercom's data events)."""

    # No database foreign key, as for page views (above).
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.CASCADE, db_constraint=False, related_name="events", db_index=False
    )
    name = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    # True when the client sent created_at: then (contact, name, created_at) identifies the event.
    client_timestamp = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "name", "created_at"],
                condition=models.Q(client_timestamp=True),
                name="event_client_dedupe",
            ),
        ]
        indexes = [
            models.Index(fields=["contact", "-created_at", "-id"], name="event_contact_recent"),
            models.Index(fields=["created_at"], name="event_created"),
        ]

    def __str__(self) -> str:
        return self.name


class EventSummary(models.Model):
    """Per contact and event name: how many times, first and last time (kept by an atomic upsert)."""

    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.CASCADE, related_name="event_summaries", db_index=False
    )
    name = models.CharField(max_length=EVENT_NAME_MAX_LENGTH)
    count = models.PositiveIntegerField(default=0)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()

    class Meta:
        ordering = ["-last_at"]
        verbose_name_plural = "event summaries"
        constraints = [models.UniqueConstraint(fields=["contact", "name"], name="eventsummary_contact_name")]
        indexes = [
            # The contact list filter "did event X".
            models.Index(fields=["name", "contact"], name="eventsummary_name_contact"),
            models.Index(fields=["last_at"], name="eventsummary_last"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({_times(self.count)})"


def _times(count: int) -> str:
    return ngettext("%(count)d time", "%(count)d times", count) % {"count": count}


class RejectedAttribute(models.Model):
    """A custom attribute a website sent and Parley refused (wrong type, not an option…): the rest of
    the ping was applied; the site owner sees here what to fix, with a count and the last example."""

    website = models.ForeignKey(Website, on_delete=models.CASCADE, related_name="rejected_attributes")
    name = models.CharField(max_length=255)
    count = models.PositiveIntegerField(default=0)
    last_reason = models.CharField(max_length=255)
    last_example = models.CharField(max_length=255, blank=True)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()

    class Meta:
        ordering = ["-last_at"]
        constraints = [models.UniqueConstraint(fields=["website", "name"], name="rejectedattribute_website_name")]

    def __str__(self) -> str:
        return f"{self.name} on {self.website} ({_times(self.count)})"


class MergedContact(models.Model):
    """A contact merged away lately, and the user it went into: its rows still queued in the page-view
    buffer follow it there. Written in the merge's transaction (only a merge that commits counts, and no
    cache eviction or restart loses it); kept a day (`page_view_buffer.MERGED_MARK_SECONDS`)."""

    contact_id = models.BigIntegerField(primary_key=True, help_text="The merged contact (deleted by the merge).")
    into = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="+")
    merged_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"contact {self.contact_id} into {self.into_id}"


class PageViewBufferCursor(models.Model):
    """How far the page-view buffer (a Redis stream) has been written to the database.

    Moved in the same transaction as the page views it covers, so a flush is exactly once; its
    row lock also makes concurrent flushes take turns.
    """

    stream = models.CharField(max_length=128, primary_key=True)
    last_id = models.CharField(max_length=48, blank=True, help_text="Last stream entry id written.")
    flushed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.stream} at {self.last_id or 'start'}"
