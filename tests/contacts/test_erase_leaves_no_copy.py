"""GDPR erase leaves no copy of the person anywhere: every table, the cache, the broker.

The person goes through every webhook topic (so the delivery log holds their data in every item
shape), the widget (hot-path cache entries, queued page views), chat, email and a merge; after the
erase a dump of every table and of every key in the Redis databases the run uses holds none of
their email, name, phone or user id, while a bystander's are still found (the scan works).
"""

import base64
import json
import pickle
import zlib
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.filebased import FileBasedCache
from django.core.cache.backends.locmem import LocMemCache
from django.db import connection
from django.utils import timezone

from api import services as api_services
from api import webhooks
from api.models import WebhookDelivery, WebhookSubscription
from companies import services as company_services
from companies.models import Company
from contacts import services
from contacts.models import Contact, PrivacyAuditEntry
from conversations import services as conversation_services
from tests.contacts.factories import TagFactory
from tests.tracking.conftest import Widget
from tests.tracking.factories import user_hash
from tracking.page_view_buffer import page_views_flush
from tracking.services import website_create, website_update

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = "https://shop.example"


def person(key: str) -> dict[str, str]:
    return {
        "email": f"{key}.gone@erase-scan.example",
        "name": f"Erin {key.title()}vanish",
        "phone": f"+44 7700 9{key[:1].upper()}0 4242",
        "external_id": f"ext-{key}-erased-4242",
    }


ALICE, BORIS, KEPT = person("alice"), person("boris"), person("kept")


def _every_table_dump() -> str:
    """Every row of every table (Django's and any other), as text."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(include_views=False):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - names from introspection
            for row in cursor.fetchall():
                chunks.append(" ".join(_text(value) for value in row))
    return "\n".join(chunks)


def _text(value) -> str:
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _redis_urls() -> set[str]:
    urls = {settings.CELERY_BROKER_URL, settings.PARLEY_PAGE_VIEW_BUFFER_URL}
    location = settings.CACHES["default"].get("LOCATION")
    urls.update(location if isinstance(location, list) else [location or ""])
    return {url for url in urls if url and url.startswith(("redis://", "rediss://"))}


def _redis_dump() -> str:
    """Every key of every Redis database this run uses, whatever its type; Celery bodies decoded."""
    import redis

    chunks = []
    for url in _redis_urls():
        client = redis.Redis.from_url(url)
        for key in client.scan_iter(count=1000):
            kind = client.type(key).decode()
            values: list[bytes] = [key]
            if kind == "string":
                values.append(client.get(key) or b"")
            elif kind == "list":
                values.extend(client.lrange(key, 0, -1))
            elif kind == "hash":
                values.extend(v for pair in client.hgetall(key).items() for v in pair)
            elif kind == "set":
                values.extend(client.smembers(key))
            elif kind == "zset":
                values.extend(client.zrange(key, 0, -1))
            elif kind == "stream":
                values.extend(v for _, fields in client.xrange(key) for pair in fields.items() for v in pair)
            chunks.extend(_decoded_message(value) for value in values)
    return "\n".join(chunks)


def _decoded_message(value: bytes) -> str:
    text = value.decode("utf-8", errors="replace")
    try:
        envelope = json.loads(text)
    except ValueError:
        return text
    if isinstance(envelope, dict) and envelope.get("properties", {}).get("body_encoding") == "base64":
        text += base64.b64decode(envelope.get("body", "")).decode("utf-8", errors="replace")
    return text


def _local_stores_dump() -> str:
    """Without Redis: the local-memory or file cache and the filesystem broker's queued messages."""
    chunks = []
    cache = caches["default"]
    if isinstance(cache, LocMemCache):
        chunks.extend(_text(value) for value in cache._cache.values())
    if isinstance(cache, FileBasedCache):
        for path in Path(cache._dir).glob(f"*{cache.cache_suffix}"):
            with path.open("rb") as entry:
                if not cache._is_expired(entry):
                    chunks.append(_text(pickle.loads(zlib.decompress(entry.read()))))  # noqa: S301 - our own cache
    if settings.CELERY_BROKER_IS_FILESYSTEM:
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        chunks.extend(_decoded_message(path.read_bytes()) for path in folder.glob("*") if path.is_file())
    return "\n".join(chunks)


def _found(dump: str, who: dict[str, str]) -> list[str]:
    """Each of the person's values present in the dump, with the text around it (where it was)."""
    lowered = dump.lower()
    found = []
    for field, value in who.items():
        at = lowered.find(value.lower())
        if at >= 0:
            found.append(f"{field}={value!r} in …{dump[max(at - 150, 0) : at + 80]!r}…")
    return found


def _lead_life(teammate) -> Contact:
    """Boris: a lead (every lead topic), then signs up."""
    lead = services.contact_create(role="lead", name=BORIS["name"], email=BORIS["email"], phone=BORIS["phone"])
    services.contact_update(contact=lead, custom_attributes={"plan": "trial"})
    tag = TagFactory()
    services.contact_tag(contact=lead, tag=tag)
    services.contact_untag(contact=lead, tag=tag)
    conversation_services.conversation_start_by_contact(contact=lead, body=f"Hi, {BORIS['name']} here")
    return services.contact_convert(contact=lead, role="user", external_id=BORIS["external_id"])


def _user_life(client, teammate) -> Contact:
    """Alice: a visitor in the widget who identifies, a merged lead, every user and conversation topic."""
    website = website_create(name="Shop", allowed_origins=[ORIGIN])
    website_update(website=website, conversation_ratings_enabled=True)  # her closed conversation asks for a rating
    widget = Widget(client, website)
    assert widget.ping().status_code == 200
    user_fields = {"user_id": ALICE["external_id"], "email": ALICE["email"], "name": ALICE["name"],
                   "phone": ALICE["phone"], "user_hash": user_hash(website, ALICE["external_id"]),
                   "company": {"company_id": "erase-co", "name": "Erase Co"}}  # fmt: skip
    assert widget.ping(user=user_fields).status_code == 200
    for page in ("https://shop.example/a", "https://shop.example/b"):
        assert widget.ping(url=page, title=f"Account of {ALICE['name']}").status_code == 200
    assert widget.event("signed-in", {"who": ALICE["email"]}).status_code in (200, 202)
    alice = Contact.objects.get(external_id=ALICE["external_id"])
    company = Company.objects.get(company_id="erase-co")  # joined from the widget: company.created, .attached
    company_services.company_update(company=company, plan="pro")
    company_services.company_detach(company=company, contact=alice)
    company_services.company_attach(company=company, contact=alice)
    earlier_lead = services.contact_create(role="lead", name=ALICE["name"], email=ALICE["email"])
    services.contact_merge(source=earlier_lead, into=alice)
    services.contact_update(contact=alice, phone=ALICE["phone"], is_archived=True)
    services.contact_update(contact=alice, is_archived=False)
    tag = TagFactory()
    services.contact_tag(contact=alice, tag=tag, actor=teammate)
    services.contact_untag(contact=alice, tag=tag)
    conversation = conversation_services.conversation_start_by_contact(contact=alice, body=f"I am {ALICE['name']}")
    conversation_services.conversation_reply_as_contact(conversation=conversation, body=f"Call {ALICE['phone']}")
    conversation_services.conversation_reply_as_teammate(conversation=conversation, teammate=teammate,
                                                         body=f"Hello {ALICE['name']}")  # fmt: skip
    conversation_services.conversation_add_note(conversation=conversation, teammate=teammate,
                                                body=f"VIP: {ALICE['email']}")  # fmt: skip
    conversation_services.conversation_assign(conversation=conversation, teammate=teammate, assignee=None)
    conversation_services.conversation_snooze(conversation=conversation, teammate=teammate,
                                              until=timezone.now() + timezone.timedelta(hours=1))  # fmt: skip
    conversation_services.conversation_reopen(conversation=conversation, teammate=None)
    conversation_services.conversation_close(conversation=conversation, teammate=teammate)
    (rating_request,) = conversation.ratings.all()  # she rates it: conversation.rating.added
    conversation_services.conversation_rating_give(request=rating_request, rating=2,
                                                   remark=f"Slow, {ALICE['name']} ({ALICE['email']})")  # fmt: skip
    conversation_services.conversation_reopen(conversation=conversation, teammate=teammate)
    conversation_services.conversation_start_by_teammate(contact=alice, teammate=teammate,
                                                         body=f"Welcome {ALICE['name']}")  # fmt: skip
    conversation_services.message_send(sender=teammate, channel="email", subject="News",
                                       body="News", contact_ids=[alice.pk])  # fmt: skip
    return alice


def test_erase_leaves_no_copy_in_any_table_the_webhook_log_or_redis(client, teammate, settings):
    settings.PARLEY_WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True
    api_services.webhook_subscription_save(
        subscription=WebhookSubscription(), url="http://127.0.0.1:9/hook", topics=list(webhooks.TOPICS)
    )
    kept = services.contact_create(role="user", **KEPT)
    boris = _lead_life(teammate)
    alice = _user_life(client, teammate)
    topics = set(WebhookDelivery.objects.values_list("topic", flat=True))
    assert topics == {*webhooks.CONTACT_TOPICS, *webhooks.CONVERSATION_TOPICS, *webhooks.COMPANY_TOPICS} - {
        "contact.deleted"
    }
    before = _every_table_dump() + _redis_dump() + _local_stores_dump()
    assert _found(before, ALICE) and _found(before, BORIS)
    stores_before = _redis_dump() if _redis_urls() else _local_stores_dump()
    assert _found(stores_before, ALICE), "the store scan must see the person before the erase"

    for contact in (alice, boris):
        services.contact_erase(contact=contact, actor=teammate, source=PrivacyAuditEntry.Source.ADMIN)
    # The erase asked a worker for a page-view flush (queued page views leave Redis); run it as the
    # worker would, since no worker runs here.
    page_views_flush()

    tables, stores = _every_table_dump(), _redis_dump() + _local_stores_dump()
    assert _found(tables, ALICE) == [] and _found(tables, BORIS) == []
    assert _found(stores, ALICE) == [] and _found(stores, BORIS) == []
    assert len(_found(tables, KEPT)) == 4, "the scan must still see the bystander"
    notices = WebhookDelivery.objects.filter(topic="contact.deleted")
    assert {n.payload["data"]["item"]["id"] for n in notices} == {str(alice.pk), str(boris.pk)}
    assert all(set(n.payload["data"]["item"]) == {"type", "id"} for n in notices)
    assert kept.webhook_deliveries.exists()
    # The company stays, without the person (and without counting them).
    company = Company.objects.get(company_id="erase-co")
    assert (company.name, company.user_count) == ("Erase Co", 0)
