import hashlib
import secrets

from django.conf import settings
from django.db import models

TOKEN_PREFIX_LENGTH = 8


def hash_token(raw_token: str) -> str:
    # Tokens are 256-bit random strings, so a fast hash is enough (no password stretching needed).
    return hashlib.sha256(raw_token.encode()).hexdigest()


def new_raw_token() -> str:
    return "pk_" + secrets.token_urlsafe(32)


class ApiToken(models.Model):
    """A bearer token acting as one teammate; only its hash is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=TOKEN_PREFIX_LENGTH + 3, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


def new_webhook_secret() -> str:
    return secrets.token_hex(20)


class WebhookSubscription(models.Model):
    """Where to POST Intercom-shaped notifications, for which topics, signed with which secret."""

    url = models.URLField("URL", max_length=500, help_text="http(s) endpoint; private addresses are refused.")
    topics = models.JSONField(default=list, help_text="Intercom topic names, e.g. contact.user.created.")
    secret = models.CharField(
        max_length=100, default=new_webhook_secret, help_text="Key of the X-Hub-Signature HMAC-SHA1 of each body."
    )
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "webhook subscription"

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One notification to one subscription, and what happened when it was sent."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RETRYING = "retrying", "Retrying"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    # The person the payload describes (the contact, a conversation's or a tag link's contact): the
    # payload is a copy of their data, so it moves with a merge and goes with an erase or expiry.
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    topic = models.CharField(max_length=100)
    notification_id = models.CharField(max_length=64, unique=True)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="webhookdelivery_created"),
            models.Index(fields=["status", "-created_at"], name="webhookdelivery_status"),
        ]

    def __str__(self) -> str:
        return f"{self.topic} → {self.subscription_id} ({self.status})"
