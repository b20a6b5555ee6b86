"""Operations endpoints: liveness, readiness and Prometheus metrics."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from ops.metrics import metrics_refusal, metrics_text
from ops.readiness import OK, readiness_findings


@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """The process is up."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    """Database (with migrations applied), cache and broker are reachable: 200, else 503 (ops/readiness.py)."""
    checks = readiness_findings()
    ready = all(finding == OK for finding in checks.values())
    return JsonResponse({"status": "ok" if ready else "fail", "checks": checks}, status=200 if ready else 503)


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
