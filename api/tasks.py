"""Thin Celery task delivering one webhook notification, with retries and backoff."""

from celery import shared_task

from api import services
from api.models import WebhookDelivery

SOFT_TIME_LIMIT_SECONDS = 60
TIME_LIMIT_SECONDS = 90


@shared_task(
    bind=True,
    name="api.tasks.deliver_webhook",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=SOFT_TIME_LIMIT_SECONDS,
    time_limit=TIME_LIMIT_SECONDS,
    max_retries=services.MAX_DELIVERY_ATTEMPTS,
    ignore_result=True,
)
def deliver_webhook(self, delivery_id: int) -> str | None:
    """Send one delivery; on failure try again later, up to MAX_DELIVERY_ATTEMPTS in all."""
    delivery = services.webhook_delivery_attempt(delivery_id=delivery_id)
    if delivery is None:
        return None
    if delivery.status == WebhookDelivery.Status.RETRYING:
        raise self.retry(countdown=services.retry_delay_seconds(delivery.attempts))
    return delivery.status
