"""Operations endpoints: liveness, readiness and Prometheus metrics."""

from django.core.cache import cache
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from config.celery import app as celery_app
from ops.metrics import metrics_refusal, metrics_text

READINESS_CACHE_KEY = "ops:readyz"


def _database_ready() -> str | None:
    try:
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            return "migrations not applied"
    except Exception as error:  # any driver error means "not ready", with its class as the reason
        return f"database unreachable ({error.__class__.__name__})"
    return None


def _cache_ready() -> str | None:
    try:
        cache.set(READINESS_CACHE_KEY, "1", 5)
        value = cache.get(READINESS_CACHE_KEY)
        if not getattr(cache, "available", lambda: True)():  # Parley's Redis cache fails soft: ask it
            return "cache unreachable (serving without it)"
        if value != "1":
            return "cache did not return what was written"
    except Exception as error:
        return f"cache unreachable ({error.__class__.__name__})"
    return None


def _broker_ready() -> str | None:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as error:
        return f"broker unreachable ({error.__class__.__name__})"
    return None


@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """The process is up."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    """Database (with migrations applied), cache and broker are reachable."""
    checks = {"database": _database_ready(), "cache": _cache_ready(), "broker": _broker_ready()}
    failing = {name: reason for name, reason in checks.items() if reason}
    status = 503 if failing else 200
    return JsonResponse({"status": "fail" if failing else "ok", "checks": checks}, status=status)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, to a bearer of PARLEY_METRICS_TOKEN or an allowed source (ops/metrics.py)."""
    refusal = metrics_refusal(request)
    if refusal == 404:
        return JsonResponse({"error": {"code": "not_found", "message": "Not found."}}, status=404)
    if refusal is not None:
        return JsonResponse(
            {"error": {"code": "forbidden", "message": "A valid metrics token or an allowed source is required."}},
            status=refusal,
        )
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)
