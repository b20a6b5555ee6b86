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
