"""Bearer token authentication and the per-token rate limit."""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from api.models import ApiToken, hash_token
from api.services import api_token_touch
from common.rate_limit import Limit, rate_limit_count

DEFAULT_RATE_LIMIT_PER_MINUTE = 10_000
RATE_LIMIT_WINDOW_SECONDS = 60
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>` → the token's teammate; revoked or unknown tokens are refused."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            raise exceptions.NotAuthenticated("Access Token Invalid")
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != self.keyword.lower() or not raw.strip():
            raise exceptions.AuthenticationFailed("Access Token Invalid")
        token = ApiToken.objects.select_related("user").filter(key_hash=hash_token(raw.strip())).first()
        if token is None or token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("Access Token Invalid")
        if not (token.user.is_active and token.user.is_staff):
            raise exceptions.AuthenticationFailed("Access Token Invalid")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
            api_token_touch(token=token, now=now)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.auth.ApiTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer"}


@dataclass(frozen=True)
class RateLimitState:
    limit: int
    remaining: int
    reset: int

    @property
    def exceeded(self) -> bool:
        return self.remaining < 0

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(self.remaining, 0)),
            "X-RateLimit-Reset": str(self.reset),
        }


def rate_limit_hit(*, token: ApiToken) -> RateLimitState:
    """Count one request in the token's fixed one-minute window (common.rate_limit: Redis in production)."""
    per = getattr(settings, "PARLEY_API_RATE_LIMIT_PER_MINUTE", DEFAULT_RATE_LIMIT_PER_MINUTE)
    limit = Limit("api", str(token.pk), per, RATE_LIMIT_WINDOW_SECONDS)
    counted = rate_limit_count([limit])
    return RateLimitState(limit=per, remaining=per - counted.counts[0], reset=limit.reset(counted.now))
