"""The admin's warning when no Celery worker runs (ops.worker_heartbeat): one cache read per page."""

from typing import Any

from django import template

from ops.worker_heartbeat import worker_silent_for

register = template.Library()


@register.inclusion_tag("admin/ops/worker_silent.html", takes_context=True)
def worker_silent_notice(context: Any) -> dict[str, Any]:
    request = context.get("request")
    staff = request is not None and request.user.is_authenticated and request.user.is_staff
    silent = worker_silent_for() if staff else None
    return {"minutes": None if silent is None else max(1, round(silent / 60))}
