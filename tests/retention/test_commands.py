import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from contacts.models import Contact, PrivacyAuditEntry
from retention.models import RetentionRun
from tests.contacts.factories import LeadFactory, TagFactory, UserContactFactory
from tests.retention.history import give_history, history_rows, orphan_rows, visitor

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_expire_visitors_deletes_stale_visitors_and_prints_a_summary_per_model():
    stale = [visitor(last_seen_days_ago=300) for _ in range(3)]
    live = visitor(last_seen_days_ago=3)

    output = run("expire_visitors", "--batch-size", "2")

    assert list(Contact.objects.values_list("pk", flat=True)) == [live.pk]
    assert all(history_rows(contact.pk) == {} for contact in stale)
    assert "Deleted stale visitors" in output
    assert "contacts.Contact" in output and "tracking.PageView" in output
    assert "100%" in output
    run_row = RetentionRun.objects.get()
    assert f"Retention run {run_row.pk} done" in output
    assert run_row.trigger == "command"


def test_expire_visitors_dry_run_deletes_nothing_and_says_so():
    visitor(last_seen_days_ago=300)

    output = run("expire_visitors", "--dry-run")

    assert Contact.objects.count() == 1
    assert "Would delete stale visitors" in output
    assert "Dry run: nothing was deleted." in output
    assert RetentionRun.objects.get().counts["contacts.Contact"] == 1


@pytest.mark.parametrize("size", ["0", "-1", "100000000"])
def test_expire_visitors_refuses_a_bad_batch_size(size):
    with pytest.raises(CommandError, match="--batch-size"):
        run("expire_visitors", "--batch-size", size)


def test_expire_visitors_rules_mode_reports_when_no_rule_is_on():
    assert "optional rules are all switched off" in run("expire_visitors", "--rules")


def test_erase_contact_by_id_deletes_the_person_and_audits_only_the_id(superuser):
    lead = give_history(LeadFactory(name="Grace Hopper"), tag=TagFactory())
    other = give_history(LeadFactory())

    output = run("erase_contact", str(lead.pk), "--actor", superuser.username)

    assert history_rows(lead.pk) == {}
    assert history_rows(other.pk)["contacts.Contact"] == 1
    assert orphan_rows() == {}
    assert f"Erased contact {lead.pk}" in output
    entry = PrivacyAuditEntry.objects.get()
    assert (entry.action, entry.source, entry.contact_id, entry.actor) == ("erase", "command", lead.pk, superuser)


def test_erase_contact_by_email_and_by_external_id():
    user = UserContactFactory(email="Ada@Example.com", external_id="u-1")
    lead = LeadFactory(email="grace@example.com")

    run("erase_contact", "--email", "GRACE@example.com")
    run("erase_contact", "--external-id", "u-1")

    assert not Contact.objects.filter(pk__in=[user.pk, lead.pk]).exists()
    assert PrivacyAuditEntry.objects.count() == 2


def test_erase_contact_refuses_ambiguous_or_missing_people():
    LeadFactory(email="twice@example.com")
    LeadFactory(email="twice@example.com")
    with pytest.raises(CommandError, match="pass --all"):
        run("erase_contact", "--email", "twice@example.com")
    with pytest.raises(CommandError, match="No contact"):
        run("erase_contact", "999999")
    with pytest.raises(CommandError, match="exactly one"):
        run("erase_contact")
    with pytest.raises(CommandError, match="whole number"):
        run("erase_contact", "abc")
    with pytest.raises(CommandError, match="No teammate"):
        run("erase_contact", "--email", "twice@example.com", "--all", "--actor", "ghost")
    assert Contact.objects.count() == 2
    run("erase_contact", "--email", "twice@example.com", "--all")
    assert Contact.objects.count() == 0


def test_export_contact_prints_one_json_document_with_the_whole_history():
    tag = TagFactory(name="vip")
    lead = give_history(LeadFactory(name="Grace Hopper", custom_attributes={"plan": "pro"}), tag=tag)

    document = json.loads(run("export_contact", str(lead.pk)))

    assert document["contact"]["name"] == "Grace Hopper"
    assert document["contact"]["custom_attributes"] == {"plan": "pro"}
    assert document["tags"][0]["name"] == "vip"
    # Sections the tracking and conversations apps declare in the contact lifecycle (contacts.lifecycle).
    for section, rows in {"web_sessions": 2, "page_views": 3, "events": 2, "conversations": 1}.items():
        assert len(document[section]) == rows, section
    assert "Hello?" in json.dumps(document["conversations"])
    entry = PrivacyAuditEntry.objects.get()
    assert (entry.action, entry.source, entry.contact_id) == ("export", "command", lead.pk)
    assert Contact.objects.filter(pk=lead.pk).exists()


def test_export_contact_by_email_with_all_prints_a_list():
    LeadFactory(email="twice@example.com")
    LeadFactory(email="twice@example.com")
    documents = json.loads(run("export_contact", "--email", "twice@example.com", "--all"))
    assert len(documents) == 2


def test_seed_demo_adds_a_week_of_past_retention_runs():
    run("seed_demo", "--contacts", "20", "--seed", "1")
    assert RetentionRun.objects.filter(status="done", trigger="task").count() == 7


def test_seeded_stale_visitors_are_only_those_the_last_seeded_run_could_not_have_deleted():
    """Issue 12 walk: a seeded 03:15 run 'Done' with 32 deleted, yet a dry run found 136 visitors past the
    policy; a visitor stale at the last run's cutoff would have been deleted by it."""
    import datetime as dt

    from django.utils import timezone

    from retention.selectors import retention_policy_get
    from retention.services import contacts_stale

    run("seed_demo", "--contacts", "400", "--seed", "3")
    last = RetentionRun.objects.order_by("-started_at").first()
    assert contacts_stale(role=Contact.Role.VISITOR, cutoff=last.cutoff).count() == 0
    now_cutoff = timezone.now() - dt.timedelta(days=retention_policy_get().visitor_ttl_days)
    stale_now = contacts_stale(role=Contact.Role.VISITOR, cutoff=now_cutoff)
    assert all(last.cutoff <= seen < now_cutoff for seen in stale_now.values_list("last_seen_at", flat=True))
    # Some visitors are still old enough to go stale soon: the demo keeps something to expire.
    assert Contact.objects.filter(
        role=Contact.Role.VISITOR, last_seen_at__lt=now_cutoff + dt.timedelta(days=31)
    ).exists()


def test_export_all_that_falls_behind_midway_records_no_export_and_says_so(monkeypatch):
    """`export_contact --all` whose second person's read finds the workers too far behind (the backlog crossed the
    limit between two people: pings keep arriving) exports nothing, and the audit log says nobody was exported
    (each person's export used to record its entry at once). Found by an attacker review."""
    from tracking import page_view_buffer

    LeadFactory(email="same@example.com")
    LeadFactory(email="same@example.com")
    reads = []

    def flush_before_reading():  # the first person's two sections read; then the backlog is past the limit
        reads.append(1)
        if len(reads) > 2:
            raise page_view_buffer.PageViewBufferBehind("20001 page views queued")
        return False

    monkeypatch.setattr(page_view_buffer, "page_views_flush_before_reading", flush_before_reading)
    with pytest.raises(CommandError, match="nothing was exported"):
        run("export_contact", "--email", "same@example.com", "--all")
    assert len(reads) == 3 and not PrivacyAuditEntry.objects.filter(action=PrivacyAuditEntry.Action.EXPORT).exists()
