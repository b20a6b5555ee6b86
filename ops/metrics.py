"""/metrics: what it answers (Parley's counters, plus gauges read at scrape time) and who may ask.

Access: a bearer token (PARLEY_METRICS_TOKEN, `Authorization: Bearer …`) or a source address in
PARLEY_METRICS_ALLOWED_SOURCES (read through TRUSTED_PROXIES, compared in memory, never stored).
With neither set, /metrics answers 404 unless DEBUG is on (PARLEY_METRICS_REQUIRE_AUTH overrides):
a production install does not show its internals to whoever asks.
"""

import functools
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterator

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from common.client_ip import client_ip
from common.metrics import HTTP_REQUEST_SECONDS, HTTP_REQUESTS
from config.celery import app as celery_app
from tracking import page_view_buffer

logger = logging.getLogger(__name__)
UNRESOLVED_VIEW = "<unresolved>"  # no URL pattern matched (404s), or the request never reached the resolver
BROKER_TIMEOUT_SECONDS = 2


class RequestMetricsMiddleware:
    """Counts every answer by view name and status code, and times it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match is not None else UNRESOLVED_VIEW
        HTTP_REQUESTS.labels(view=view, status=str(response.status_code)).inc()
        HTTP_REQUEST_SECONDS.labels(view=view).observe(time.perf_counter() - started)
        return response


def metrics_refusal(request: HttpRequest) -> int | None:
    """None when `request` may read /metrics, else the status to answer (404: off, 403: not allowed)."""
    token = settings.PARLEY_METRICS_TOKEN
    sources = _networks(tuple(settings.PARLEY_METRICS_ALLOWED_SOURCES))
    if not token and not settings.PARLEY_METRICS_ALLOWED_SOURCES:
        return 404 if settings.PARLEY_METRICS_REQUIRE_AUTH else None
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and constant_time_compare(given.strip(), token):
        return None
    address = client_ip(request) if sources else None
    if address is not None and any(ipaddress.ip_address(address) in network for network in sources):
        return None
    return 403


@functools.lru_cache(maxsize=4)
def _networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            logger.warning("Ignoring an invalid PARLEY_METRICS_ALLOWED_SOURCES entry.")
    return tuple(networks)


class SharedStateCollector(Collector):
    """Gauges read when scraped: they describe state every process shares, not one process's counts."""

    def collect(self) -> Iterator[Metric]:
        errors = GaugeMetricFamily(
            "parley_metrics_source_up", "Whether a source of the gauges below answered this scrape.", labels=["source"]
        )
        for source, read in (
            ("broker", self._queues),
            ("page_view_buffer", self._buffer),
            ("database", self._database),
        ):
            try:
                yield from read()
                errors.add_metric([source], 1)
            except Exception as error:  # a down backing service must not break the scrape
                logger.warning("Metrics: %s did not answer (%s).", source, error.__class__.__name__)
                errors.add_metric([source], 0)
        yield errors

    def _queues(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "parley_celery_queue_length",
            "Messages waiting in each Celery queue (not yet taken by a worker).",
            labels=["queue"],
        )
        names = sorted({queue.name for queue in celery_app.amqp.queues.values()} | {celery_app.conf.task_default_queue})
        with celery_app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
            channel = conn.default_channel
            for name in names:
                try:
                    waiting = channel.queue_declare(queue=name, passive=True).message_count
                except conn.channel_errors:  # a queue nobody declared yet holds nothing
                    waiting = 0
                    channel = conn.default_channel
                depth.add_metric([name], waiting)
        yield depth

    def _buffer(self) -> Iterator[Metric]:
        backlog = page_view_buffer.page_view_buffer_backlog()
        if backlog is None:
            return
        length, oldest_age = backlog
        yield GaugeMetricFamily(
            "parley_page_view_buffer_length", "Entries in the page-view buffer's Redis stream.", value=length
        )
        yield GaugeMetricFamily(
            "parley_page_view_buffer_lag_seconds",
            "Age of the oldest page view queued in Redis and not yet written (0 when none waits).",
            value=oldest_age or 0.0,
        )

    def _database(self) -> Iterator[Metric]:
        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() GROUP BY 1"
            )
            by_state = cursor.fetchall()
            cursor.execute("SELECT setting::int FROM pg_settings WHERE name = 'max_connections'")
            (max_connections,) = cursor.fetchone()
        connections = GaugeMetricFamily(
            "parley_database_connections",
            "Server connections to Parley's PostgreSQL database, by state (all clients: web, workers, beat).",
            labels=["state"],
        )
        for state, count in by_state:
            connections.add_metric([state], count)
        yield connections
        yield GaugeMetricFamily(
            "parley_database_max_connections",
            "PostgreSQL's max_connections (for the whole server).",
            value=max_connections,
        )


def metrics_text() -> bytes:
    """The Prometheus text: every process's counters (multiprocess mode) or this one's, then the shared gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counters = CollectorRegistry()
        multiprocess.MultiProcessCollector(counters)
    else:
        counters = REGISTRY
    shared = CollectorRegistry(auto_describe=False)
    shared.register(SharedStateCollector())
    return generate_latest(counters) + generate_latest(shared)
