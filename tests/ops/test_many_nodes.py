"""Many nodes: two machines, each running the production shape (`make run-prod`: gunicorn, a Celery
worker, a beat) against one PostgreSQL and one Redis, as docs/scaling.md describes.

What the design guarantees with two of everything, and this test checks:
- every page view sent to either web server is written once (the Redis buffer, flushed by either worker);
- a chat started on one web server is answered through the other and read back on the first;
- each email is sent once, even when its send task runs on both workers at the same time;
- two expiry runs at once (one queued through each web server) split the stale visitors between the two
  workers without both deleting the same one (FOR UPDATE SKIP LOCKED batches);
- the second machine's beat, started as on the first, waits as a standby: scheduled work is sent once.
"""

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from api.services import api_token_create
from contacts.models import Contact
from conversations import tasks as conversation_tasks
from conversations.models import Conversation, Message, MessageDelivery
from retention.models import RetentionRun
from tests.production_shape import AdminSession, ProductionShape, skip_unless_production_backends
from tests.tracking.factories import ORIGIN
from tracking.models import PageView, Website
from tracking.services import website_create
from tracking.services.hot_path import HotPathState

pytestmark = [pytest.mark.celery, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

VISITORS = 4
PAGE_VIEWS_EACH = 6
EMAIL_RECIPIENTS = 6
STALE_VISITORS = 2500  # three expiry batches of 1,000
HEARTBEAT = "test: many nodes heartbeat"
RUN_NOW = "/admin/retention/retentionpolicy/run/"


@pytest.fixture
def two_nodes(tmp_path):
    """Machine A starts first (its beat takes the lock), then machine B, both with the same settings."""
    skip_unless_production_backends()
    mail = tmp_path / "mail"
    mail.mkdir()
    # One process per worker: a worker busy with a task takes no other, so two tasks at once run on both.
    shared = {"EMAIL_URL": f"filemail:///{mail}", "CELERY_WORKER_CONCURRENCY": "1"}
    nodes = [ProductionShape(tmp_path / name, extra_env=shared) for name in ("a", "b")]
    try:
        for node in nodes:
            node.start()
        yield nodes[0], nodes[1], mail
        for node in nodes:
            node.stop()  # before the test database is dropped: the processes hold connections to it
    finally:
        for node in nodes:
            node.kill_leftovers()


def _widget(node: ProductionShape, app_id: str, endpoint: str, body: dict, method: str = "POST"):
    status, answer = node.request(
        method,
        f"/widget-api/{app_id}/{endpoint}",
        body=json.dumps(body).encode() if method == "POST" else None,
        headers={
            "Origin": ORIGIN,
            "Content-Type": "text/plain;charset=UTF-8",
            "User-Agent": "Mozilla/5.0 Firefox/133.0",
        },
    )
    assert status in (200, 201), (endpoint, status, answer)
    return answer


def _ping(node: ProductionShape, app_id: str, url: str, previous: dict | None) -> dict:
    body = {"page": {"url": url, "title": "Page"}}
    if previous:
        body.update(anonymous_id=previous["anonymous_id"], token=previous["token"])
    return _widget(node, app_id, "ping", body)


def _api(node: ProductionShape, token: str, path: str, body: dict):
    status, answer = node.request(
        "POST",
        f"/api/{path}",
        body=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"},
    )
    assert status == 200, (path, status, answer)
    return answer


def _emails_to(mail: Path) -> list[str]:
    """The recipient of every email written by the file backend (one file per connection, maybe several emails)."""
    return [address for file in mail.iterdir() for address in re.findall(r"^To: (.+)$", file.read_text(), re.MULTILINE)]


def test_two_machines_write_each_page_view_and_email_once_split_expiry_and_schedule_once(two_nodes, admin_user):
    node_a, node_b, mail = two_nodes
    nodes = (node_a, node_b)
    website = website_create(
        name="Shop", allowed_origins=[ORIGIN], identity_verification=Website.IdentityVerification.OFF
    )
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(
        name=HEARTBEAT, task="ops.tasks.worker_heartbeat", interval=every_second, expire_seconds=30
    )

    # Page views: each visitor's pages alternate between the two web servers.
    for visitor in range(VISITORS):
        answer = None
        for page in range(PAGE_VIEWS_EACH):
            answer = _ping(nodes[page % 2], website.app_id, f"https://shop.example/v{visitor}/p{page}", answer)
    sent = VISITORS * PAGE_VIEWS_EACH
    node_a.wait_until(lambda: PageView.objects.count() >= sent, timeout=60, what=f"{sent} page views written")
    urls = list(PageView.objects.values_list("url", flat=True))
    assert len(urls) == sent and len(set(urls)) == sent  # each once, none twice

    # A chat: started on A, answered by a teammate through B's API, read back on A.
    visitor = _ping(node_a, website.app_id, "https://shop.example/help", None)
    started = _widget(
        node_a, website.app_id, "conversations", {"token": visitor["token"], "body": "Where is my parcel?"}
    )
    _, api_token = api_token_create(user=admin_user)
    conversation = Conversation.objects.get()
    _api(
        node_b,
        api_token,
        f"conversations/{conversation.pk}/reply",
        {"type": "admin", "admin_id": str(admin_user.pk), "message_type": "comment", "body": "On its way!"},
    )
    thread = _widget(
        node_a,
        website.app_id,
        f"conversations/{started['conversation']['id']}?token={visitor['token']}",
        {},
        method="GET",
    )
    assert "On its way!" in json.dumps(thread)

    # Emails: one message per person, sent through either API; each send task is queued a second time,
    # as a redelivery would, so both workers race for the same deliveries.
    people = [
        Contact.objects.create(
            role="user",
            external_id=f"u-{n}",
            email=f"person{n}@example.org",
            name=f"Person {n}",
            email_verified_at=timezone.now(),  # as the API gives them: campaigns go to shown addresses only
        )
        for n in range(EMAIL_RECIPIENTS)
    ]
    for number, person in enumerate(people):
        message = _api(
            nodes[number % 2],
            api_token,
            "messages",
            {
                "message_type": "email",
                "subject": "News",
                "body": "Hello!",
                "to": {"type": "user", "email": person.email},
            },
        )
        conversation_tasks.send_message.delay(int(message["id"]))
    node_a.wait_until(
        lambda: (
            MessageDelivery.objects.filter(state=MessageDelivery.State.SENT).count() == EMAIL_RECIPIENTS
            and not Message.objects.filter(state=Message.State.SENDING).exists()
        ),
        timeout=60,
        what="every email delivered",
    )
    assert sorted(_emails_to(mail)) == sorted(person.email for person in people)  # each once

    # Expiry: 2,500 stale visitors, and a run queued through each web server at once. The test holds a
    # lock on one stale visitor's page view, so the run that takes that visitor's batch waits on it
    # while the other run, on the other worker, deletes every batch it can lock.
    # The held visitor is the first stale one in id order: the run that starts first takes its batch and
    # waits, whenever the other run starts.
    old = timezone.now() - dt.timedelta(days=400)
    doomed = _ping(node_b, website.app_id, "https://shop.example/last-visit", None)
    node_a.wait_until(  # a new visitor's rows are queued: a worker's flush writes them a second later
        lambda: PageView.objects.filter(url="https://shop.example/last-visit").exists(),
        timeout=30,
        what="the new visitor's page view flushed",
    )
    doomed_contact = PageView.objects.get(url="https://shop.example/last-visit").contact
    Contact.objects.filter(pk=doomed_contact.pk).update(first_seen_at=old, last_seen_at=old)
    cache.delete(HotPathState.key(doomed_contact.pk))  # 400 days on: no sighting of it is in flight any more
    Contact.objects.bulk_create(
        [Contact(role="visitor", first_seen_at=old, last_seen_at=old) for _ in range(STALE_VISITORS)], batch_size=1000
    )
    stale = STALE_VISITORS + 1
    teammates = [AdminSession(node.base_url).log_in("admin", "password") for node in nodes]
    with transaction.atomic():
        PageView.objects.select_for_update().filter(contact=doomed_contact).get()
        for teammate in teammates:
            assert teammate.post(RUN_NOW, [])[0] == 302
        node_a.wait_until(
            lambda: (
                RetentionRun.objects.filter(status=RetentionRun.Status.DONE).count() == 1
                and RetentionRun.objects.filter(status=RetentionRun.Status.RUNNING).count() == 1
            ),
            timeout=120,
            what="one run done while the other waits on the held lock",
        )
        finished_first = RetentionRun.objects.get(status=RetentionRun.Status.DONE)
        assert 0 < finished_first.contacts_deleted < stale  # it took part, and left the held batch alone
    node_a.wait_until(
        lambda: RetentionRun.objects.filter(status=RetentionRun.Status.DONE).count() == 2,
        timeout=120,
        what="the second run to finish once the lock is released",
    )
    runs = list(RetentionRun.objects.order_by("id"))
    assert sum(run.contacts_deleted for run in runs) == stale  # split, none deleted twice
    assert not Contact.objects.filter(last_seen_at__lt=timezone.now() - dt.timedelta(days=300)).exists()
    assert Contact.objects.filter(role="visitor").count() == VISITORS  # the fresh visitors stay
    expiry_workers = [
        node for node in nodes if any("expire_stale_visitors" in line for line in node.process_lines("worker"))
    ]
    assert expiry_workers == [node_a, node_b]  # a run on each machine's worker

    # One beat schedules: A's holds the lock, B's (started by the same Procfile) waits and sends nothing.
    node_a.wait_until(
        lambda: sum(HEARTBEAT in line for line in node_a.process_lines("beat")) >= 3, what="A's beat sending"
    )
    assert any("waits as a standby" in line for line in node_b.process_lines("beat"))
    assert not any("Sending due task" in line for line in node_b.process_lines("beat"))
    assert "Traceback" not in node_a.log + node_b.log
    assert doomed["anonymous_id"]
