"""Migration contacts.0016: the addresses of contacts no messenger made count as shown; a messenger's stay unshown."""

import importlib

import pytest
from django.apps import apps

from contacts.models import Contact
from tests.contacts.factories import LeadFactory, UserContactFactory
from tests.tracking.factories import WebsiteFactory

pytestmark = pytest.mark.django_db
backfill = importlib.import_module("contacts.migrations.0016_contact_email_verified_backfill")


def test_the_backfill_marks_only_addresses_no_messenger_gave(monkeypatch):
    website = WebsiteFactory()
    by_api = UserContactFactory(email="api@shop.example")
    by_messenger = LeadFactory(email="typed@shop.example", first_website_id=website.pk)
    no_email = UserContactFactory(email="", external_id="u-9")
    Contact.objects.update(email_verified_at=None)  # as the column came: empty everywhere
    monkeypatch.setattr(backfill, "BATCH", 2)  # several batches
    backfill.mark_addresses_no_messenger_gave(apps, None)
    marked = dict(Contact.objects.values_list("pk", "email_verified_at"))
    assert marked[by_api.pk] is not None
    assert marked[by_messenger.pk] is None and marked[no_email.pk] is None
