"""Every write of a field a cached copy may hold gives the contact a new generation once it commits
(contacts.generations): the widget's kept snapshot is checked against it."""

import time

import pytest
from django.core.cache import cache
from django.db import transaction

from contacts import services as contacts_services
from contacts.deletion import contacts_delete_with_history
from contacts.generations import SHARED_KEY, generation_key
from contacts.models import Contact
from tests.contacts.factories import ContactFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def contacts():
    cache.delete(SHARED_KEY)
    made = ContactFactory.create_batch(3)
    cache.delete_many([generation_key(contact.pk) for contact in made])
    return made


def _generations(contacts):
    return [cache.get(generation_key(contact.pk)) for contact in contacts] + [cache.get(SHARED_KEY)]


def test_creating_a_contact_gives_it_no_generation(contacts):
    assert _generations(contacts) == [None, None, None, None]


def test_a_save_of_a_watched_field_renews_that_contacts_generation_once_it_commits(contacts):
    first = contacts[0]
    with transaction.atomic():
        contacts_services.contact_update(contact=first, name="Ada")
        assert _generations(contacts) == [None, None, None, None]  # not before the commit
    generations = _generations(contacts)
    assert generations[0] is not None and generations[1:] == [None, None, None]
    contacts_services.contact_update(contact=first, name="Ada Lovelace")
    assert _generations(contacts)[0] not in (None, generations[0])  # never the same value again


def test_writes_of_other_fields_or_rolled_back_ones_renew_nothing(contacts):
    first = contacts[0]
    contacts_services.contact_update(contact=first, phone="+44 20 7946 0000")
    Contact.objects.filter(pk=first.pk).update(web_sessions_count=3)
    with pytest.raises(RuntimeError), transaction.atomic():
        contacts_services.contact_update(contact=first, email="ada@example.com")
        raise RuntimeError
    assert _generations(contacts) == [None, None, None, None]


def test_an_update_named_by_id_renews_those_contacts_only(contacts):
    first, second, _ = contacts
    Contact.objects.filter(pk=first.pk).exclude(analytics_consent=True).update(analytics_consent=True)
    Contact.objects.filter(pk__in=[second.pk]).update(processing_restricted=True)
    generations = _generations(contacts)
    assert None not in generations[:2] and generations[2:] == [None, None]


def test_an_update_not_named_by_id_renews_the_shared_generation(contacts):
    Contact.objects.filter(role=Contact.Role.VISITOR).update(marketing_consent=False)
    generations = _generations(contacts)
    assert generations[:3] == [None, None, None] and generations[3] is not None


def test_a_bulk_update_of_a_watched_field_renews_its_contacts(contacts):
    first, second, _ = contacts
    first.name, second.name = "A", "B"
    Contact.objects.bulk_update([first, second], ["name"])
    generations = _generations(contacts)
    assert None not in generations[:2] and generations[2:] == [None, None]


@pytest.mark.parametrize("how", ["instance", "queryset", "history"])
def test_deleting_a_contact_renews_its_generation(contacts, how):
    first, pk = contacts[0], contacts[0].pk
    with transaction.atomic():
        if how == "instance":
            first.delete()
        elif how == "queryset":
            Contact.objects.filter(pk=pk).delete()
        else:
            contacts_delete_with_history(contact_ids=[pk])
    assert cache.get(generation_key(pk)) is not None


def test_an_update_through_a_join_renews_the_shared_generation_not_another_tables_ids(contacts):
    note = contacts_services.contact_note_create(contact=contacts[1], author=None, body="Called")
    Contact.objects.filter(notes__pk=note.pk).update(name="Noted")
    assert cache.get(SHARED_KEY) is not None


def test_an_update_through_the_base_manager_renews_its_contacts(contacts):
    Contact._base_manager.filter(pk=contacts[0].pk).update(name="Base")
    generations = _generations(contacts)
    assert generations[0] is not None and generations[1:] == [None, None, None]


@pytest.mark.parametrize("failure", ["dropped", "raised"])
def test_a_renewal_the_cache_failed_renews_the_shared_generation_once_it_answers(contacts, monkeypatch, failure):
    from contacts import generations

    monkeypatch.setattr(generations, "RENEW_RETRY_SECONDS", 0.01)
    failures = [failure, failure]  # the cache unreachable twice (fail-soft: the keys come back as not written)
    set_many = cache.set_many

    def failing(data, *args, **kwargs):
        if not failures:
            return set_many(data, *args, **kwargs)
        if failures.pop() == "raised":
            raise ConnectionError("Redis went away")
        return list(data)

    monkeypatch.setattr(cache, "set_many", failing)
    contacts_services.contact_update(contact=contacts[0], name="Ada")  # committed, and no error for its caller
    deadline = time.monotonic() + 10
    while cache.get(SHARED_KEY) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cache.get(SHARED_KEY) is not None  # every copy made before is void
