import secrets
import string

from django.db import models

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

    app_id = models.CharField(max_length=32, unique=True, default=new_app_id, editable=False)
    name = models.CharField(max_length=255)
    allowed_origins = models.JSONField(
        default=list, blank=True, help_text="Origins allowed to call the widget API, e.g. https://example.com"
    )
    identity_verification = models.CharField(
        max_length=16, choices=IdentityVerification.choices, default=IdentityVerification.OFF
    )
    identity_secret = models.CharField(max_length=128, default=new_identity_secret)
    tracking_mode = models.CharField(max_length=16, choices=TrackingMode.choices, default=TrackingMode.FULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.app_id})"
