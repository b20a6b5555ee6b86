"""Read replicas: which reads may go to `DATABASE_REPLICA_URL`, and how a teammate still sees their own changes.

Nothing reads from the replica unless the code says so, in one of three ways:
- `replica_safe` on a view: its GET and HEAD requests (a POST to the same view stays on the primary);
- `ReplicaListAdmin`: a ModelAdmin whose list page is such a view (admin actions post there, so they
  stay on the primary);
- `replica_safe_action` on an admin action that only reads (the CSV and GDPR exports).
Everything else (the widget, the REST API, Celery tasks, every write) uses the primary. Inside one of
these scopes `PrimaryReplicaRouter` sends a read to the replica except:
- after the scope asked for a write (the router's `db_for_write`): what follows a write in the same
  request reads the primary, so it sees that write;
- inside a transaction on the primary (its reads must see its own writes);
- for a request pinned to the primary: `PinToPrimaryAfterWriteMiddleware` gives a teammate whose
  request changed something (any POST, PUT, PATCH or DELETE) a cookie that lasts
  PARLEY_REPLICA_PIN_SECONDS, and while it lasts their pages read from the primary, so they see
  their own change even when the replica lags behind.
A replica lags: a change made by another teammate a moment ago may be missing from a list until
replication catches up (docs/scaling.md). The router is installed only when a replica is configured.
"""

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.db import connections
from django.http import HttpRequest, HttpResponse

PRIMARY = "default"
REPLICA = "replica"
PIN_COOKIE = "parley_read_primary"
READ_METHODS = frozenset({"GET", "HEAD"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# True while the running code may read from the replica; the router turns it off at the first write.
_replica_reads: ContextVar[bool] = ContextVar("parley_replica_reads", default=False)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


class PrimaryReplicaRouter:
    """Writes to the primary; reads to the replica only inside a replica-safe scope (module docstring)."""

    def db_for_read(self, model: type, **hints: Any) -> str:
        if _replica_reads.get() and not connections[PRIMARY].in_atomic_block:
            return REPLICA
        return PRIMARY

    def db_for_write(self, model: type, **hints: Any) -> str:
        _replica_reads.set(False)  # the rest of this scope must see the write
        return PRIMARY

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # one database, two connections to it

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == PRIMARY  # the replica replays the primary's schema


def pinned_to_primary(request: HttpRequest) -> bool:
    """Whether this teammate changed something in the last PARLEY_REPLICA_PIN_SECONDS."""
    return PIN_COOKIE in request.COOKIES


@contextmanager
def _reading_from_replica() -> Iterator[None]:
    token = _replica_reads.set(True)
    try:
        yield
    finally:
        _replica_reads.reset(token)


class _StreamedFromReplica:
    """A streamed response's chunks, each produced in the replica scope (they are made after the view returned)."""

    def __init__(self, chunks: Any) -> None:
        self._chunks = iter(chunks)

    def __iter__(self) -> "_StreamedFromReplica":
        return self

    def __next__(self) -> Any:
        with _reading_from_replica():
            return next(self._chunks)


def _respond_from_replica(request: HttpRequest, respond: Callable[[], HttpResponse]) -> HttpResponse:
    if not replica_configured() or pinned_to_primary(request):
        return respond()
    # Who is asking (session, user) is read from the primary: a session made a moment ago (a login)
    # may not have reached the replica yet.
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:  # evaluates the lazy user now, outside the scope
        # Their permissions too: has_perm() loads them lazily, and read on a lagging replica a right
        # revoked a moment ago would still open the page. The backends cache them on the user.
        user.get_all_permissions()
    with _reading_from_replica():
        response = respond()
    if response.streaming:
        response.streaming_content = _StreamedFromReplica(response.streaming_content)
    return response


def replica_safe(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A view whose GET/HEAD requests may read from the replica (seconds behind the primary)."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method not in READ_METHODS:
            return view(request, *args, **kwargs)
        return _respond_from_replica(request, lambda: view(request, *args, **kwargs))

    return wrapped


def replica_safe_action(action: Callable[..., Any]) -> Callable[..., Any]:
    """An admin action that only reads (an export): its queries may go to the replica."""

    @functools.wraps(action)
    def wrapped(model_admin: admin.ModelAdmin, request: HttpRequest, queryset: Any) -> Any:
        return _respond_from_replica(request, lambda: action(model_admin, request, queryset))

    return wrapped


class ReplicaListAdmin(admin.ModelAdmin):
    """A ModelAdmin whose list page reads from the replica (its GETs; actions post and stay on the primary)."""

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        changelist_view = super().changelist_view
        return replica_safe(lambda request: changelist_view(request, extra_context))(request)


class PinToPrimaryAfterWriteMiddleware:
    """After a signed-in teammate's request that may have changed something, their next pages read
    from the primary for PARLEY_REPLICA_PIN_SECONDS (a cookie), so the replica's lag never hides
    their own change from them. Installed only with a replica."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.method in WRITE_METHODS and _signed_in(request):
            response.set_cookie(
                PIN_COOKIE,
                "1",
                max_age=settings.PARLEY_REPLICA_PIN_SECONDS,
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        return response


def _signed_in(request: HttpRequest) -> bool:
    # The session cookie first: the widget's and the API's requests carry none, and load no session.
    if settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return False
    user = getattr(request, "user", None)
    return bool(user and user.is_authenticated)
