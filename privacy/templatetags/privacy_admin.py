"""The admin index's flag for overdue data subject requests (one query)."""

from typing import Any

from django import template

from privacy.selectors import data_subject_requests_overdue

register = template.Library()


@register.simple_tag(takes_context=True)
def overdue_data_subject_requests(context: Any) -> int:
    """How many open requests are past their deadline; 0 for a teammate who cannot see requests."""
    request = context.get("request")
    if request is None or not request.user.has_perm("privacy.view_datasubjectrequest"):
        return 0
    return data_subject_requests_overdue().count()
