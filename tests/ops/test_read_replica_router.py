"""Which reads the router sends to the replica (common/read_replica.py), decided in-process.

Only the decision is checked here (a queryset's `.db`): the test run has no replica server.
tests/ops/test_read_replica.py runs the same code against a real streaming replica."""

import pytest
from django.db import transaction
from django.http import HttpResponse, StreamingHttpResponse
from django.test import RequestFactory

from common.read_replica import (
    PIN_COOKIE,
    PRIMARY,
    REPLICA,
    PinToPrimaryAfterWriteMiddleware,
    PrimaryReplicaRouter,
    replica_safe,
    replica_safe_action,
)
from contacts.models import Contact, Tag

ROUTER = "common.read_replica.PrimaryReplicaRouter"
# The replica alias is declared for the router's decision only; no connection to it is opened.
pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")


@pytest.fixture
def with_replica(settings):
    """Settings as with DATABASE_REPLICA_URL (the alias is declared; nothing connects to it here)."""
    settings.DATABASES = {**settings.DATABASES, REPLICA: settings.DATABASES[PRIMARY]}
    settings.DATABASE_ROUTERS = [ROUTER]
    return settings


def _read_database(request) -> str:
    """Where a read made by a replica-safe view for `request` goes."""
    seen = {}

    @replica_safe
    def view(request):
        seen["db"] = Contact.objects.all().db
        return HttpResponse()

    view(request)
    return seen["db"]


def test_without_a_replica_everything_reads_the_primary(settings):
    assert REPLICA not in settings.DATABASES
    assert _read_database(RequestFactory().get("/admin/contacts/contact/")) == PRIMARY


def test_a_replica_safe_view_reads_the_replica_on_get_and_head_only(with_replica):
    factory = RequestFactory()
    assert _read_database(factory.get("/admin/contacts/contact/")) == REPLICA
    assert _read_database(factory.head("/admin/contacts/contact/")) == REPLICA
    assert _read_database(factory.post("/admin/contacts/contact/")) == PRIMARY  # admin actions post there
    assert Contact.objects.all().db == PRIMARY  # outside the view


def test_a_teammate_pinned_after_a_write_reads_the_primary(with_replica):
    request = RequestFactory().get("/admin/contacts/contact/")
    request.COOKIES[PIN_COOKIE] = "1"
    assert _read_database(request) == PRIMARY


def test_after_a_write_the_rest_of_the_view_reads_the_primary(with_replica):
    seen = []

    @replica_safe
    def view(request):
        seen.append(Contact.objects.all().db)
        seen.append(Tag.objects.db_manager(hints={}).all().db)
        seen.append(PrimaryReplicaRouter().db_for_write(Tag))  # what any save, update or delete asks first
        seen.append(Contact.objects.all().db)
        return HttpResponse()

    view(RequestFactory().get("/"))
    assert seen == [REPLICA, REPLICA, PRIMARY, PRIMARY]


@pytest.mark.django_db(transaction=True)
def test_reads_inside_a_transaction_on_the_primary_stay_there(with_replica):
    seen = []

    @replica_safe
    def view(request):
        with transaction.atomic():
            seen.append(Contact.objects.all().db)
        seen.append(Contact.objects.all().db)
        return HttpResponse()

    view(RequestFactory().get("/"))
    assert seen == [PRIMARY, REPLICA]


def test_a_streamed_export_reads_the_replica_while_it_streams(with_replica):
    @replica_safe_action
    def export(model_admin, request, queryset):
        return StreamingHttpResponse(Contact.objects.all().db for _ in range(2))

    response = export(None, RequestFactory().post("/admin/contacts/contact/"), None)
    assert Contact.objects.all().db == PRIMARY  # the view has returned
    assert [chunk.decode() for chunk in response.streaming_content] == [REPLICA, REPLICA]


@pytest.mark.django_db
def test_a_signed_in_teammates_write_pins_their_next_pages_for_a_few_seconds(with_replica, admin_user, client):
    with_replica.MIDDLEWARE = [*with_replica.MIDDLEWARE, "common.read_replica.PinToPrimaryAfterWriteMiddleware"]
    with_replica.PARLEY_REPLICA_PIN_SECONDS = 7
    client.force_login(admin_user)
    assert PIN_COOKIE not in client.get("/admin/").cookies
    response = client.post("/admin/contacts/contact/", {"action": "", "index": "0"})  # any post
    pin = response.cookies[PIN_COOKIE]
    assert pin["max-age"] == 7 and pin["httponly"] and pin["samesite"] == "Lax"


def test_requests_without_a_session_are_never_pinned(with_replica):
    # The widget's and the API's writes: no session cookie, so no cookie set on a cross-origin answer.
    middleware = PinToPrimaryAfterWriteMiddleware(lambda request: HttpResponse())
    assert PIN_COOKIE not in middleware(RequestFactory().post("/widget-api/app/ping")).cookies


def test_who_is_asking_and_their_permissions_are_read_before_the_replica_scope(with_replica, django_user_model):
    """A right revoked a moment ago must not survive on a lagging replica: the teammate's groups and
    permissions are loaded from the primary before the view's reads move to the replica."""
    from django.contrib.auth.models import Group, Permission
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    teammate = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    group = Group.objects.create(name="Viewers")
    group.permissions.add(Permission.objects.get(codename="view_contact"))
    teammate.groups.add(group)
    request = RequestFactory().get("/admin/contacts/contact/")
    request.user = django_user_model.objects.get(pk=teammate.pk)  # fresh: nothing cached yet
    seen = {}

    @replica_safe
    def view(request):
        # No query at all: a permission query here would be routed to the replica (which this test
        # run cannot even open).
        with CaptureQueriesContext(connections[PRIMARY]) as queries:
            seen["allowed"] = request.user.has_perm("contacts.view_contact")
        seen["queries"] = len(queries)
        return HttpResponse()

    view(request)
    assert seen == {"allowed": True, "queries": 0}
