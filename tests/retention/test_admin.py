import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from contacts.models import Contact
from retention import services
from retention.models import RetentionPolicy, RetentionRun
from retention.selectors import retention_policy_get
from tests.contacts.factories import UserContactFactory
from tests.retention.history import visitor

pytestmark = pytest.mark.django_db


def test_migration_schedules_the_daily_expiry_and_the_optional_rules_in_beat():
    expiry = PeriodicTask.objects.get(task="retention.tasks.expire_stale_visitors")
    rules = PeriodicTask.objects.get(task="retention.tasks.apply_retention_rules")
    for task in (expiry, rules):
        assert task.enabled
        assert task.crontab is not None
        assert (task.crontab.day_of_week, task.crontab.day_of_month, task.crontab.month_of_year) == ("*", "*", "*")
        assert task.crontab.minute.isdigit() and task.crontab.hour.isdigit()
        assert str(task.crontab.timezone) == "UTC"
        assert task.expire_seconds and task.expire_seconds <= 24 * 3600
    policy = retention_policy_get()
    assert (policy.pk, policy.visitor_ttl_days, policy.visitor_expiry_enabled) == (1, 270, True)
    assert (policy.closed_conversation_ttl_days, policy.tracking_ttl_days, policy.lead_ttl_days) == (None, None, None)


def test_policy_list_opens_the_single_policy_which_explains_each_rule(admin_client):
    response = admin_client.get(reverse("admin:retention_retentionpolicy_changelist"))
    assert response.status_code == 302
    page = admin_client.get(response.url)
    assert page.status_code == 200
    html = page.content.decode()
    for field in ("visitor_ttl_days", "closed_conversation_ttl_days", "tracking_ttl_days", "lead_ttl_days"):
        assert RetentionPolicy._meta.get_field(field).help_text[:40] in html
    assert "Run the visitor expiry now" in html
    assert admin_client.get(reverse("admin:retention_retentionpolicy_add")).status_code == 403


def test_a_teammate_who_only_views_the_policy_is_offered_no_run_buttons(client):
    from contacts.permissions import AGENT_GROUP, ensure_teammate_groups

    ensure_teammate_groups()
    agent = get_user_model().objects.create_user("kim", "kim@lamps.example", "x", is_staff=True)
    agent.groups.add(Group.objects.get(name=AGENT_GROUP))
    client.force_login(agent)
    page = client.get(reverse("admin:retention_retentionpolicy_change", args=[1]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Run the visitor expiry now" not in html and "Dry run the visitor expiry now" not in html
    assert 'href="/admin/django_celery_beat/periodictask/' not in html


def test_saving_the_policy_in_the_admin_changes_the_rules(admin_client, superuser):
    url = reverse("admin:retention_retentionpolicy_change", args=[1])
    response = admin_client.post(
        url,
        {"visitor_expiry_enabled": "on", "visitor_ttl_days": "180", "lead_ttl_days": "730",
         "closed_conversation_ttl_days": "", "tracking_ttl_days": ""},
    )  # fmt: skip
    assert response.status_code == 302
    policy = retention_policy_get()
    assert (policy.visitor_ttl_days, policy.lead_ttl_days, policy.updated_by) == (180, 730, superuser)


def test_the_policy_form_refuses_days_and_months_together_on_the_field(admin_client):
    url = reverse("admin:retention_retentionpolicy_change", args=[1])
    fields = {"visitor_expiry_enabled": "on", "visitor_ttl_days": "270", "lead_ttl_days": "",
              "closed_conversation_ttl_days": "", "tracking_ttl_days": "30", "tracking_keep_months": "3"}  # fmt: skip
    response = admin_client.post(url, fields)
    assert response.status_code == 200
    assert "not both" in str(response.context["adminform"].form.errors["tracking_keep_months"])
    response = admin_client.post(url, {**fields, "tracking_ttl_days": "0", "tracking_keep_months": ""})
    assert response.status_code == 200 and "at least 1" in response.content.decode()
    response = admin_client.post(url, {**fields, "tracking_ttl_days": "", "tracking_keep_months": "3"})
    assert response.status_code == 302
    assert retention_policy_get().tracking_keep_months == 3


def test_run_now_button_runs_the_expiry_through_the_task(admin_client, eager_celery):
    visitor(last_seen_days_ago=400, history=False)
    response = admin_client.post(reverse("admin:retention_run_now"), {"dry_run": "1"})
    assert response.status_code == 302
    assert Contact.objects.count() == 1
    assert RetentionRun.objects.get().dry_run
    admin_client.post(reverse("admin:retention_run_now"), {"dry_run": "0"})
    assert Contact.objects.count() == 0
    assert admin_client.get(reverse("admin:retention_run_now")).status_code == 405


def test_run_list_and_page_have_a_fixed_query_count(admin_client):
    url = reverse("admin:retention_retentionrun_changelist")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(url).status_code == 200
        return len(captured)

    RetentionRun.objects.create(status="done", counts={"contacts.Contact": 3})
    few = queries()
    RetentionRun.objects.bulk_create([RetentionRun(status="done", counts={"contacts.Contact": 3}) for _ in range(60)])
    assert queries() == few
    run = RetentionRun.objects.first()
    page = admin_client.get(reverse("admin:retention_retentionrun_change", args=[run.pk]))
    assert page.status_code == 200
    assert "<td>Contacts</td>" in page.content.decode()  # the model in words (issue 12), not its label


def test_contact_page_tells_when_a_visitor_expires_without_a_query_of_its_own(
    admin_client, django_capture_on_commit_callbacks
):
    contact = visitor(last_seen_days_ago=10, history=True)
    # In the teammate's time zone, written as the rest of the contact page writes a moment (it said "… UTC").
    expires = timezone.localtime(contact.last_seen_at + dt.timedelta(days=200)).strftime("%b %d, %Y %H:%M")
    url = reverse("admin:contacts_contact_change", args=[contact.pk])
    with CaptureQueriesContext(connection) as cold:
        assert "are deleted with their whole history" in admin_client.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        services.retention_policy_update(visitor_ttl_days=200)  # remembered in the cache on commit

    with CaptureQueriesContext(connection) as warm:
        response = admin_client.get(url)

    assert f"after <strong>{expires}</strong>" in response.content.decode()
    assert len(warm) <= len(cold) <= 11  # with the header's teammate name (one query per admin page)
    for captured in (cold, warm):
        assert not any("retention_retentionpolicy" in query["sql"] for query in captured.captured_queries)


def test_contact_page_says_users_are_never_expired(admin_client):
    user = UserContactFactory()
    response = admin_client.get(reverse("admin:contacts_contact_change", args=[user.pk]))
    assert "Users are never deleted by a retention rule" in response.content.decode()


def test_demo_runs_follow_the_schedule_and_the_policy_and_the_schedule_says_it_ran():
    import random

    from django.utils import timezone

    from retention import demo

    services.retention_policy_update(visitor_ttl_days=200)
    demo.seed_for_contacts(contact_ids=[], rng=random.Random(3))
    entry = PeriodicTask.objects.select_related("crontab").get(task="retention.tasks.expire_stale_visitors")
    runs = list(RetentionRun.objects.order_by("started_at"))
    assert len(runs) == demo.DEMO_RUN_DAYS
    for run in runs:
        assert (run.started_at.hour, run.started_at.minute) == (int(entry.crontab.hour), int(entry.crontab.minute))
        assert run.cutoff == run.started_at - dt.timedelta(days=200)
        assert run.started_at <= timezone.now()
    assert timezone.now() - runs[-1].started_at < dt.timedelta(days=1)
    assert entry.last_run_at == runs[-1].started_at


def test_run_page_names_models_in_words_and_the_contact_panel_gives_no_past_date(admin_client):
    from retention.selectors import contact_expiry_get

    run = RetentionRun.objects.create(kind="visitors", status="done", counts={"tracking.PageView": 3})
    page = admin_client.get(reverse("admin:retention_retentionrun_change", args=[run.pk])).content.decode()
    assert "Page views" in page
    assert "tracking.PageView" not in page
    overdue = visitor(last_seen_days_ago=400, history=False)
    assert contact_expiry_get(contact=overdue, policy=retention_policy_get())["expires_at"] is None
    due_later = visitor(last_seen_days_ago=10, history=False)
    assert contact_expiry_get(contact=due_later, policy=retention_policy_get())["expires_at"] > overdue.last_seen_at
    assert contact_expiry_get(contact=due_later, policy=retention_policy_get())["rule"].endswith("days")
    one_day = RetentionPolicy(visitor_ttl_days=1)
    assert contact_expiry_get(contact=due_later, policy=one_day)["rule"] == "visitors not seen for 1 day"


def test_a_users_page_says_who_erases_them_to_a_teammate_who_cannot(admin_client):
    """A walk: a viewer's page said to erase the user "with the Erase action", which a viewer does not have."""
    from django.test import Client

    from contacts.permissions import VIEWER_GROUP, ensure_teammate_groups
    from tests.contacts.factories import UserContactFactory

    ensure_teammate_groups()
    viewer = get_user_model().objects.create_user("vera", "vera@parley.test", "x", is_staff=True)
    viewer.groups.add(Group.objects.get(name=VIEWER_GROUP))
    client = Client()
    client.force_login(viewer)
    url = reverse("admin:contacts_contact_change", args=[UserContactFactory().pk])

    assert "erase them on request (GDPR) with the Erase action." in admin_client.get(url).content.decode()
    assert (
        "erase them on request (GDPR): a teammate who may erase contacts does it." in client.get(url).content.decode()
    )
