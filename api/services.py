"""API tokens and webhooks: every write of the api app."""

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connections, router, transaction
from django.utils import timezone

from api import webhooks
from api.models import TOKEN_PREFIX_LENGTH, ApiToken, WebhookDelivery, WebhookSubscription, hash_token, new_raw_token
from common.metrics import WEBHOOK_DELIVERIES


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
    """A new API token for the named user (the command's path); returns the token and its raw value."""
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ValidationError({"username": f"No user named {username!r}."})
    return api_token_create(user=user, name=name)


@transaction.atomic
def api_token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke a token (once: a second call keeps the first time)."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def api_token_touch(*, token: ApiToken, now: dt.datetime) -> None:
    """Record use; callers throttle this to once a minute so reads do not become writes."""
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now


# --- webhooks -----------------------------------------------------------------------------------

SUBSCRIBED_TOPICS_CACHE_KEY = "api:webhooks:subscriptions"
SUBSCRIBED_TOPICS_CACHE_SECONDS = 300
DELIVERY_TIMEOUT_SECONDS = 10
# Attempts 1..6 over about 3 hours: 30 s, 2 min, 8 min, 32 min, ~2 h between them.
MAX_DELIVERY_ATTEMPTS = 6
RETRY_BASE_SECONDS = 30
RETRY_FACTOR = 4


def _subscriptions_cache_key() -> str:
    # Per database: several Parley instances (or parallel test runs) may share one Redis.
    return (
        f"{SUBSCRIBED_TOPICS_CACHE_KEY}:{connections[router.db_for_write(WebhookSubscription)].settings_dict['NAME']}"
    )


def _active_subscriptions() -> list[tuple[int, list[str]]]:
    """(id, topics) of active subscriptions, cached: every contact write asks."""
    key = _subscriptions_cache_key()
    cached = cache.get(key)
    if cached is None:
        cached = [
            (pk, topics) for pk, topics in WebhookSubscription.objects.filter(active=True).values_list("pk", "topics")
        ]
        cache.set(key, cached, SUBSCRIBED_TOPICS_CACHE_SECONDS)
    return cached


def _subscriptions_cache_forget() -> None:
    """Now (this transaction sees the change) and after commit (others cached the old list meanwhile)."""
    key = _subscriptions_cache_key()
    cache.delete(key)
    transaction.on_commit(lambda: cache.delete(key))


def _topics_clean(topics: Any) -> list[str]:
    if not isinstance(topics, list) or not topics:
        raise ValidationError({"topics": "Choose at least one topic."})
    unknown = [topic for topic in topics if topic not in webhooks.TOPICS]
    if unknown:
        raise ValidationError({"topics": f"Unknown topics: {', '.join(map(str, unknown))}."})
    return sorted(set(topics))


@transaction.atomic
def webhook_subscription_save(
    *, subscription: WebhookSubscription, url: str, topics: list[str], active: bool = True,
    secret: str | None = None, actor: AbstractBaseUser | None = None,
) -> WebhookSubscription:  # fmt: skip
    """Create or update a subscription; the URL must be http(s) and reach a public address."""
    webhooks.url_validate(url)
    webhooks.destination_check(url)
    subscription.url = url
    subscription.topics = _topics_clean(topics)
    subscription.active = active
    if secret:
        subscription.secret = secret
    if subscription.pk is None:
        subscription.created_by = actor
    subscription.save()
    _subscriptions_cache_forget()
    return subscription


@transaction.atomic
def webhook_subscription_delete(*, subscription: WebhookSubscription) -> None:
    """Delete a webhook subscription; deliveries stop at once (the cached list is forgotten)."""
    subscription.delete()
    _subscriptions_cache_forget()


def webhooks_queue(*, topic: str, item: Callable[[], dict[str, Any]], contact_id: int | None) -> None:
    """Record a delivery per subscribed endpoint now, in the change's transaction; send after commit.

    `item()` shapes the notification's data.item, only when some subscription wants the topic;
    `contact_id` ties the deliveries to the person they are about (None: they outlive the contact).
    """
    subscription_ids = [pk for pk, topics in _active_subscriptions() if webhooks.subscription_matches(topics, topic)]
    if not subscription_ids:
        return
    payload = webhooks.notification(topic=topic, item=item())
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                subscription_id=pk,
                contact_id=contact_id,
                topic=topic,
                payload=payload,
                notification_id=f"{payload['id']}-{pk}",
            )
            for pk in subscription_ids
        ]
    )
    ids = [delivery.pk for delivery in deliveries]

    def send() -> None:
        from api.tasks import deliver_webhook

        for delivery_id in ids:
            deliver_webhook.delay(delivery_id)

    transaction.on_commit(send)


def retry_delay_seconds(attempts: int) -> int:
    """Seconds before a failed webhook delivery's next attempt (exponential backoff)."""
    return RETRY_BASE_SECONDS * RETRY_FACTOR ** max(attempts - 1, 0)


def webhook_delivery_attempt(*, delivery_id: int) -> WebhookDelivery | None:
    """POST the notification once; returns the delivery (status retrying means: try again later).

    The HTTP call happens outside any transaction; only the outcome is written.
    """
    delivery = WebhookDelivery.objects.select_related("subscription").filter(pk=delivery_id).first()
    if delivery is None or delivery.status in (WebhookDelivery.Status.DELIVERED, WebhookDelivery.Status.FAILED):
        return delivery
    subscription = delivery.subscription
    attempts = delivery.attempts + 1
    payload = {**delivery.payload, "delivery_attempts": attempts}
    body = json.dumps(payload, separators=(",", ":")).encode()
    status_code, error = None, ""
    if not subscription.active:
        error = "The subscription is inactive."
    else:
        try:
            webhooks.destination_check(subscription.url)
            # The check above gives a readable error early; the session checks the address it
            # actually connects to, which is what stops DNS rebinding.
            with webhooks.guarded_session() as session:
                response = session.post(
                    subscription.url,
                    data=body,
                    headers={
                        "Content-Type": "application/json",
                        "User-Agent": "Parley-Webhooks/1.0",
                        webhooks.SIGNATURE_HEADER: webhooks.signature(secret=subscription.secret, body=body),
                    },
                    timeout=DELIVERY_TIMEOUT_SECONDS,
                    allow_redirects=False,  # a redirect could lead to a private address
                )
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except ValidationError as refused:
            error = "; ".join(refused.messages)
        except requests.RequestException as failure:
            error = type(failure).__name__
    now = timezone.now()
    delivered = status_code is not None and not error
    if delivered:
        status = WebhookDelivery.Status.DELIVERED
    elif attempts >= MAX_DELIVERY_ATTEMPTS or not subscription.active:
        status = WebhookDelivery.Status.FAILED
    else:
        status = WebhookDelivery.Status.RETRYING
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        attempts=attempts,
        status=status,
        last_status_code=status_code,
        last_error=error[: webhooks.MAX_ERROR_LENGTH],
        last_attempt_at=now,
        delivered_at=now if delivered else None,
    )
    WEBHOOK_DELIVERIES.labels(outcome=status).inc()
    delivery.refresh_from_db()
    return delivery


@transaction.atomic
def webhook_deliveries_retry(*, delivery_ids: list[int]) -> int:
    """Send failed deliveries again (admin action): attempts start over."""
    ids = list(
        WebhookDelivery.objects.filter(pk__in=delivery_ids)
        .exclude(status=WebhookDelivery.Status.DELIVERED)
        .values_list("pk", flat=True)
    )
    WebhookDelivery.objects.filter(pk__in=ids).update(status=WebhookDelivery.Status.PENDING, attempts=0)

    def send() -> None:
        from api.tasks import deliver_webhook

        for delivery_id in ids:
            deliver_webhook.delay(delivery_id)

    transaction.on_commit(send)
    return len(ids)
