"""API token lifecycle."""

import datetime as dt

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from api.models import TOKEN_PREFIX_LENGTH, ApiToken, hash_token, new_raw_token


@transaction.atomic
def api_token_create(*, user: AbstractBaseUser, name: str = "") -> tuple[ApiToken, str]:
    """Create a token for a teammate; the raw token is returned once and never stored."""
    if not user.is_active or not user.is_staff:
        raise ValidationError({"user": "API tokens are for active staff users (teammates)."})
    raw = new_raw_token()
    token = ApiToken.objects.create(
        user=user, name=name, prefix=raw[: TOKEN_PREFIX_LENGTH + 3], key_hash=hash_token(raw)
    )
    return token, raw


@transaction.atomic
def api_token_create_for_username(*, username: str, name: str = "") -> tuple[ApiToken, str]:
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ValidationError({"username": f"No user named {username!r}."})
    return api_token_create(user=user, name=name)


@transaction.atomic
def api_token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def api_token_touch(*, token: ApiToken, now: dt.datetime) -> None:
    """Record use; callers throttle this to once a minute so reads do not become writes."""
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now
