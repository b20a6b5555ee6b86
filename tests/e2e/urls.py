"""URLconf for browser tests: Parley's own URLs plus customer pages served from another origin."""

from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.urls import include, path

# path → HTML of a host page; the live server thread reads what the test wrote.
HOST_PAGES: dict[str, str] = {}


def host_page(request: HttpRequest, name: str) -> HttpResponse:
    html = HOST_PAGES.get("/" + name)
    return HttpResponse(html) if html is not None else HttpResponseNotFound("no such host page")


urlpatterns = [
    path("_host/<path:name>", host_page),
    path("", include("config.urls")),
]
