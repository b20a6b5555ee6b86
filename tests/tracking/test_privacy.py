"""Traffic from known IPs, then every text column of every table and the logs: no IP anywhere."""

import logging

import pytest
from django.apps import apps
from django.db import models
from django.test import override_settings

from tests.tracking.conftest import Widget
from tests.tracking.factories import user_hash
from tracking import services
from tracking.models import WebSession, Website
from tracking.services.hot_path import HotPathState

KNOWN_IPS = ["81.2.69.142", "193.0.6.139", "8.8.8.8", "2001:4860:4860::8888"]
PROXY = "127.0.0.9"


def _text_columns(model):
    return [
        field.attname
        for field in model._meta.concrete_fields
        if isinstance(field, models.CharField | models.TextField | models.JSONField | models.GenericIPAddressField)
    ]


def _database_text():
    found = []
    for model in apps.get_models(include_auto_created=True):
        columns = _text_columns(model)
        if not columns:
            continue
        for row in model._base_manager.values_list(*columns).iterator():
            found.extend(str(value) for value in row if value not in (None, ""))
    return found


@pytest.mark.django_db
@override_settings(TRUSTED_PROXIES=[PROXY], PARLEY_WIDGET_RATE_PER_IP=10)
def test_no_ip_address_is_stored_or_logged(client, enforced_website, caplog, capsys, ingest_flush):
    caplog.set_level(logging.DEBUG)
    full = services.website_create(name="Full", allowed_origins=["https://shop.example"])
    for index, ip in enumerate(KNOWN_IPS):
        direct = Widget(client, full, ip=ip)
        direct.ping(user={"user_id": f"u-{index}", "name": "Ada"})
        direct.event("bought", {"plan": "pro"})
        direct.post("update", {"token": direct.token, "page": {"url": "https://shop.example/next"}})
        direct.post("ping", {"page": {"url": "not a url"}})  # 400
        Widget(client, full, ip=ip, origin="https://evil.example").ping()  # 403
        for _ in range(6):
            Widget(client, full, ip=ip).ping()  # ends in 429s
        proxied = Widget(client, enforced_website, ip=PROXY)
        proxied.post("ping", {"page": {"url": "https://shop.example/"}}, HTTP_X_FORWARDED_FOR=f"{ip}, {PROXY}")
        bad_hash = {
            "user": {"user_id": "x", "user_hash": user_hash(enforced_website, "y")},
            "page": {"url": "https://a.example/"},
        }
        proxied.post("ping", bad_hash, HTTP_X_FORWARDED_FOR=ip)  # 403 identity
    ingest_flush()  # what the pings queued (with the ingest queue on) reaches the database too
    # The traffic did reach the enrichment: countries were derived from these addresses.
    assert set(WebSession.objects.values_list("country", flat=True)) >= {"GB", "NL", "US"}
    assert Website.objects.count() == 2
    stored = "\n".join(_database_text())
    logged = "\n".join(record.getMessage() for record in caplog.records) + "\n".join(capsys.readouterr())
    for ip in KNOWN_IPS:
        assert ip not in stored, f"{ip} found in the database"
        assert ip not in logged, f"{ip} found in the logs"


@pytest.mark.django_db
def test_rate_limit_and_session_cache_entries_hold_no_ip(client, website, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "privacy"}}
    from django.core.cache import cache

    Widget(client, website, ip=KNOWN_IPS[0]).ping()
    dump = repr(list(cache._cache.items()))
    assert KNOWN_IPS[0] not in dump and KNOWN_IPS[0].encode() not in b"".join(cache._cache.values())


@pytest.mark.django_db(transaction=True)
def test_erasing_a_contact_drops_its_cached_snapshot(client, website):
    from django.core.cache import cache

    from contacts.models import Contact
    from contacts.services import contact_erase

    widget = Widget(client, website)
    widget.ping(user={"user_id": "u-erase", "email": "erase.me@example.com", "name": "Erase Me"})
    contact = Contact.objects.get(external_id="u-erase")
    key = HotPathState.key(contact.pk)
    assert "erase.me@example.com" in repr(cache.get(key))

    contact_erase(contact=contact, actor=None, source="admin")

    assert cache.get(key) is None
