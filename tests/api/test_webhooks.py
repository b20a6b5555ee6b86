import hashlib
import hmac
import importlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from api import services, webhooks
from api.models import WebhookDelivery, WebhookSubscription
from contacts import services as contact_services
from tests.contacts.factories import TagFactory, UserContactFactory

pytestmark = pytest.mark.django_db


class Receiver:
    """A real HTTP endpoint on 127.0.0.1 that records what it receives."""

    def __init__(self, status: int = 200) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver(settings):
    settings.PARLEY_WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True
    receiver = Receiver()
    yield receiver
    receiver.close()


def subscribe(url, topics, secret="s3cret"):  # noqa: S107
    return services.webhook_subscription_save(subscription=WebhookSubscription(), url=url, topics=topics, secret=secret)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/hook", "http://localhost:8080/x", "http://10.1.2.3/", "http://169.254.169.254/latest",
     "http://[::1]/", "http://192.168.0.10/"],
)  # fmt: skip
def test_private_loopback_and_link_local_destinations_are_refused(url):
    with pytest.raises(ValidationError) as refused:
        subscribe(url, ["contact.user.created"])
    assert "url" in refused.value.message_dict
    assert "127.0.0.1" not in str(refused.value) or "127.0.0.1" in url  # the host as typed, never a resolved IP


def test_loopback_is_allowed_when_the_setting_says_so(settings):
    settings.PARLEY_WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True
    assert subscribe("http://127.0.0.1:9/hook", ["contact.user.created"]).pk


def test_unknown_topics_and_bad_urls_are_refused(settings):
    settings.PARLEY_WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True
    with pytest.raises(ValidationError):
        subscribe("http://127.0.0.1/hook", ["contact.exploded"])
    with pytest.raises(ValidationError):
        subscribe("ftp://127.0.0.1/hook", ["contact.user.created"])
    with pytest.raises(ValidationError):
        subscribe("http://user:pw@127.0.0.1/hook", ["contact.user.created"])
    with pytest.raises(ValidationError):
        subscribe("http://127.0.0.1:99999/hook", ["contact.user.created"])


def test_a_change_records_an_intercom_notification_for_each_matching_subscription(receiver, api):
    subscribe(receiver.url, ["contact.user.created"])
    subscribe(receiver.url, ["contact.lead.created"])
    body = api.post("/api/contacts", {"email": "hook@example.com"}, format="json").json()
    delivery = WebhookDelivery.objects.get()
    assert delivery.topic == "contact.user.created"
    payload = delivery.payload
    assert payload["type"] == "notification_event"
    assert payload["topic"] == "contact.user.created"
    assert payload["data"]["type"] == "notification_event_data"
    assert payload["data"]["item"]["id"] == body["id"]
    assert payload["data"]["item"]["type"] == "contact"


def test_tag_alias_topic_receives_role_specific_tag_events(receiver):
    subscribe(receiver.url, ["contact.tag.created"])
    contact_services.contact_tag(contact=UserContactFactory(), tag=TagFactory())
    delivery = WebhookDelivery.objects.get()
    assert delivery.topic == "contact.user.tag.created"
    assert delivery.payload["data"]["item"]["type"] == "contact_tag"


def test_a_rolled_back_change_sends_nothing(receiver):
    subscribe(receiver.url, ["contact.user.created"])
    with pytest.raises(RuntimeError), transaction.atomic():
        contact_services.contact_create(email="rollback@example.com")
        raise RuntimeError
    assert not WebhookDelivery.objects.exists()


def test_delivery_is_signed_like_intercoms_x_hub_signature(receiver):
    subscribe(receiver.url, ["contact.user.created"], secret="topsecret")
    with transaction.atomic():
        contact_services.contact_create(email="sig@example.com")
    delivery = services.webhook_delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    headers, body = receiver.requests[0]
    expected = "sha1=" + hmac.new(b"topsecret", body, hashlib.sha1).hexdigest()
    assert headers["X-Hub-Signature"] == expected
    assert json.loads(body)["data"]["item"]["email"] == "sig@example.com"


def test_failures_retry_then_give_up_and_are_logged(receiver):
    receiver.status = 500
    subscribe(receiver.url, ["contact.user.created"])
    contact_services.contact_create(email="fail@example.com")
    delivery_id = WebhookDelivery.objects.get().pk
    statuses = [services.webhook_delivery_attempt(delivery_id=delivery_id).status for _ in range(6)]
    assert statuses == ["retrying"] * 5 + ["failed"]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.attempts, delivery.last_status_code, delivery.last_error) == (6, 500, "HTTP 500")
    assert services.retry_delay_seconds(1) < services.retry_delay_seconds(2) < services.retry_delay_seconds(5)


def test_delivery_rechecks_the_destination_at_send_time(receiver, settings):
    subscribe(receiver.url, ["contact.user.created"])
    contact_services.contact_create(email="late@example.com")
    settings.PARLEY_WEBHOOKS_ALLOW_PRIVATE_NETWORKS = False
    delivery = services.webhook_delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk)
    assert delivery.status == "retrying"
    assert "private" in delivery.last_error
    assert receiver.requests == []


def test_signature_helper_matches_hmac_sha1():
    assert webhooks.signature(secret="k", body=b"{}") == "sha1=" + hmac.new(b"k", b"{}", hashlib.sha1).hexdigest()


def test_admin_pages_for_subscriptions_and_the_delivery_log(admin_client, receiver):
    response = admin_client.post(
        "/admin/api/webhooksubscription/add/",
        {"url": receiver.url, "topics": ["contact.user.created", "conversation.admin.replied"], "secret": "abc",
         "active": "on"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    subscription = WebhookSubscription.objects.get()
    assert subscription.topics == ["contact.user.created", "conversation.admin.replied"]
    contact_services.contact_create(email="log@example.com")
    assert admin_client.get("/admin/api/webhookdelivery/").status_code == 200
    delivery = WebhookDelivery.objects.get()
    page = admin_client.get(f"/admin/api/webhookdelivery/{delivery.pk}/change/")
    assert "log@example.com" in page.content.decode()


def test_admin_refuses_a_private_url(admin_client, settings):
    settings.PARLEY_WEBHOOKS_ALLOW_PRIVATE_NETWORKS = False
    response = admin_client.post(
        "/admin/api/webhooksubscription/add/",
        {"url": "http://127.0.0.1/x", "topics": ["contact.user.created"], "secret": "a"},
    )
    assert response.status_code == 200
    assert "private or reserved" in response.content.decode()
    assert not WebhookSubscription.objects.exists()


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_after_commit(receiver, celery_worker_factory):
    subscribe(receiver.url, ["contact.lead.created"])
    worker = celery_worker_factory(extra_env={"PARLEY_WEBHOOKS_ALLOW_PRIVATE_NETWORKS": "true"})
    contact_services.contact_create(role="lead", email="worker@example.com")
    worker.wait_until(lambda: len(receiver.requests) == 1, timeout=60, what="webhook received")
    _headers, body = receiver.requests[0]
    assert json.loads(body)["topic"] == "contact.lead.created"
    worker.wait_until(
        lambda: WebhookDelivery.objects.filter(status="delivered").exists(), timeout=30, what="delivery logged"
    )


def test_conversation_topics_carry_the_conversation_with_its_parts(receiver, teammate):
    from conversations import services as conversation_services

    subscribe(receiver.url, ["conversation.user.created", "conversation.admin.replied", "conversation.admin.closed"])
    conversation = conversation_services.conversation_start_by_contact(contact=UserContactFactory(), body="Hi")
    conversation_services.conversation_reply_as_teammate(conversation=conversation, teammate=teammate, body="Hello")
    conversation_services.conversation_close(conversation=conversation, teammate=teammate)
    deliveries = list(WebhookDelivery.objects.order_by("id"))
    assert [d.topic for d in deliveries] == [
        "conversation.user.created", "conversation.admin.replied", "conversation.admin.closed"
    ]  # fmt: skip
    item = deliveries[1].payload["data"]["item"]
    assert (item["type"], item["id"]) == ("conversation", str(conversation.pk))
    assert item["conversation_parts"]["conversation_parts"][-1]["body"] == "<p>Hello</p>"


def test_delivery_log_runs_a_fixed_number_of_queries_whatever_its_size(admin_client, receiver):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    subscription = subscribe(receiver.url, ["contact.user.created"])

    def add(count):
        WebhookDelivery.objects.bulk_create(
            [WebhookDelivery(subscription=subscription, topic="contact.user.created", payload={},
                             notification_id=f"n-{WebhookDelivery.objects.count()}-{i}") for i in range(count)]
        )  # fmt: skip

    def page_queries():
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get("/admin/api/webhookdelivery/").status_code == 200
        return len(captured)

    add(3)
    admin_client.get("/admin/api/webhookdelivery/")
    small = page_queries()
    add(150)
    assert page_queries() == small


def test_erasing_a_contact_removes_its_notifications_and_the_deletion_notice_holds_ids_only(receiver):
    subscribe(receiver.url, ["contact.user.created", "contact.deleted"])
    contact = contact_services.contact_create(role="user", external_id="u-77", email="gone@example.com", name="Gone")
    assert "gone@example.com" in json.dumps(WebhookDelivery.objects.get(topic="contact.user.created").payload)

    contact_services.contact_erase(contact=contact, actor=None, source="api")

    remaining = list(WebhookDelivery.objects.values_list("topic", "payload"))
    assert [topic for topic, _ in remaining] == ["contact.deleted"]
    # Parley's id only: the site's user id is personal data too (finding 8).
    assert remaining[0][1]["data"]["item"] == {"type": "contact", "id": str(contact.pk)}


class RebindingResolver:
    """DNS under attack: `rebind.example` answers the next address of a script (then the last one).

    Only the resolver is fake; the sockets are real, and the loopback answer is a real receiver.
    """

    def __init__(self, monkeypatch) -> None:
        self.script: list[str] = []
        self.asked = 0
        real = socket.getaddrinfo

        def getaddrinfo(host, port, *args, **kwargs):
            if host != "rebind.example":
                return real(host, port, *args, **kwargs)
            self.asked += 1
            address = self.script.pop(0) if len(self.script) > 1 else self.script[0]
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


PUBLIC_ADDRESS = "93.184.215.14"


def test_dns_rebinding_between_the_check_and_the_connection_reaches_no_private_address(receiver, settings, monkeypatch):
    """Finding 15: the name answers a public address to the check, then loopback to the connection."""
    resolver = RebindingResolver(monkeypatch)
    port = receiver.server.server_address[1]
    settings.PARLEY_WEBHOOKS_ALLOW_PRIVATE_NETWORKS = False
    resolver.script = [PUBLIC_ADDRESS]
    subscribe(f"http://rebind.example:{port}/hook", ["contact.user.created"])
    contact_services.contact_create(email="rebind@example.com")
    resolver.script = [PUBLIC_ADDRESS, "127.0.0.1"]
    delivery = services.webhook_delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk)
    assert resolver.asked >= 3  # saved, checked, connected: each resolved the name
    assert receiver.requests == []
    assert delivery.status == "retrying"
    assert "private or reserved" in delivery.last_error
    assert "127.0.0.1" not in delivery.last_error


def test_the_guarded_session_checks_the_address_it_connects_to(receiver, settings, monkeypatch):
    resolver = RebindingResolver(monkeypatch)
    port = receiver.server.server_address[1]
    settings.PARLEY_WEBHOOKS_ALLOW_PRIVATE_NETWORKS = False
    resolver.script = ["127.0.0.1"]
    with pytest.raises(ValidationError), webhooks.guarded_session() as session:
        session.post(f"http://rebind.example:{port}/hook", data=b"{}", timeout=5)
    assert receiver.requests == []
    # The same connection is made when private networks are allowed: the check, not the socket, refused.
    settings.PARLEY_WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True
    with webhooks.guarded_session() as session:
        assert session.post(f"http://rebind.example:{port}/hook", data=b"{}", timeout=5).status_code == 200
    assert len(receiver.requests) == 1


def test_the_migration_links_old_deliveries_and_drops_copies_of_people_erased_before_it(receiver):
    from django.apps import apps

    migration = importlib.import_module("api.migrations.0003_webhookdelivery_contact")
    subscription = subscribe(receiver.url, ["contact.user.created"])
    alive = UserContactFactory()

    def old(topic, item, n):
        return WebhookDelivery.objects.create(subscription=subscription, topic=topic, notification_id=f"old-{n}",
                                              payload=webhooks.notification(topic=topic, item=item))  # fmt: skip

    about_alive = old("contact.user.tag.created", {"type": "contact_tag", "contact": {"id": str(alive.pk)}}, 1)
    about_erased = old("conversation.admin.replied",
                       {"type": "conversation", "contacts": {"contacts": [{"id": "987654", "external_id": "x"}]}}, 2)  # fmt: skip
    notice = old("contact.deleted", {"type": "contact", "id": "987654", "external_id": "u-secret"}, 3)
    migration.link_deliveries_to_their_contacts(apps, None)
    about_alive.refresh_from_db()
    notice.refresh_from_db()
    assert about_alive.contact_id == alive.pk
    assert not WebhookDelivery.objects.filter(pk=about_erased.pk).exists()
    assert notice.payload["data"]["item"] == {"type": "contact", "id": "987654"}


def test_retrying_one_delivery_from_the_admin_says_one_delivery(admin_client, receiver):
    subscribe(receiver.url, ["contact.user.created"])
    contact_services.contact_create(email="once@example.com")
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=WebhookDelivery.Status.FAILED)
    response = admin_client.post(
        "/admin/api/webhookdelivery/", {"action": "retry", "_selected_action": [delivery.pk]}, follow=True
    )
    assert "1 delivery queued again." in response.content.decode()
