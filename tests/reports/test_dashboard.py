"""The admin home's dashboard: charts from the rollups, who sees what, a fixed number of queries, CSV
downloads protected like the page, hostile filters answered with a form error (never a 500)."""

import csv
import datetime as dt
import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from contacts.permissions import AGENT_GROUP, VIEWER_GROUP
from conversations.models import SlaPolicy, Team, TeammateProfile
from reports import services
from reports.dashboard import CHARTS
from tests.conversations.factories import TeammateFactory
from tests.reports.history import breach, conversation_at, email_at, page_view_at
from tests.tracking.factories import WebsiteFactory

pytestmark = pytest.mark.django_db

HOME = "/admin/"
CHART_KEYS = [spec.key for spec in CHARTS]


def _csv_url(key: str, query: str = "") -> str:
    return reverse("admin:reports_chart_csv", args=[key]) + (f"?{query}" if query else "")


def _member(*, group: str | None = None, permissions: tuple[str, ...] = (), username: str = "vera") -> Client:
    user = get_user_model().objects.create_user(username, f"{username}@parley.test", "x", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    for label in permissions:
        app_label, codename = label.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    client = Client()
    client.force_login(user)
    return client


def _history(days: int = 3, *, teammates: int = 2, websites: int = 1, teams: int = 1) -> None:
    """A few days of conversations (answered, closed, one breach), page views and an email; rollups computed."""
    now = timezone.now()
    sites = [WebsiteFactory() for _ in range(websites)]
    groups = [Team.objects.create(name=f"Team {Team.objects.count() + 1}") for _ in range(teams)]
    people = [TeammateFactory() for _ in range(teammates)]
    SlaPolicy.objects.get_or_create(team=None, priority="not_priority", defaults={"name": "Normal",
                                    "first_response_minutes": 60})  # fmt: skip
    for n in range(days):
        created_at = now - dt.timedelta(days=n, hours=1)
        for index, person in enumerate(people):
            conversation = conversation_at(
                created_at=created_at, website=sites[index % len(sites)], team=groups[index % len(groups)],
                teammate=person, first_response_after=dt.timedelta(minutes=5 + index),
                closed_after=dt.timedelta(minutes=30) if n else None,
            )  # fmt: skip
        breach(conversation, due_at=created_at + dt.timedelta(minutes=1))
        page_view_at(created_at=created_at, website=sites[0])
    email_at(created_at=now - dt.timedelta(hours=2), recipients=3, opened=2, clicked=1)
    services.reports_rebuild(days=days + 1)


def _queries(client: Client, url: str) -> tuple[int, object]:
    cache.clear()  # the "now" counts are cached: count them on every measured load
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    return len(captured), response


def test_the_admin_home_shows_every_chart_drawn_from_the_rollups(admin_client):
    _history()
    response = admin_client.get(HOME)
    assert response.status_code == 200
    page = response.content.decode()
    for key in CHART_KEYS:
        assert f'id="chart-{key}"' in page
        assert _csv_url(key) in page  # with the filters as its query
    assert page.count('<svg class="parley-chart"') == len(CHARTS)
    assert 'role="img"' in page and "<title " in page and "<desc " in page
    assert "6 in 30 days" in page  # two teammates, three days
    assert "No ratings yet" in page  # CSAT: nothing stores ratings yet
    assert 'id="apps"' in page and "Conversations" in page  # the app list is still there, below
    assert (
        "cdn" not in page.lower()
        and "<script" not in page.split('id="parley-dashboard-title"')[1].split('id="apps"')[0]
    )


def test_the_dashboard_runs_a_fixed_number_of_queries_whatever_the_data(admin_client):
    _history(days=1, teammates=1)
    admin_client.get(HOME)  # warm the content-type and session caches
    few, _ = _queries(admin_client, HOME)
    _history(days=6, teammates=4, websites=2, teams=2)
    many, response = _queries(admin_client, HOME)
    assert response.status_code == 200
    assert few == many
    filtered = f"{HOME}?start=2020-01-01&end=2020-12-31&website=&team="
    assert _queries(admin_client, filtered)[0] == many - 1  # no durations to read for the exact medians


def test_the_now_counts_are_cached_until_a_conversation_changes(admin_client, django_capture_on_commit_callbacks):
    from conversations import services as conversation_services
    from tests.contacts.factories import LeadFactory

    def now_summary() -> str:
        page = admin_client.get(HOME).content.decode()
        return page.split('id="chart-now"')[1].split('class="parley-summary">')[1].split("<")[0]

    assert now_summary() == "0 open · 0 waiting · 0 snoozed"
    counted, _ = _queries(admin_client, HOME)
    with CaptureQueriesContext(connection) as cached:
        admin_client.get(HOME)
    assert len(cached) == counted - 1  # the count came from the cache
    with django_capture_on_commit_callbacks(execute=True):
        conversation = conversation_services.conversation_start_by_contact(contact=LeadFactory(), body="Hi")
    assert now_summary() == "1 open · 1 waiting · 0 snoozed"
    with django_capture_on_commit_callbacks(execute=True):
        conversation_services.conversation_add_note(conversation=conversation, teammate=None, body="A note")
        conversation_services.conversation_snooze(
            conversation=conversation, teammate=None, until=timezone.now() + dt.timedelta(hours=1)
        )
    assert now_summary() == "0 open · 0 waiting · 1 snoozed"


def test_a_csv_download_holds_the_chart_data_for_the_same_filters(admin_client):
    _history(days=2)
    today = timezone.localdate()
    response = admin_client.get(_csv_url("new-conversations", f"start={today - dt.timedelta(days=1)}&end={today}"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [["day", "new conversations"], [str(today - dt.timedelta(days=1)), "2"], [str(today), "2"]]
    for key in CHART_KEYS:
        assert admin_client.get(_csv_url(key)).status_code == 200


def test_filters_narrow_the_charts_to_one_website_or_team(admin_client):
    _history(days=1, teammates=2, websites=2, teams=2)
    team = Team.objects.order_by("pk").first()
    rows = list(
        csv.reader(io.StringIO(admin_client.get(_csv_url("new-conversations", f"team={team.pk}")).content.decode()))
    )
    assert sum(int(row[1]) for row in rows[1:]) == 1


def test_a_teammate_without_the_reports_permission_sees_only_the_app_list():
    client = _member(permissions=("contacts.view_contact",))
    response = client.get(HOME)
    assert response.status_code == 200
    assert "parley-dashboard" not in response.content.decode()
    assert client.get(_csv_url("contacts-by-role")).status_code == 403


def test_each_chart_needs_the_permission_of_its_data_and_so_does_its_csv():
    _history(days=1)
    client = _member(permissions=("reports.view_dashboard", "contacts.view_contact"))
    page = client.get(HOME).content.decode()
    assert 'id="chart-contacts-by-role"' in page
    assert 'id="chart-new-conversations"' not in page
    assert client.get(_csv_url("contacts-by-role")).status_code == 200
    assert client.get(_csv_url("new-conversations")).status_code == 403
    assert client.get(_csv_url("emails")).status_code == 403


@pytest.mark.parametrize("group", [VIEWER_GROUP, AGENT_GROUP])
def test_viewers_and_agents_see_the_whole_dashboard(group):
    _history(days=1)
    client = _member(group=group)
    page = client.get(HOME).content.decode()
    assert all(f'id="chart-{key}"' in page for key in CHART_KEYS)
    assert client.get(_csv_url("teammates")).status_code == 200


def test_an_anonymous_visitor_is_sent_to_the_login_page(client):
    assert client.get(_csv_url("now")).status_code == 302
    assert client.get(HOME).status_code == 302


HOSTILE_QUERIES = [
    ("start=2025-13-01", "start"),
    ("start=yesterday", "start"),
    ("end=%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%95-01-01", "end"),  # full-width digits
    ("start=1e400", "start"),
    ("start=2025-03-01&end=2025-02-01", "start"),
    ("start=2000-01-01&end=2025-01-01", "start"),  # more than a year at once
    ("end=9999-12-31", "end"),
    ("end=0001-01-01", ""),  # valid: the first days of year 1
    ("website=abc", "website"),
    ("website=999999999", "website"),
    ("team=-1", "team"),
    ("team=%3Cscript%3Ealert(1)%3C/script%3E", "team"),
    ("start=" + "9" * 5000, "start"),
]


@pytest.mark.parametrize(("query", "field"), HOSTILE_QUERIES)
def test_hostile_filters_get_a_form_error_naming_the_field_never_a_500(admin_client, query, field):
    response = admin_client.get(f"{HOME}?{query}")
    page = response.content.decode()
    if not field:
        assert response.status_code == 200
        return
    assert response.status_code == 400
    assert f'id="id_{field}_error"' in page
    assert "<script>alert(1)" not in page
    csv_response = admin_client.get(_csv_url("now", query))
    assert csv_response.status_code == 400
    assert f"{field}:" in csv_response.content.decode()


def test_a_nul_or_a_lone_surrogate_in_the_filters_is_refused_by_the_admin_guard(admin_client):
    assert admin_client.get(f"{HOME}?start=2025-01-01%00").status_code == 400
    assert admin_client.get(_csv_url("now", "team=%ED%A0%80")).status_code == 400


def test_an_unknown_chart_is_a_404(admin_client):
    assert admin_client.get("/admin/reports/nothing.csv").status_code == 404


def test_a_teammate_name_cannot_become_a_spreadsheet_formula(admin_client):
    _history(days=1, teammates=1)
    get_user_model().objects.filter(is_superuser=False).update(first_name='=HYPERLINK("http://evil")')
    services.reports_rebuild(days=2)
    text = admin_client.get(_csv_url("teammates")).content.decode()
    assert "'=HYPERLINK" in text


@pytest.mark.parametrize(
    "formula", ["\n=1+1", "  =1+1", "\u3000=1+1", "\uff1d1+1", "\uff0b1", "\uff0d1", "\uff20SUM(A1)"]
)
def test_no_cell_of_a_chart_csv_starts_a_formula_after_a_line_feed_spaces_or_in_full_width(admin_client, formula):
    # The reports' guard is the exports' (common.csv_export.csv_cell): it missed LF, leading spaces and the
    # full-width forms.
    _history(days=1, teammates=1)
    person = get_user_model().objects.get(is_superuser=False)
    TeammateProfile.objects.update_or_create(teammate=person, defaults={"display_name": formula})
    services.reports_rebuild(days=2)
    rows = list(csv.reader(io.StringIO(admin_client.get(_csv_url("teammates")).content.decode())))
    assert [row[0] for row in rows[1:]] == ["'" + formula]


def test_names_from_the_database_are_escaped_in_the_charts(admin_client):
    team = Team.objects.create(name="<script>alert('team')</script>")
    person = TeammateFactory(first_name="<img src=x onerror=alert(1)>")
    conversation_at(created_at=timezone.now() - dt.timedelta(hours=1), team=team, teammate=person,
                    first_response_after=dt.timedelta(minutes=3))  # fmt: skip
    services.reports_rebuild(days=2)
    page = admin_client.get(HOME).content.decode()
    assert "<img src=x" not in page and "<script>alert('team')" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;"[:20] in page
    assert "&lt;script&gt;alert(&#x27;team&#x27;)&lt;/script&gt;" in page  # the team filter's option


def test_a_refused_range_keeps_the_usual_ranges_and_says_when_figures_were_updated(admin_client):
    _history(days=1)
    page = admin_client.get(f"{HOME}?start=2025-03-01&end=2025-02-01").content.decode()
    assert "figures updated" in page and "figures not computed yet" not in page
    assert "Last 7 days" in page


def test_the_per_teammate_chart_says_how_many_more_rows_its_csv_has(admin_client):
    # Leo answered; Sam only has a new conversation assigned: the chart shows Leo, the CSV both, and says so.
    when = timezone.now() - dt.timedelta(hours=1)
    leo, sam = TeammateFactory(first_name="Leo"), TeammateFactory(first_name="Sam")
    conversation_at(created_at=when, teammate=leo, first_response_after=dt.timedelta(minutes=3))
    conversation_at(created_at=when, teammate=sam)
    services.reports_rebuild(days=2)
    page = admin_client.get(HOME).content.decode()
    assert "1 teammate · 1 more in the CSV" in page
    rows = list(csv.reader(io.StringIO(admin_client.get(_csv_url("teammates")).content.decode())))
    assert sorted(row[0] for row in rows[1:]) == ["Leo", "Sam"]


def test_one_of_a_thing_reads_in_the_singular(admin_client):
    """One new conversation and one page view on one day: "1 new conversation", never "1 new conversations"."""
    yesterday = timezone.now() - dt.timedelta(days=1)
    conversation_at(created_at=yesterday, teammate=TeammateFactory())
    page_view_at(created_at=yesterday)
    services.reports_rebuild(days=2)
    day = timezone.localdate(yesterday).isoformat()
    page = admin_client.get(f"{HOME}?start={day}&end={day}").content.decode()
    assert f"1 new conversation from {day} to {day}." in page
    assert "1 in 1 day<" in page  # the summary under the chart's title
    assert ": 1 new conversation</title>" in page  # the column's tooltip
    assert f"1 page view from {day} to {day}." in page and ": 1 page view</title>" in page
    assert "new conversations from" not in page and "1 page views" not in page


def test_the_admin_lists_parleys_apps_first_and_users_and_schedules_last(admin_client):
    """A support team's day first (the inbox's conversations, then contacts and companies); Django's users and groups and
    django-celery-beat's schedules, set up once, at the end of the home page and the sidebar."""
    labels = [app["app_label"] for app in admin_client.get("/admin/").context["app_list"]]
    assert labels[:3] == ["conversations", "contacts", "companies"]
    assert labels[-2:] == ["auth", "django_celery_beat"]
    sidebar = admin_client.get("/admin/contacts/contact/").context["available_apps"]
    assert [app["app_label"] for app in sidebar] == labels
