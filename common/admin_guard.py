"""A query string the admin would pass to the database as a filter value must be storable text."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from common.parsing import text_problem

ADMIN_PREFIX = "/admin/"


class AdminQueryGuardMiddleware:
    """The admin turns unknown query parameters into filters: a NUL or a lone surrogate there would
    reach PostgreSQL (a 500); it is refused with a 400 naming the parameter instead."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(ADMIN_PREFIX):
            for name, values in request.GET.lists():
                for text in (name, *values):
                    problem = text_problem(text)
                    if problem:
                        shown = name.encode("unicode_escape").decode()[:40]
                        return HttpResponseBadRequest(
                            f"Query parameter {shown!r}: {problem}", content_type="text/plain"
                        )
        return self.get_response(request)
