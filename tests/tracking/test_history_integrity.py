"""Page views and events keep their contact and session without database foreign keys (they made the
expiry on monthly partitions slow): no path leaves a row whose contact or session is gone — erase,
expiry, merge, the admin's delete, the months rule, and writers racing each of them — and
`manage.py history_orphans` finds and deletes any that would (docs/partitioning.md, Integrity)."""

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from contacts import services as contacts_services
from contacts.deletion import rows_delete_with_history
from contacts.models import Contact, PrivacyAuditEntry
from retention import services as retention_services
from tests.contacts.factories import ContactFactory, UserContactFactory
from tests.retention.history import days_ago, give_history, history_rows, orphan_rows, visitor
from tests.tracking.concurrency import Session
from tests.tracking.conftest import Widget
from tracking import partitioning, services
from tracking.models import Event, EventSummary, PageView, WebSession
from tracking.page_view_buffer import page_views_flush
from tracking.selectors import history_orphans_count
from tracking.services import partitions
from tracking.services.hot_path import HotPathState

on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks between two sessions")
NO_ORPHANS = {"tracking.PageView.contact": 0, "tracking.PageView.session": 0, "tracking.Event.contact": 0}
LINKS = (("tracking_pageview", "contact_id"), ("tracking_pageview", "session_id"), ("tracking_event", "contact_id"))


def assert_no_orphans() -> None:
    """Both the command's own count and the tests' scan of every foreign key of every model."""
    assert history_orphans_count() == NO_ORPHANS
    assert orphan_rows() == {}


def database_foreign_keys(table: str, column: str) -> list[str]:
    """Foreign-key constraints on `table.column` as the database has them."""
    constraints = connection.introspection.get_constraints(connection.cursor(), table)
    return [name for name, info in constraints.items() if info["foreign_key"] and info["columns"] == [column]]


# --- the shape: Django's foreign keys, no database constraints ------------------------------------------------


@pytest.mark.django_db
def test_page_views_and_events_have_no_database_foreign_keys_yet_deleting_a_contact_cascades_as_before():
    for table, column in LINKS:
        assert database_foreign_keys(table, column) == [], (table, column)
    assert database_foreign_keys("tracking_websession", "contact_id")  # the sessions keep theirs
    contact = give_history(ContactFactory())
    kept = give_history(ContactFactory())

    contact.delete()  # Django's own cascade (the collector), as any code outside the services would

    assert history_rows(contact.pk) == {}
    assert PageView.objects.filter(contact=kept).count() == 3
    assert_no_orphans()


# --- every path that deletes or moves a contact's history -----------------------------------------------------


@pytest.mark.django_db
def test_an_erase_leaves_no_page_view_or_event_behind():
    erased, kept = give_history(ContactFactory()), give_history(ContactFactory())

    contacts_services.contact_erase(contact=erased, actor=None, source=PrivacyAuditEntry.Source.API)

    assert history_rows(erased.pk) == {}
    assert history_rows(kept.pk)["tracking.Event"] == 2
    assert_no_orphans()


@pytest.mark.django_db
def test_the_expiry_leaves_no_page_view_or_event_behind():
    expired, kept = visitor(last_seen_days_ago=300), visitor(last_seen_days_ago=3)

    run = retention_services.visitors_expire()

    assert run.counts["tracking.PageView"] == 3 and run.counts["tracking.Event"] == 2
    assert history_rows(expired.pk) == {}
    assert PageView.objects.filter(contact=kept).count() == 3
    assert_no_orphans()


@pytest.mark.django_db
def test_a_merge_moves_every_page_view_and_event_and_leaves_none_on_the_source():
    source, user = give_history(ContactFactory()), give_history(UserContactFactory())

    contacts_services.contact_merge(source=source, into=user)

    assert PageView.objects.filter(contact=user).count() == 6
    assert set(PageView.objects.values_list("session__contact", flat=True)) == {user.pk}
    assert Event.objects.filter(contact=user).count() == 4
    assert not Contact.objects.filter(pk=source.pk).exists()
    assert_no_orphans()


@pytest.mark.django_db
def test_erasing_contacts_from_the_admin_leaves_no_page_view_or_event_behind(admin_client):
    erased = [give_history(ContactFactory()) for _ in range(2)]
    kept = give_history(ContactFactory())
    changelist = reverse("admin:contacts_contact_changelist")
    selected = {"action": "erase_selected", "_selected_action": [contact.pk for contact in erased]}

    response = admin_client.post(changelist, {**selected, "confirmed": "yes"})

    assert response.status_code == 302
    assert [history_rows(contact.pk) for contact in erased] == [{}, {}]
    assert PageView.objects.filter(contact=kept).count() == 3
    assert_no_orphans()


@pytest.mark.django_db(transaction=True)  # dropping a partition is DDL that commits on its own
def test_keeping_n_months_drops_old_page_views_and_events_and_orphans_nothing():
    this_month = partitioning.month_start(timezone.now())
    old = partitioning.months_add(this_month, -5).replace(day=10)
    partitions.history_partitions_create(first=old, last=this_month)
    contact = give_history(UserContactFactory(), at=old)  # two sessions, three page views, two events
    recent = WebSession.objects.create(contact=contact, started_at=timezone.now(), last_activity_at=timezone.now())
    PageView.objects.create(contact=contact, session=recent, url="https://example.com/now", created_at=timezone.now())
    retention_services.retention_policy_update(tracking_keep_months=3)

    retention_services.retention_rules_apply()

    assert list(PageView.objects.values_list("url", flat=True)) == ["https://example.com/now"]
    assert not Event.objects.exists()
    assert WebSession.objects.filter(contact=contact).count() == 3  # sessions stay: only their rows went
    assert_no_orphans()


@pytest.mark.django_db
def test_an_event_for_a_contact_deleted_meanwhile_is_not_recorded():
    contact = ContactFactory()
    Contact.objects.filter(pk=contact.pk).delete()  # the request still holds the row it read before

    recorded = services.event_track(contact=contact, name="signed-up", metadata={}, created_at=None, now=timezone.now())

    assert recorded is None
    assert not Event.objects.exists() and not EventSummary.objects.exists()
    assert_no_orphans()


# --- the check and the cleanup ---------------------------------------------------------------------------------


def _orphans_made_by_hand() -> tuple[Contact, list[int], list[int]]:
    """A contact with its history, plus page views and an event pointing at a contact and a session that
    do not exist (as a bug, or a restore of a partial dump, would leave them): the contact, the orphaned
    page views' ids and the orphaned event's."""
    contact = give_history(ContactFactory())
    session = WebSession.objects.filter(contact=contact).first()
    gone_contact = Contact.objects.order_by("-pk").values_list("pk", flat=True).first() + 1000
    at = timezone.now()
    page_views = [
        PageView.objects.create(contact_id=gone_contact, session=session, url="https://x.example/a", created_at=at),
        PageView.objects.create(
            contact=contact, session_id=session.pk + 1000, url="https://x.example/b", created_at=at
        ),
    ]
    event = Event.objects.create(contact_id=gone_contact, name="ghost", created_at=at)
    return contact, [view.pk for view in page_views], [event.pk]


@pytest.mark.django_db
def test_the_orphans_command_counts_them_and_fails_until_they_are_deleted(capsys):
    _orphans_made_by_hand()

    with pytest.raises(CommandError, match="3 page views or events reference a contact or session that is gone"):
        call_command("history_orphans")

    out = capsys.readouterr().out
    assert "tracking.PageView.contact: 1 orphaned rows" in out
    assert "tracking.PageView.session: 1 orphaned rows" in out
    assert "tracking.Event.contact: 1 orphaned rows" in out
    assert PageView.objects.count() == 5  # counting deleted nothing


@pytest.mark.django_db
def test_the_orphans_command_deletes_only_the_orphans_in_batches(capsys):
    contact, page_view_ids, event_ids = _orphans_made_by_hand()

    call_command("history_orphans", "--delete", "--batch-size", "1")

    out = capsys.readouterr().out
    assert "tracking.PageView.contact: 1 orphaned rows deleted" in out
    assert "tracking.Event.contact: 1 orphaned rows deleted" in out
    assert "tracking.Event.contact: 0 orphaned rows" in out
    assert not PageView.objects.filter(pk__in=page_view_ids).exists()
    assert not Event.objects.filter(pk__in=event_ids).exists()
    assert PageView.objects.filter(contact=contact).count() == 3 and Event.objects.filter(contact=contact).count() == 2
    assert_no_orphans()
    call_command("history_orphans")  # nothing left: no error


@pytest.mark.django_db
@pytest.mark.parametrize("size", ["0", "-1", "abc", "2000000", "1.5"])
def test_the_orphans_command_refuses_a_bad_batch_size(size):
    with pytest.raises(CommandError, match="--batch-size must be a whole number"):
        call_command("history_orphans", "--delete", "--batch-size", size)


# --- writers racing a deletion (PostgreSQL: two sessions, who goes first decided by the test) -------------------


def _queued_page_view(widget, url: str = "https://shop.example/private") -> Contact:
    """A visitor whose second page view waits in the buffer (its first is written already: by the ping
    itself, or by a flush where the ingest queue held the new visitor)."""
    assert widget.ping("https://shop.example/").status_code == 200
    page_views_flush()
    assert widget.ping(url).status_code == 200
    return Contact.objects.get(anonymous_id=widget.anonymous_id)


def _erase(contact: Contact):
    return lambda: contacts_services.contact_erase(contact=contact, actor=None, source=PrivacyAuditEntry.Source.API)


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_flush_that_commits_while_an_erase_waits_has_its_page_views_erased_too(widget, buffer):
    contact = _queued_page_view(widget)
    flush = Session(page_views_flush, hold=True).begin()  # wrote the queued page view, not committed yet
    assert flush.result == 1
    erase = Session(_erase(contact))
    erase.start()

    erase.wait_until_blocked()  # on the session row the flush updated
    flush.finish()
    erase.finish()

    assert history_rows(contact.pk) == {}
    assert not PageView.objects.exists()
    assert_no_orphans()


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_deletion_locks_the_sessions_before_deleting_their_page_views_whatever_the_order(widget, buffer):
    # Sessions as the root of a deletion: their page views are deleted before the sessions themselves, so
    # only the lock taken first makes the deletion wait for the flush (the contact's own cascade happens to
    # reach page views through the contact afterwards as well; this does not).
    contact = _queued_page_view(widget)
    session_ids = list(WebSession.objects.filter(contact=contact).values_list("pk", flat=True))
    flush = Session(page_views_flush, hold=True).begin()

    def delete_sessions():
        with transaction.atomic():  # the caller owns the deletion's transaction
            return rows_delete_with_history(model=WebSession, pks=session_ids)

    delete = Session(delete_sessions)
    delete.start()

    delete.wait_until_blocked()
    flush.finish()
    counts = delete.finish()

    assert counts == {"tracking.WebSession": 1, "tracking.PageView": 2}
    assert not PageView.objects.exists()
    assert_no_orphans()


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_flush_that_waits_for_an_erase_drops_the_erased_contacts_page_view(widget, buffer, client, website):
    contact = _queued_page_view(widget)
    erase = Session(_erase(contact), hold=True).begin()  # deleted everything, not committed yet
    flush = Session(page_views_flush)
    flush.start()

    flush.wait_until_blocked()  # on the session row the erase deleted
    erase.finish()

    assert flush.finish() == 0
    assert history_rows(contact.pk) == {}
    assert buffer.length() == 0  # the entry was read and dropped, not left for a later flush
    assert_no_orphans()


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_an_expiry_waiting_for_a_flush_keeps_the_visitors_it_wrote_with_their_whole_history(
    widget, buffer, client, website
):
    # Both visitors last seen in the database 300 days ago, each with a page view still queued: a sighting.
    visitors = [widget, Widget(client, website)]
    for each in visitors:
        assert each.ping("https://shop.example/").status_code == 200
    page_views_flush()
    for each in visitors:
        assert each.ping("https://shop.example/private").status_code == 200
    contacts = list(Contact.objects.filter(anonymous_id__in=[each.anonymous_id for each in visitors]))
    stale = days_ago(300)
    Contact.objects.filter(pk__in=[c.pk for c in contacts]).update(last_seen_at=stale, first_seen_at=stale)

    flush = Session(page_views_flush, hold=True).begin()  # wrote both queued page views, not committed yet
    assert flush.result == 2
    expiry = Session(retention_services.visitors_expire)
    expiry.start()
    expiry.wait_until_blocked()  # its own flush first (queued sightings count), on the flush's locks
    flush.finish()
    run = expiry.finish()

    assert run.contacts_deleted == 0
    assert PageView.objects.filter(contact__in=contacts).count() == 4
    assert_no_orphans()


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_flush_that_waits_for_the_expiry_writes_nothing_for_the_expired_visitor(widget, buffer):
    assert widget.ping("https://shop.example/").status_code == 200
    page_views_flush()
    contact = Contact.objects.get(anonymous_id=widget.anonymous_id)
    stale = days_ago(300)
    Contact.objects.filter(pk=contact.pk).update(last_seen_at=stale, first_seen_at=stale)
    cache.delete(HotPathState.key(contact.pk))  # its last ping half an hour ago or more: nothing says "seen"
    expiry = Session(retention_services.visitors_expire, hold=True).begin()  # deleted it, not committed yet
    assert expiry.result.contacts_deleted == 1

    # The visitor comes back meanwhile: the ping still finds the contact (the deletion is not committed)
    # and queues a page view for it.
    assert widget.ping("https://shop.example/back").status_code == 200
    flush = Session(page_views_flush)
    flush.start()
    flush.wait_until_blocked()  # on the contact the expiry deletes
    expiry.finish()

    assert flush.finish() == 0
    assert not PageView.objects.exists() and not Contact.objects.filter(pk=contact.pk).exists()
    assert_no_orphans()


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_flush_that_commits_while_a_merge_waits_has_its_page_view_moved_to_the_user(widget, buffer):
    visitor_contact = _queued_page_view(widget)
    user = UserContactFactory()
    flush = Session(page_views_flush, hold=True).begin()  # the page view is the visitor's, uncommitted
    merge = Session(lambda: contacts_services.contact_merge(source=visitor_contact, into=user))
    merge.start()

    merge.wait_until_blocked()  # the merge locks the visitor's sessions before moving page views
    flush.finish()
    merge.finish()

    assert list(PageView.objects.values_list("contact_id", flat=True)) == [user.pk, user.pk]
    assert not Contact.objects.filter(pk=visitor_contact.pk).exists()
    assert_no_orphans()


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_an_event_that_commits_while_an_erase_waits_is_erased_too():
    contact = ContactFactory()
    track = Session(
        lambda: services.event_track(contact=contact, name="clicked", metadata={}, created_at=None, now=timezone.now()),
        hold=True,
    ).begin()
    erase = Session(_erase(contact))
    erase.start()

    erase.wait_until_blocked()  # on the contact row the event holds
    track.finish()
    erase.finish()

    assert not Event.objects.exists() and not EventSummary.objects.exists()
    assert_no_orphans()


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_an_event_that_waits_for_an_erase_is_not_recorded():
    contact = ContactFactory()
    erase = Session(_erase(contact), hold=True).begin()
    track = Session(
        lambda: services.event_track(contact=contact, name="clicked", metadata={}, created_at=None, now=timezone.now())
    )
    track.start()

    track.wait_until_blocked()
    erase.finish()

    assert track.finish() is None
    assert not Event.objects.exists() and not EventSummary.objects.exists()
    assert_no_orphans()
