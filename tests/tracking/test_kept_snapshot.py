"""The kept snapshot (tracking.services.hot_path.KeptSnapshot): a new session, or a page view more than a minute
after the last, needs no row read; and no write of the contact, however it races with a ping, leaves a stale copy
in use (contacts.generations). PostgreSQL + Redis, the ingest queue on."""

import datetime as dt

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts import services as contacts_services
from contacts.models import Contact
from tests.tracking.conftest import Buffer, Widget
from tracking.models import PageView, WebSession, Website
from tracking.page_view_buffer import page_views_flush, session_claim_forget
from tracking.services import hot_path, website_update
from tracking.services.hot_path import CONTACT_SNAPSHOT_SECONDS, HotPathState, gone_key

pytestmark = pytest.mark.django_db(transaction=True)

TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@pytest.fixture
def visitor(client, website, queue: Buffer):
    """A visitor whose first page view was flushed: (their browser, their contact)."""
    widget = Widget(client, website)
    assert widget.ping().status_code == 200
    page_views_flush()
    return widget, Contact.objects.get(anonymous_id=widget.anonymous_id)


def _new_session(widget: Widget, contact: Contact, url: str = "https://shop.example/back"):
    """Thirty-odd minutes of silence (the hot-path entry and the session claim gone), then a page view:
    (its answer, the database statements it ran)."""
    cache.delete(HotPathState.key(contact.pk))
    session_claim_forget(contact_id=contact.pk, website_id=widget.website.pk)
    with CaptureQueriesContext(connection) as captured:
        response = widget.ping(url)
    assert response.status_code == 200
    statements = [q["sql"] for q in captured if not q["sql"].lstrip().upper().startswith(TRANSACTION_CONTROL)]
    return response.json(), statements


def _writes_after_reading_the_row(monkeypatch, write) -> None:
    """The next ping that reads the contact's row has `write` committed right after its read (a teammate's edit)."""
    read = hot_path.contact_row

    def then_write(*, contact_id):
        row = read(contact_id=contact_id)
        monkeypatch.setattr(hot_path, "contact_row", read)
        write(Contact.objects.get(pk=contact_id))
        return row

    monkeypatch.setattr(hot_path, "contact_row", then_write)


def test_a_known_visitors_new_sessions_read_the_row_once_then_never(visitor):
    widget, contact = visitor
    _, first = _new_session(widget, contact)
    assert len(first) == 1  # the row, read and kept
    _, second = _new_session(widget, contact, "https://shop.example/again")
    assert second == []
    page_views_flush()
    assert WebSession.objects.filter(contact=contact).count() == 3
    assert PageView.objects.filter(contact=contact).count() == 3


def test_a_page_view_minutes_after_the_last_reads_no_row_once_the_copy_is_kept(visitor):
    widget, contact = visitor
    now = timezone.now()
    statements = []
    for minutes in (2, 4, 6):
        with time_machine.travel(now + dt.timedelta(minutes=minutes)), CaptureQueriesContext(connection) as captured:
            assert widget.ping(f"https://shop.example/{minutes}").status_code == 200
        statements.append(len([q for q in captured if not q["sql"].startswith(TRANSACTION_CONTROL)]))
    assert minutes * 60 > CONTACT_SNAPSHOT_SECONDS  # each past the hot-path state's own snapshot
    assert statements == [1, 0, 0]
    page_views_flush()
    assert PageView.objects.filter(contact=contact).count() == 4
    assert WebSession.objects.filter(contact=contact).count() == 1


def test_a_teammates_edit_voids_the_kept_copy(visitor):
    widget, contact = visitor
    _new_session(widget, contact)
    contacts_services.contact_update(contact=Contact.objects.get(pk=contact.pk), name="Ada")
    answer, statements = _new_session(widget, contact)
    assert len(statements) == 1 and answer["contact"] == {"role": "visitor", "name": "Ada"}
    answer, statements = _new_session(widget, contact)
    assert statements == [] and answer["contact"]["name"] == "Ada"


def test_a_copy_of_a_row_read_before_an_edit_is_never_used(visitor, monkeypatch):
    widget, contact = visitor
    _new_session(widget, contact)  # the generations exist from here on
    contacts_services.contact_update(contact=Contact.objects.get(pk=contact.pk), name="Bob")
    _writes_after_reading_the_row(monkeypatch, lambda row: contacts_services.contact_update(contact=row, name="Ada"))
    answer, _ = _new_session(widget, contact)
    assert answer["contact"]["name"] == "Bob"  # read before the edit, kept after it
    answer, statements = _new_session(widget, contact)
    assert len(statements) == 1 and answer["contact"]["name"] == "Ada"


def test_a_copy_made_while_a_first_edit_creates_the_generation_is_never_used(visitor, monkeypatch):
    widget, contact = visitor
    _writes_after_reading_the_row(monkeypatch, lambda row: contacts_services.contact_update(contact=row, name="Ada"))
    answer, _ = _new_session(widget, contact)  # no generation yet: the edit's is written first
    assert answer["contact"]["name"] == ""
    answer, statements = _new_session(widget, contact)
    assert len(statements) == 1 and answer["contact"]["name"] == "Ada"


def test_an_update_of_many_contacts_voids_every_copy(visitor):
    widget, contact = visitor
    _new_session(widget, contact)
    Contact.objects.filter(role=Contact.Role.VISITOR, name="").update(name="Unnamed")
    answer, statements = _new_session(widget, contact)
    assert len(statements) == 1 and answer["contact"]["name"] == "Unnamed"


def test_a_visitor_made_a_user_is_not_acted_for_by_the_old_token_where_verification_is_enforced(visitor, website):
    widget, contact = visitor
    website_update(website=website, identity_verification=Website.IdentityVerification.ENFORCED)
    _new_session(widget, contact)  # the copy kept says "visitor"
    contacts_services.contact_convert(contact=Contact.objects.get(pk=contact.pk), role="user", external_id="u-7")
    answer, _ = _new_session(widget, contact)
    assert answer["anonymous_id"] != str(contact.anonymous_id)  # the unverified token no longer acts for them
    page_views_flush()
    assert PageView.objects.filter(contact=contact).count() == 2  # the first visit and the one before the sign-up


def test_an_erased_visitors_copy_never_brings_them_back_once_the_gone_mark_expired(visitor):
    widget, contact = visitor
    _new_session(widget, contact)
    contacts_services.contact_erase(contact=Contact.objects.get(pk=contact.pk), actor=None, source="admin")
    cache.delete(gone_key(contact.pk))  # the mark lasts as long as a hot-path entry: much less than the copy
    answer, _ = _new_session(widget, contact)
    assert answer["anonymous_id"] != str(contact.anonymous_id)
    page_views_flush()
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert not PageView.objects.filter(contact_id=contact.pk).exists()
