"""Two teammates delete the same thing at once (an attacker review): the delete page of a model whose deletion has
its own guards or service (tags, data attributes, contacts, companies, webhook subscriptions; segments too) and its
"Delete selected" answer a clear message and a redirect, never a 500, whether the object went between the
confirmation page and its POST, or between the guard's read and the delete. A viewer or an agent cannot delete
these at all, and ids that are no ids are refused.

Races inside one request are forced here by running the other teammate's change right after the page's guard
(`get_deleted_objects`) read: on the request's own connection, so its change is rolled back with the refused
deletion; the two-connection races are the PostgreSQL tests at the end."""

import threading
import time

import pytest
from django.contrib import admin
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse

from api.models import WebhookDelivery, WebhookSubscription
from api.services import webhook_subscription_save
from companies.models import Company
from contacts import services as contact_services
from contacts.models import Contact, DataAttribute, PrivacyAuditEntry, Tag
from contacts.permissions import AGENT_GROUP, VIEWER_GROUP
from segments.models import Segment
from segments.services import segment_create
from tests.companies.factories import CompanyFactory
from tests.contacts.factories import DataAttributeFactory, TagFactory, UserContactFactory

USERS = {"field": "role", "operator": "=", "value": "user"}


def _subscription(name):
    return webhook_subscription_save(subscription=WebhookSubscription(), url=f"http://127.0.0.1:9/{name}",
                                     topics=["contact.deleted"])  # fmt: skip


MAKERS = {
    Tag: lambda name: TagFactory(name=name),
    DataAttribute: lambda name: DataAttributeFactory(name=name.lower()),
    Contact: lambda name: UserContactFactory(name=name),
    Company: lambda name: CompanyFactory(name=name),
    WebhookSubscription: _subscription,
    Segment: lambda name: segment_create(name=name, query=USERS, teammate=None),
}
# Contacts have no "Delete selected": their list's "Erase" action replaces it (tested below).
BULK = [Tag, DataAttribute, Company, WebhookSubscription, Segment]


@pytest.fixture(autouse=True)
def _private_webhook_destinations(settings):
    settings.PARLEY_WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True


def _url(model, name, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{name}", args=args)


def _messages(response):
    return [str(message) for message in response.context["messages"]] if response.context else []


def _other_teammate():
    """A second superuser in their own browser."""
    other = Client()
    other.force_login(get_user_model().objects.create_superuser("other", "other@parley.test", "x"))
    return other


def _after_the_guard(monkeypatch, model, change):
    """Run `change` once, right after the model admin's guard read what deleting touches, on a confirmed POST."""
    model_admin = type(admin.site._registry[model])
    guard = model_admin.get_deleted_objects
    pending = [change]

    def guarded_then_changed(self, objs, request):
        found = guard(self, objs, request)
        if request.POST.get("post") and pending:
            pending.pop()()
        return found

    monkeypatch.setattr(model_admin, "get_deleted_objects", guarded_then_changed)


def _gone(model):
    return f"Nothing was deleted: this {model._meta.verbose_name} no longer exists (another teammate may just have deleted it)."


def _deletions_logged(model, pk):
    return LogEntry.objects.filter(action_flag=DELETION, object_id=str(pk),
                                   content_type__model=model._meta.model_name).count()  # fmt: skip


# --- gone between the confirmation page and its POST ------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("model", list(MAKERS), ids=lambda model: model.__name__)
def test_an_object_another_teammate_deleted_after_the_page_showed_is_a_message_not_a_500(admin_client, model):
    target = MAKERS[model]("Gone")
    url = _url(model, "delete", target.pk)
    assert admin_client.get(url).status_code == 200
    assert _other_teammate().post(url, {"post": "yes"}).status_code == 302

    response = admin_client.post(url, {"post": "yes"}, follow=True)
    assert response.status_code == 200 and response.redirect_chain == [(_url(model, "changelist"), 302)]
    assert _messages(response) == [_gone(model)]
    assert not model._base_manager.filter(pk=target.pk).exists()
    if model is Contact:
        assert PrivacyAuditEntry.objects.filter(contact_id=target.pk).count() == 1  # one erase, recorded once
    else:
        assert _deletions_logged(model, target.pk) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("model", BULK, ids=lambda model: model.__name__)
def test_a_selection_partly_deleted_meanwhile_deletes_the_rest_and_says_so(admin_client, model):
    kept, gone = MAKERS[model]("Kept"), MAKERS[model]("Gone")
    changelist = _url(model, "changelist")
    selection = {"action": "delete_selected", "_selected_action": [kept.pk, gone.pk]}
    assert admin_client.post(changelist, selection).status_code == 200  # the confirmation page
    _other_teammate().post(_url(model, "delete", gone.pk), {"post": "yes"})

    response = admin_client.post(changelist, {**selection, "post": "yes"}, follow=True)
    assert response.status_code == 200
    plural = model._meta.verbose_name_plural
    assert _messages(response) == [
        f"Successfully deleted 1 {model._meta.verbose_name}.",
        f"1 of the selected {plural} had already been deleted, by someone else.",
    ]
    assert not model._base_manager.filter(pk__in=[kept.pk, gone.pk]).exists()
    assert _deletions_logged(model, gone.pk) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("model", BULK, ids=lambda model: model.__name__)
def test_a_selection_wholly_deleted_meanwhile_is_a_message_on_either_step(admin_client, model):
    target = MAKERS[model]("Gone")
    changelist = _url(model, "changelist")
    selection = {"action": "delete_selected", "_selected_action": [target.pk]}
    _other_teammate().post(_url(model, "delete", target.pk), {"post": "yes"})
    plural = model._meta.verbose_name_plural

    shown = admin_client.post(changelist, selection, follow=True)
    assert shown.status_code == 200 and _messages(shown) == [f"The selected {plural} no longer exist."]
    confirmed = admin_client.post(changelist, {**selection, "post": "yes"}, follow=True)
    assert confirmed.status_code == 200
    assert _messages(confirmed) == [f"Nothing was deleted: the selected {plural} no longer exist."]
    assert _deletions_logged(model, target.pk) == 1


# --- gone, or newly in use, between the guard's read and the delete ------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("model", list(MAKERS), ids=lambda model: model.__name__)
def test_an_object_deleted_between_the_guard_and_the_delete_is_no_500(admin_client, monkeypatch, model):
    target = MAKERS[model]("Gone")
    delete_it = {
        Tag: lambda: contact_services.tag_delete(tag=Tag.objects.get(pk=target.pk)),
        DataAttribute: lambda: contact_services.data_attribute_delete(attribute=DataAttribute.objects.get(pk=target.pk)),
        Contact: lambda: contact_services.contact_erase(contact=Contact.objects.get(pk=target.pk), actor=None,
                                                        source=PrivacyAuditEntry.Source.ADMIN),
    }.get(model, lambda: model._base_manager.filter(pk=target.pk).delete())  # fmt: skip
    _after_the_guard(monkeypatch, model, delete_it)

    response = admin_client.post(_url(model, "delete", target.pk), {"post": "yes"}, follow=True)
    assert response.status_code == 200
    assert not model._base_manager.filter(pk=target.pk).exists()
    if model is Contact:  # the second erase finds it gone: nothing recorded twice
        assert PrivacyAuditEntry.objects.filter(contact_id=target.pk).count() == 1


def _naming(model, target):
    """Another teammate's segment that starts using the tag or the attribute."""
    field = {Tag: ("tag_id", target.pk), DataAttribute: (f"custom_attributes.{target.name}", "pro")}[model]
    return lambda: segment_create(name="Uses it", query={"field": field[0], "operator": "!=", "value": field[1]},
                                  teammate=None)  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize("model", [Tag, DataAttribute], ids=lambda model: model.__name__)
def test_a_deletion_its_service_refuses_after_the_page_allowed_it_is_a_message(admin_client, monkeypatch, model):
    target = MAKERS[model]("Named")
    url = _url(model, "delete", target.pk)
    _after_the_guard(monkeypatch, model, _naming(model, target))

    response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 302 and response["Location"] == url
    [message] = _messages(admin_client.get(url))
    assert message.startswith("Not deleted: ") and "the segment “Uses it”" in message
    assert model.objects.filter(pk=target.pk).exists()
    assert _deletions_logged(model, target.pk) == 0  # the log entry went with the refused deletion


@pytest.mark.django_db
@pytest.mark.parametrize("model", [Tag, DataAttribute], ids=lambda model: model.__name__)
def test_a_selection_one_of_which_its_service_refuses_deletes_nothing_and_says_why(admin_client, monkeypatch, model):
    spare, target = MAKERS[model]("Spare"), MAKERS[model]("Named")
    _after_the_guard(monkeypatch, model, _naming(model, target))

    response = admin_client.post(_url(model, "changelist"), {"action": "delete_selected", "post": "yes",
                                                            "_selected_action": [spare.pk, target.pk]}, follow=True)  # fmt: skip
    assert response.status_code == 200
    [message] = _messages(response)
    assert message.startswith("Nothing was deleted: ") and "the segment “Uses it”" in message
    assert model.objects.filter(pk__in=[spare.pk, target.pk]).count() == 2  # all or nothing, as the page offered
    assert _deletions_logged(model, spare.pk) == 0


# --- contacts: erased twice --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_contact_erased_twice_at_once_is_erased_recorded_and_announced_once(superuser):
    webhook_subscription_save(
        subscription=WebhookSubscription(), url="http://127.0.0.1:9/h", topics=["contact.deleted"]
    )
    contact = UserContactFactory()
    first = contact_services.contact_erase(contact=contact, actor=superuser, source=PrivacyAuditEntry.Source.ADMIN)
    second = contact_services.contact_erase(contact=contact, actor=superuser, source=PrivacyAuditEntry.Source.ADMIN)
    assert first["contacts.Contact"] == 1 and not second
    assert PrivacyAuditEntry.objects.filter(contact_id=contact.pk).count() == 1
    assert WebhookDelivery.objects.filter(topic="contact.deleted").count() == 1


@pytest.mark.django_db
def test_the_erase_action_counts_only_the_contacts_it_erased(admin_client, monkeypatch):
    kept, gone = UserContactFactory(), UserContactFactory()
    changelist = _url(Contact, "changelist")
    erase = {"action": "erase_selected", "_selected_action": [kept.pk, gone.pk], "confirmed": "yes"}
    real_erase = contact_services.contact_erase

    def another_teammate_first(*, contact, **kwargs):  # erases `gone` just before this request gets to it
        if contact.pk == gone.pk:
            real_erase(contact=Contact.objects.get(pk=gone.pk), actor=None, source=PrivacyAuditEntry.Source.ADMIN)
        return real_erase(contact=contact, **kwargs)

    monkeypatch.setattr(contact_services, "contact_erase", another_teammate_first)
    response = admin_client.post(changelist, erase, follow=True)
    assert response.status_code == 200
    assert _messages(response) == ["Erased 1 contact and their history."]
    assert not Contact.objects.filter(pk__in=[kept.pk, gone.pk]).exists()
    assert PrivacyAuditEntry.objects.filter(contact_id=gone.pk).count() == 1


# --- who may, and ids that are no ids --------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("group", [VIEWER_GROUP, AGENT_GROUP])
@pytest.mark.parametrize("model", list(MAKERS), ids=lambda model: model.__name__)
def test_a_viewer_or_an_agent_deletes_none_of_these(teammate_client, group, model):
    client = teammate_client(group)
    target = MAKERS[model]("Kept")
    assert client.post(_url(model, "delete", target.pk), {"post": "yes"}).status_code == 403
    if model in BULK:
        selection = {"action": "delete_selected", "_selected_action": [target.pk], "post": "yes"}
        response = client.post(_url(model, "changelist"), selection)
        assert response.status_code in (200, 302, 403)  # no action offered: the list again
    assert model._base_manager.filter(pk=target.pk).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("weird", ["²", "-1", "0", "1.5", "1e400", "99999999999999999999", "%00", "%ED%A0%80",
                                   "<b>1</b>", "_5F1"])  # fmt: skip
@pytest.mark.parametrize("model", list(MAKERS), ids=lambda model: model.__name__)
def test_deleting_by_an_id_that_is_no_id_is_never_a_500(admin_client, weird, model):
    MAKERS[model]("Kept")
    url = _url(model, "delete", 1).replace("/1/delete/", f"/{weird}/delete/")
    for response in (admin_client.get(url), admin_client.post(url, {"post": "yes"})):
        assert response.status_code in (302, 400, 404), (weird, response.status_code)
    assert model._base_manager.count() >= 1


# --- PostgreSQL: two connections at once ---------------------------------------------------------------------------

# How long a test waits for the other connection to queue behind a row lock.
LOCK_WAIT_DEADLINE_SECONDS = 10


def _another_session_waits_for_a_lock():
    """Whether some other session of this database is waiting for a lock now (PostgreSQL), polled until a deadline."""
    deadline = time.monotonic() + LOCK_WAIT_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # inside a transaction the view is read once, else
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return True
        time.sleep(0.02)
    return False


postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="two transactions at once need PostgreSQL"
)


@postgresql_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("model", [Tag, Contact], ids=lambda model: model.__name__)
def test_two_teammates_confirming_the_same_deletion_at_once(admin_client, model):
    """The other teammate's deletion holds its transaction open until this POST queues behind it: the POST then finds
    the object gone (a message and the list), and the deletion is recorded once."""
    target = MAKERS[model]("Both")
    started, outcome = threading.Event(), {}

    def other_teammate():
        try:
            with transaction.atomic():
                if model is Tag:
                    contact_services.tag_delete(tag=Tag.objects.get(pk=target.pk))
                else:
                    contact_services.contact_erase(contact=Contact.objects.get(pk=target.pk), actor=None,
                                                   source=PrivacyAuditEntry.Source.ADMIN)  # fmt: skip
                started.set()
                outcome["queued"] = _another_session_waits_for_a_lock()
        finally:
            started.set()
            connection.close()

    thread = threading.Thread(target=other_teammate)
    thread.start()
    assert started.wait(timeout=30)
    response = admin_client.post(_url(model, "delete", target.pk), {"post": "yes"}, follow=True)
    thread.join(timeout=60)

    assert outcome == {"queued": True}  # this POST waited for the other deletion's lock
    assert response.status_code == 200 and _messages(response) == [_gone(model)]
    assert not model._base_manager.filter(pk=target.pk).exists()
    if model is Contact:
        assert PrivacyAuditEntry.objects.filter(contact_id=target.pk).count() == 1
    else:
        assert _deletions_logged(model, target.pk) == 0  # the other teammate used the service, not this page


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_segment_saved_while_the_page_deletes_its_tag_waits_and_is_refused(admin_client, monkeypatch):
    """The page's guard has read "nothing uses it" when another teammate saves a segment naming the tag: the save
    queues behind the page's lock, the tag goes, and the save is refused. Without the lock the save committed first
    and the service's own guard refused the deletion in the middle of the page (a 500)."""
    tag = TagFactory(name="VIP")
    outcome = {}

    def other_teammate_saves():
        try:
            _naming(Tag, tag)()
            outcome["segment"] = "saved"
        except ValidationError as refusal:
            outcome["segment"] = " ".join(refusal.messages)
        finally:
            connection.close()

    thread = threading.Thread(target=other_teammate_saves)

    def start_the_save():
        thread.start()
        outcome["queued"] = _another_session_waits_for_a_lock()

    _after_the_guard(monkeypatch, Tag, start_the_save)
    response = admin_client.post(_url(Tag, "delete", tag.pk), {"post": "yes"}, follow=True)
    thread.join(timeout=60)

    assert response.status_code == 200
    assert _messages(response) == ["The tag “VIP” was deleted successfully."]
    assert outcome == {"queued": True, "segment": f"tag_id: No tag has the id {tag.pk}."}
    assert not Tag.objects.exists() and not Segment.objects.exists()
