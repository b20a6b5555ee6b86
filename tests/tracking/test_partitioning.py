"""Monthly partitions of page views and events: a new PostgreSQL install has them, an install with
plain tables is converted while the app writes, months are created ahead, a contact's recent page
views read recent partitions only, and retention drops whole months or deletes a visitor's rows in
every partition. SQLite keeps plain tables."""

import datetime as dt
import importlib
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from contacts import services as contact_services
from contacts.models import Contact
from retention import services as retention_services
from retention.models import RetentionRun
from tests.contacts.factories import ContactFactory, UserContactFactory
from tests.retention.history import orphan_rows
from tests.tracking.conftest import Widget
from tracking import id_blocks, partitioning, selectors
from tracking.models import Event, PageView, WebSession
from tracking.services import partitions

on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions are PostgreSQL's")
pytestmark = pytest.mark.django_db(transaction=True)  # conversions and DDL commit their own transactions

NOW = timezone.now()
THIS_MONTH = partitioning.month_start(NOW)
LONG_AGO = dt.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC)  # before every partition
FAR_AHEAD = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)  # after every partition


def months_ago(count: int, *, day: int = 10) -> dt.datetime:
    return partitioning.months_add(THIS_MONTH, -count).replace(day=day, hour=12)


@pytest.fixture
def partitioned_afterwards():
    """Whatever a test did to the tables' shape, the next test finds them partitioned again."""
    yield
    if connection.vendor == "postgresql":
        partitions.history_conversion_abort()
        partitions.history_tables_convert(partitioned=True)


def page_view(contact: Contact, at: dt.datetime, url: str = "https://shop.example/") -> PageView:
    session = WebSession.objects.filter(contact=contact).first() or WebSession.objects.create(
        contact=contact, started_at=at, last_activity_at=at
    )
    return PageView.objects.create(contact=contact, session=session, url=url, title="Page", created_at=at)


def event(contact: Contact, at: dt.datetime, *, client_timestamp: bool = False, **metadata: object) -> Event:
    return Event.objects.create(
        contact=contact, name="opened-docs", metadata=metadata, created_at=at, client_timestamp=client_timestamp
    )


def partition_of(model: type, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {model._meta.db_table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def rows(model: type) -> list[dict]:
    return list(model.objects.order_by("id").values())


def shapes() -> dict[str, str]:
    return {status.table: status.shape for status in partitions.history_tables_status()}


# --- the shape of a new install -----------------------------------------------------------------------


@on_postgresql
def test_a_new_install_has_monthly_partitions_ahead_and_a_default_one():
    for status in partitions.history_tables_status():
        assert status.shape == "partitioned", status.table
        names = {p.name for p in status.partitions}
        for ahead in range(partitions.MONTHS_AHEAD + 1):
            assert partitioning.partition_name(status.table, partitioning.months_add(THIS_MONTH, ahead)) in names
        assert partitioning.default_partition_name(status.table) in names
        primary_key = next(
            c
            for c in connection.introspection.get_constraints(connection.cursor(), status.table).values()
            if c["primary_key"]
        )
        assert primary_key["columns"] == ["id", "created_at"]  # PostgreSQL wants the partition key in it


@on_postgresql
def test_rows_of_any_date_are_stored_and_reached_by_id(admin_client):
    contact = ContactFactory()
    old, now, future = (page_view(contact, at) for at in (LONG_AGO, NOW, FAR_AHEAD))

    assert partition_of(PageView, old.pk) == partition_of(PageView, future.pk) == "tracking_pageview_default"
    assert partition_of(PageView, now.pk) == partitioning.partition_name("tracking_pageview", THIS_MONTH)
    assert PageView.objects.get(pk=old.pk).created_at == LONG_AGO
    page = admin_client.get(reverse("admin:tracking_pageview_change", args=[now.pk]))
    assert page.status_code == 200 and "shop.example" in page.content.decode()


@on_postgresql
def test_the_daily_task_creates_months_ahead_and_takes_their_rows_out_of_the_default_partition():
    contact = ContactFactory()
    early = page_view(contact, months_ago(-6))  # six months ahead: no partition yet
    assert partition_of(PageView, early.pk) == "tracking_pageview_default"

    created = partitions.history_partitions_maintain(now=months_ago(-5))

    month = partitioning.month_start(early.created_at)
    assert partitioning.partition_name("tracking_pageview", month) in created
    assert partitioning.partition_name("tracking_event", month) in created
    assert partition_of(PageView, early.pk) == partitioning.partition_name("tracking_pageview", month)
    assert partitions.history_partitions_maintain(now=months_ago(-5)) == []  # a second run changes nothing
    assert PageView.objects.get(pk=early.pk).url == early.url


@pytest.mark.django_db  # not flushed: the migration's beat entry is there
def test_the_daily_partition_task_is_scheduled_in_beat():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="tracking.tasks.maintain_history_partitions")
    assert task.enabled and task.crontab is not None and task.expire_seconds


# --- converting an install that has plain tables ---------------------------------------------------------


def _seed_history() -> tuple[Contact, Contact]:
    visitor, user = ContactFactory(), UserContactFactory()
    for months in range(15):
        page_view(visitor, months_ago(months), url=f"https://shop.example/{months}?q=<b>é</b>")
        page_view(user, months_ago(months, day=20))
        event(visitor, months_ago(months), client_timestamp=True, plan="pro", note="ünïcode \u2603")
    page_view(user, LONG_AGO)
    event(user, LONG_AGO, nested={"a": [1, 2]})
    return visitor, user


@on_postgresql
def test_an_install_with_plain_tables_is_converted_row_for_row_while_the_app_writes(
    partitioned_afterwards, client, admin_client, website, ingest_flush
):
    partitions.history_tables_convert(partitioned=False)  # an install from before partitioning
    assert set(shapes().values()) == {"plain"}
    visitor, user = _seed_history()
    expected_views = {row["id"]: row for row in rows(PageView)}
    expected_events = {row["id"]: row for row in rows(Event)}
    newest_before = max(expected_views)
    ids = sorted(expected_views)
    writes_done = []

    def app_writes_meanwhile(table: str, copied: int) -> None:
        """After the first batch of page views: an insert, an update and deletes, as the app makes them."""
        if table != "tracking_pageview" or writes_done:
            return
        writes_done.append(copied)
        added = page_view(visitor, NOW, url="https://shop.example/during")
        expected_views[added.pk] = PageView.objects.filter(pk=added.pk).values().get()
        PageView.objects.filter(pk__in=[ids[1], ids[-3]]).update(contact=user)  # as a merge: copied, not yet
        expected_views[ids[1]]["contact_id"] = expected_views[ids[-3]]["contact_id"] = user.pk
        PageView.objects.filter(pk__in=[ids[0], ids[-2]]).delete()  # one copied already, one not yet
        del expected_views[ids[0]], expected_views[ids[-2]]

    results = partitions.history_tables_convert(partitioned=True, batch_size=7, on_batch=app_writes_meanwhile)

    assert writes_done and {result.shape for result in results} == {"partitioned"}
    assert set(shapes().values()) == {"partitioned"}
    assert {row["id"]: row for row in rows(PageView)} == expected_views
    assert {row["id"]: row for row in rows(Event)} == expected_events
    oldest_month = partitioning.month_start(months_ago(14))
    for row in expected_views.values():
        month = partitioning.month_start(row["created_at"])
        wanted = (
            partitioning.partition_name("tracking_pageview", month)
            if month >= oldest_month
            else "tracking_pageview_default"
        )
        assert partition_of(PageView, row["id"]) == wanted
    assert not partitioning.conversion_in_progress(connection, "tracking_pageview")

    # The app writes and reads on the new tables: a ping, the contact page, an export, a merge, an erase.
    widget = Widget(client, website)
    id_blocks.id_blocks_forget()  # as a process started after the conversion: its ids come from the new sequence
    assert widget.ping("https://shop.example/after").status_code == 200
    ingest_flush()  # the new visitor's rows are queued where the ingest queue is on (PostgreSQL + Redis)
    pinged = Contact.objects.get(anonymous_id=widget.anonymous_id)
    assert PageView.objects.get(contact=pinged).pk > newest_before  # the id sequence carried on
    page = admin_client.get(reverse("admin:contacts_contact_change", args=[visitor.pk]))
    assert page.status_code == 200 and "shop.example/during" in page.content.decode()
    export = contact_services.contact_export(contact=user, actor=None, source="test")
    users_views = sum(1 for row in expected_views.values() if row["contact_id"] == user.pk)
    assert len(export["page_views"]) == PageView.objects.filter(contact=user).count() == users_views
    with transaction.atomic():
        contact_services.contact_merge(source=visitor, into=user)
    assert PageView.objects.filter(contact=user).count() == len(expected_views)
    with transaction.atomic():
        contact_services.contact_erase(contact=user, actor=None, source="test")
    assert set(PageView.objects.values_list("contact_id", flat=True)) == {pinged.pk}
    assert not Event.objects.exists()
    assert orphan_rows() == {}


@on_postgresql
def test_a_conversion_stopped_half_way_carries_on_or_is_aborted(partitioned_afterwards):
    partitions.history_tables_convert(partitioned=False)
    _seed_history()
    expected = rows(PageView)

    def worker_killed(table: str, copied: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        partitions.history_tables_convert(partitioned=True, batch_size=5, on_batch=worker_killed)
    status = {s.table: s for s in partitions.history_tables_status()}["tracking_pageview"]
    assert (status.shape, status.conversion_in_progress) == ("plain", True)
    out = _command("--dry-run")
    assert "stopped half-way" in out

    assert partitions.history_conversion_abort() == ["tracking_pageview"]
    assert not partitioning.conversion_in_progress(connection, "tracking_pageview")
    page_view(ContactFactory(), NOW)  # no trigger left behind
    expected = rows(PageView)

    with pytest.raises(KeyboardInterrupt):
        partitions.history_tables_convert(partitioned=True, batch_size=5, on_batch=worker_killed)
    _command("--batch-size", "5")  # the rerun carries on from the last batch copied
    assert set(shapes().values()) == {"partitioned"}
    assert rows(PageView) == expected


def _command(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("partition_tables", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@on_postgresql
def test_the_command_dry_run_changes_nothing_and_refuses_bad_input(partitioned_afterwards):
    partitions.history_tables_convert(partitioned=False)
    out = _command("--dry-run")
    assert "tracking_pageview: plain" in out and "would be converted to partitioned" in out
    assert set(shapes().values()) == {"plain"}
    for bad in ("0", "-1", "1e400", "١٢", "12\x00", "<b>", "2000000"):
        with pytest.raises(CommandError, match="batch-size"):
            _command("--batch-size", bad)
    with pytest.raises(CommandError, match="--abort goes alone"):
        _command("--abort", "--undo")
    assert "tracking_pageview: partitioned" in _command()
    assert "already partitioned" in _command("--dry-run")


@on_postgresql
def test_migrate_converts_small_tables_and_leaves_big_ones_plain_with_a_notice(partitioned_afterwards, capsys):
    migration = importlib.import_module("tracking.migrations.0013_partition_page_views_and_events")
    partitions.history_tables_convert(partitioned=False)
    contact = ContactFactory()
    for day in range(1, 6):
        page_view(contact, NOW.replace(day=day))

    with connection.schema_editor(atomic=False) as editor:
        original, migration.MAX_ROWS = migration.MAX_ROWS, 3
        try:
            migration.partition(None, editor)
        finally:
            migration.MAX_ROWS = original
    assert shapes() == {"tracking_pageview": "plain", "tracking_event": "partitioned"}
    assert "manage.py partition_tables" in capsys.readouterr().out

    with connection.schema_editor(atomic=False) as editor:
        migration.partition(None, editor)
    assert set(shapes().values()) == {"partitioned"}
    assert PageView.objects.count() == 5


def test_sqlite_keeps_plain_tables_and_the_command_says_so():
    if connection.vendor == "postgresql":
        pytest.skip("the embedded mode's database")
    assert set(shapes().values()) == {"plain"}
    assert partitions.history_partitions_maintain() == []
    with pytest.raises(CommandError, match="need PostgreSQL"):
        _command()


# --- reading a contact's recent history -------------------------------------------------------------------


def _plan_nodes(plan: dict) -> list[dict]:
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes += _plan_nodes(child)
    return nodes


def _seed_many_contacts(months: int) -> None:
    """A few thousand page views of other people over `months` months, for a realistic plan."""
    others = ContactFactory.create_batch(40)
    for other in others:
        WebSession.objects.create(contact=other, started_at=NOW, last_activity_at=NOW)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO tracking_pageview (contact_id, session_id, url, title, referrer, created_at) "
            "SELECT s.contact_id, s.id, 'https://shop.example/' || g, 'Page', '', %s - (g %% %s) * interval '30 days' "
            "FROM tracking_websession s CROSS JOIN generate_series(1, 150) g WHERE s.contact_id = ANY(%s)",
            [NOW, months, [o.pk for o in others]],
        )
        cursor.execute("ANALYZE tracking_pageview")


@on_postgresql
def test_a_contacts_recent_page_views_read_recent_partitions_only_through_their_index():
    partitions.history_partitions_create(first=months_ago(12), last=THIS_MONTH)
    _seed_many_contacts(months=12)
    regular = ContactFactory()
    for minutes in range(30):
        page_view(regular, NOW - dt.timedelta(minutes=minutes), url=f"https://shop.example/recent/{minutes}")
    for months in (6, 9):
        page_view(regular, months_ago(months), url=f"https://shop.example/old/{months}")
    since = selectors.recent_history_since(now=timezone.now())
    sql, params = selectors._history_panel_select("pv", PageView, ["url", "title", "referrer"], 20, since)
    params = [regular.pk if value is None else value for value in params]

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    executed = [n for n in _plan_nodes(plan[0]["Plan"]) if n.get("Relation Name") and n.get("Actual Loops", 0) > 0]
    recent = {
        partitioning.partition_name("tracking_pageview", partitioning.months_add(THIS_MONTH, offset))
        for offset in range(1 - selectors.RECENT_HISTORY_MONTHS, partitions.MONTHS_AHEAD + 1)
    } | {"tracking_pageview_default"}
    assert executed and {n["Relation Name"] for n in executed} <= recent  # the old months were never opened
    this_month = partitioning.partition_name("tracking_pageview", THIS_MONTH)
    reads_here = [n for n in executed if n["Relation Name"] == this_month]
    assert reads_here and all(n["Node Type"] in ("Index Scan", "Index Only Scan") for n in reads_here)
    assert all(
        "pageview_contact_recent" in n["Index Name"] or "contact_id_created_at" in n["Index Name"] for n in reads_here
    )

    activity = selectors.contact_tracking_activity(contact=regular)
    assert [v.url for v in activity["page_views"]] == [f"https://shop.example/recent/{m}" for m in range(20)]


@on_postgresql
def test_a_contact_seen_long_ago_gets_their_older_page_views_too():
    partitions.history_partitions_create(first=months_ago(12), last=THIS_MONTH)
    returning = ContactFactory()
    page_view(returning, NOW, url="https://shop.example/today")
    for months in (4, 7, 11):
        page_view(returning, months_ago(months), url=f"https://shop.example/old/{months}")
    page_view(returning, LONG_AGO, url="https://shop.example/1999")
    event(returning, months_ago(8), step=1)

    activity = selectors.contact_tracking_activity(contact=returning)

    assert [v.url for v in activity["page_views"]] == [
        "https://shop.example/today", "https://shop.example/old/4", "https://shop.example/old/7",
        "https://shop.example/old/11", "https://shop.example/1999",
    ]  # fmt: skip
    assert [e.metadata for e in activity["events"]] == [{"step": 1}]


# --- retention ------------------------------------------------------------------------------------------


def test_keeping_n_months_drops_older_months_whole_and_records_what_went():
    partitions.history_partitions_create(first=months_ago(8), last=THIS_MONTH)
    contact = UserContactFactory()
    kept = [page_view(contact, at) for at in (NOW, months_ago(2), months_ago(3, day=1))]
    gone = [page_view(contact, at) for at in (months_ago(4, day=28), months_ago(7), LONG_AGO)]
    event(contact, months_ago(6))
    event(contact, NOW)
    retention_services.retention_policy_update(tracking_keep_months=3)

    dry = retention_services.retention_rules_apply(dry_run=True)
    assert dry.counts == {"tracking.PageView": 3, "tracking.Event": 1}
    assert PageView.objects.count() == 6

    run = retention_services.retention_rules_apply()

    assert run.status == RetentionRun.Status.DONE
    assert run.counts == {"tracking.PageView": 3, "tracking.Event": 1}
    assert set(PageView.objects.values_list("pk", flat=True)) == {v.pk for v in kept}
    assert not PageView.objects.filter(pk__in=[v.pk for v in gone]).exists()
    assert Event.objects.count() == 1 and Contact.objects.filter(pk=contact.pk).exists()
    if connection.vendor == "postgresql":
        names = {p.name for p in partitioning.partitions_list(connection, "tracking_pageview")}
        assert partitioning.partition_name("tracking_pageview", partitioning.months_add(THIS_MONTH, -3)) in names
        assert partitioning.partition_name("tracking_pageview", partitioning.months_add(THIS_MONTH, -4)) not in names
        assert partitioning.partition_name("tracking_event", partitioning.months_add(THIS_MONTH, -6)) not in names


def test_the_policy_keeps_page_views_by_days_or_by_months_not_both():
    retention_services.retention_policy_update(tracking_ttl_days=30)
    with pytest.raises(Exception, match="not both") as refused:
        retention_services.retention_policy_update(tracking_keep_months=3)
    assert "tracking_keep_months" in refused.value.message_dict
    for bad in (0, -1, 121, True, "3", 1.5):
        with pytest.raises(Exception, match="whole number of months"):
            retention_services.retention_policy_update(tracking_ttl_days=None, tracking_keep_months=bad)
    retention_services.retention_policy_update(tracking_ttl_days=None, tracking_keep_months=120)


def test_visitor_expiry_deletes_an_expired_visitors_rows_in_every_partition():
    partitions.history_partitions_create(first=months_ago(14), last=THIS_MONTH)
    seen = timezone.now() - dt.timedelta(days=300)
    expired = ContactFactory(last_seen_at=seen, first_seen_at=seen)
    kept = ContactFactory(last_seen_at=NOW, first_seen_at=months_ago(14))
    for contact in (expired, kept):
        for at in (months_ago(10), months_ago(12), months_ago(14), LONG_AGO, seen):
            page_view(contact, at)
            event(contact, at)

    run = retention_services.visitors_expire()

    assert run.counts["tracking.PageView"] == 5 and run.counts["tracking.Event"] == 5
    assert not PageView.objects.filter(contact_id=expired.pk).exists()
    assert not Event.objects.filter(contact_id=expired.pk).exists()
    assert PageView.objects.filter(contact=kept).count() == Event.objects.filter(contact=kept).count() == 5
    assert orphan_rows() == {}
