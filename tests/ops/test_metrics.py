"""/metrics: closed unless a token or a source allows it, and it counts what operators watch."""

import datetime as dt

import pytest
from celery import shared_task
from django.core import mail
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from api import services as api_services
from api.models import WebhookDelivery, WebhookSubscription
from contacts import services as contact_services
from retention import services as retention_services
from tests.contacts.factories import ContactFactory
from tests.tracking.conftest import (
    Widget,
    buffer,  # noqa: F401 - a fixture
)
from tests.tracking.test_page_view_buffer import _visit, flush  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db
TOKEN = "metrics-token-3f9c1e7a5b"


@pytest.fixture
def metrics_token(settings):
    settings.PARLEY_METRICS_TOKEN = TOKEN
    settings.PARLEY_METRICS_REQUIRE_AUTH = True
    return TOKEN


def _scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def _value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_production_default_is_404_without_a_token_or_sources(client, settings):
    settings.PARLEY_METRICS_TOKEN, settings.PARLEY_METRICS_ALLOWED_SOURCES = "", []
    settings.PARLEY_METRICS_REQUIRE_AUTH = True  # the default whenever DEBUG is off

    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything")

    assert response.status_code == 404
    assert b"parley_" not in response.content and b"# TYPE" not in response.content


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer", "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer \x00"],
)
def test_a_missing_or_wrong_token_is_403(client, metrics_token, authorization):
    response = client.get("/metrics", HTTP_AUTHORIZATION=authorization)
    assert response.status_code == 403
    assert b"# TYPE" not in response.content


def test_the_token_opens_it(client, metrics_token):
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"bearer  {TOKEN} ").status_code == 200


def test_an_allowed_source_opens_it_read_through_trusted_proxies_only(client, settings):
    settings.PARLEY_METRICS_TOKEN = ""
    settings.PARLEY_METRICS_ALLOWED_SOURCES = ["10.0.0.0/8", "not-a-network"]
    settings.TRUSTED_PROXIES = ["127.0.0.1"]

    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 403
    # Behind the trusted proxy the forwarded client counts, not the proxy.
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.9.9.9").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.7").status_code == 403
    # A client cannot claim an allowed address through a header from an untrusted peer.
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR="10.9.9.9").status_code == 403


def test_open_without_configuration_only_when_auth_is_not_required(client, settings):
    settings.PARLEY_METRICS_TOKEN, settings.PARLEY_METRICS_ALLOWED_SOURCES = "", []
    settings.PARLEY_METRICS_REQUIRE_AUTH = False  # the default with DEBUG on
    assert client.get("/metrics").status_code == 200


def test_requests_by_view_and_status_and_pings_are_counted(client, website, metrics_token):
    before = _scrape(client)
    widget = Widget(client, website)
    assert widget.ping().status_code == 200
    assert widget.ping().status_code == 200
    assert client.get("/widget-api/nosuchapp/ping").status_code == 405

    after = _scrape(client)

    def delta(name, **labels):
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("parley_widget_pings_total") == 2
    assert delta("parley_http_requests_total", view="widget_ping", status="200") == 2
    assert delta("parley_http_requests_total", view="metrics", status="200") == 1  # the first scrape
    assert delta("parley_http_requests_total", view="widget_ping", status="405") == 1
    assert delta("parley_http_request_duration_seconds_count", view="widget_ping") == 3


def test_emails_sent_and_failed_are_counted_through_the_metered_backend(client, settings, metrics_token):
    settings.EMAIL_BACKEND = "common.mail.MeteredEmailBackend"
    settings.PARLEY_EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    before = _scrape(client)
    mail.send_mail("Hi", "Body", "support@parley.test", ["ada@example.org"])
    settings.PARLEY_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2  # nothing listens
    with pytest.raises(OSError):
        mail.send_mail("Hi", "Body", "support@parley.test", ["grace@example.org"])

    after = _scrape(client)

    assert len(mail.outbox) == 1
    for outcome in ("sent", "failed"):
        assert (
            _value(after, "parley_emails_total", outcome=outcome)
            - _value(before, "parley_emails_total", outcome=outcome)
            == 1
        )


def test_retention_runs_and_rows_deleted_are_counted(client, metrics_token):
    ContactFactory.create_batch(3, role="visitor", last_seen_at=timezone.now() - dt.timedelta(days=400))
    before = _scrape(client)

    retention_services.visitors_expire(dry_run=True)
    retention_services.visitors_expire()

    after = _scrape(client)
    runs = "parley_retention_runs_total"
    assert (
        _value(after, runs, kind="visitors", status="done", dry_run="true")
        - _value(before, runs, kind="visitors", status="done", dry_run="true")
        == 1
    )
    assert (
        _value(after, runs, kind="visitors", status="done", dry_run="false")
        - _value(before, runs, kind="visitors", status="done", dry_run="false")
        == 1
    )
    deleted = "parley_retention_rows_deleted_total"
    assert _value(after, deleted, model="contacts.Contact") - _value(before, deleted, model="contacts.Contact") == 3


def test_webhook_deliveries_that_fail_are_counted(client, settings, metrics_token):
    settings.PARLEY_WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True
    api_services.webhook_subscription_save(
        subscription=WebhookSubscription(), url="http://127.0.0.1:9/hook", topics=["contact.user.created"], secret="s"
    )
    contact_services.contact_create(email="hook@example.com")
    delivery_id = WebhookDelivery.objects.get().pk
    before = _scrape(client)

    while api_services.webhook_delivery_attempt(delivery_id=delivery_id).status == WebhookDelivery.Status.RETRYING:
        pass

    after = _scrape(client)
    name = "parley_webhook_deliveries_total"
    assert _value(after, name, outcome="failed") - _value(before, name, outcome="failed") == 1
    assert _value(after, name, outcome="retrying") - _value(before, name, outcome="retrying") == 5


@shared_task(name="tests.metrics.fails")
def _failing_task() -> None:
    raise RuntimeError("boom")


def test_task_runtimes_and_failures_are_counted(client, metrics_token):
    from ops.tasks import worker_heartbeat

    before = _scrape(client)
    worker_heartbeat.apply()
    _failing_task.apply()

    after = _scrape(client)
    runtime = "parley_celery_task_duration_seconds_count"
    assert (
        _value(after, runtime, task="ops.tasks.worker_heartbeat")
        - _value(before, runtime, task="ops.tasks.worker_heartbeat")
        == 1
    )
    failures = "parley_celery_task_failures_total"
    assert (
        _value(after, failures, task="tests.metrics.fails") - _value(before, failures, task="tests.metrics.fails") == 1
    )


def test_queue_depth_is_read_from_the_broker_at_scrape_time(client, metrics_token):
    from config.celery import app as celery_app
    from ops.tasks import worker_heartbeat

    celery_app.control.purge() if not celery_app.conf.broker_url.startswith("filesystem") else None
    before = _scrape(client)
    worker_heartbeat.apply_async()  # nobody consumes it here

    after = _scrape(client)
    assert _value(after, "parley_metrics_source_up", source="broker") == 1
    assert (
        _value(after, "parley_celery_queue_length", queue="celery")
        >= _value(before, "parley_celery_queue_length", queue="celery") + 1
    )


def test_page_view_buffer_length_and_lag_come_from_the_stream_and_the_cursor(
    client,
    website,
    metrics_token,
    buffer,  # noqa: F811 - the fixture imported above
    flush,  # noqa: F811
):
    widget = Widget(client, website)
    _visit(widget, flush, 4)  # the first page view is written (by its ping or a flush), the next three queue

    queued = _scrape(client)
    assert _value(queued, "parley_metrics_source_up", source="page_view_buffer") == 1
    assert _value(queued, "parley_page_view_buffer_length") == 3
    assert _value(queued, "parley_page_view_buffer_lag_seconds") > 0

    assert flush() == 3

    flushed = _scrape(client)
    assert _value(flushed, "parley_page_view_buffer_lag_seconds") == 0  # nothing waits any more
    assert _value(flushed, "parley_page_views_flushed_total") - _value(queued, "parley_page_views_flushed_total") == 3
    assert _value(flushed, "parley_page_views_buffered_total") >= 3
