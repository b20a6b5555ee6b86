"""Routing, office hours and SLAs in the admin: who may change them, the preview, and the inbox's SLA and away
columns in a fixed number of queries."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from contacts import services as contact_services
from contacts.permissions import AGENT_GROUP, VIEWER_GROUP
from conversations import services
from conversations.models import AssignmentRule, Conversation, OfficeSchedule, SlaPolicy, Team
from conversations.services import routing
from tests.contacts.factories import LeadFactory, TagFactory
from tests.conversations.factories import TeammateFactory
from tests.tracking.factories import WebsiteFactory
from tracking.models import PageView, WebSession

pytestmark = pytest.mark.django_db
INBOX = reverse("admin:conversations_conversation_changelist")
RULES = reverse("admin:conversations_assignmentrule_changelist")
RULE_ADD = reverse("admin:conversations_assignmentrule_add")


def _member(group):
    user = get_user_model().objects.create_user(group, f"{group}@parley.test", "x", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


def _rule_form(team, **extra):
    return {"name": "Billing", "position": "1", "enabled": "on", "message_contains": "invoice",
            "assign_team": str(team.pk), **extra}  # fmt: skip


@pytest.mark.parametrize("group", [VIEWER_GROUP, AGENT_GROUP])
def test_viewers_and_agents_read_rules_but_cannot_change_them(group):
    client = _member(group)
    team = Team.objects.create(name="Billing")
    rule = routing.assignment_rule_save(rule=AssignmentRule(name="r", assign_team=team))
    change = reverse("admin:conversations_assignmentrule_change", args=[rule.pk])
    assert client.get(RULES).status_code == 200
    assert client.post(RULE_ADD, _rule_form(team)).status_code == 403
    page = client.post(change, _rule_form(team, name="hacked"))
    assert page.status_code == 403
    delete = reverse("admin:conversations_assignmentrule_delete", args=[rule.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    rule.refresh_from_db()
    assert rule.name == "r" and AssignmentRule.objects.count() == 1
    for name in ("officeschedule", "slapolicy"):
        assert client.post(reverse(f"admin:conversations_{name}_add"), {}).status_code == 403


def test_superuser_adds_a_rule_and_sees_its_preview(admin_client):
    team = Team.objects.create(name="Billing")
    for body in ("invoice missing", "hello", "INVOICE wrong"):
        services.conversation_start_by_contact(contact=LeadFactory(), body=body)
    response = admin_client.post(RULE_ADD, _rule_form(team), follow=True)
    assert response.status_code == 200
    assert "Would match 2 of the last 3 conversations." in response.content.decode()
    rule = AssignmentRule.objects.get()
    page = admin_client.get(reverse("admin:conversations_assignmentrule_change", args=[rule.pk])).content.decode()
    assert "Would match 2 of the last 3 conversations." in page


def test_a_rule_tried_on_one_conversation_says_so_in_the_singular(admin_client):
    team = Team.objects.create(name="Billing")
    services.conversation_start_by_contact(contact=LeadFactory(), body="invoice missing")
    response = admin_client.post(RULE_ADD, _rule_form(team), follow=True)
    assert "Would match the last conversation." in response.content.decode()


def test_a_new_rule_starts_disabled_so_saving_it_for_its_preview_routes_nothing(admin_client):
    form = admin_client.get(RULE_ADD).context["adminform"].form
    assert form.initial["enabled"] is False
    team = Team.objects.create(name="Billing")
    fields = {name: value for name, value in _rule_form(team).items() if name != "enabled"}
    page = admin_client.post(RULE_ADD, fields, follow=True).content.decode()
    assert "Not enabled yet: tick Enabled to route conversations with it." in page
    assert AssignmentRule.objects.get().enabled is False


def test_a_bad_rule_is_shown_on_its_field_not_saved(admin_client):
    response = admin_client.post(RULE_ADD, {"name": "x", "position": "1", "language": "<b>fr</b>"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Choose at least one action" in page or "Use a language code" in page
    assert "<b>fr</b>" not in page
    assert not AssignmentRule.objects.exists()


def test_office_hours_admin_saves_intervals_and_refuses_an_unknown_time_zone(admin_client):
    website = WebsiteFactory()
    url = reverse("admin:conversations_officeschedule_add")
    base = {
        "website": str(website.pk), "timezone": "Europe/Paris",
        "intervals-TOTAL_FORMS": "1", "intervals-INITIAL_FORMS": "0",
        "intervals-0-weekday": "0", "intervals-0-opens": "09:00", "intervals-0-closes": "17:00",
        "holidays-TOTAL_FORMS": "0", "holidays-INITIAL_FORMS": "0",
    }  # fmt: skip
    refused = admin_client.post(url, {**base, "timezone": "Nowhere/<script>"})
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    assert "<script>" not in refused.content.decode()
    # The time zone is picked from a list (new-user walk: free text).
    assert '<option value="Europe/Paris">Europe/Paris</option>' in admin_client.get(url).content.decode()
    assert admin_client.post(url, base).status_code == 302
    schedule = OfficeSchedule.objects.get()
    assert [str(i) for i in schedule.intervals.all()] == ["Monday 09:00-17:00"]
    # The list and the page say whether the team is in now (in the schedule's own time zone).
    listing = admin_client.get(reverse("admin:conversations_officeschedule_changelist")).content.decode()
    assert "Open now" in listing or "Closed now, back Mon 09:00 (Europe/Paris)" in listing
    adding = admin_client.get(url).content.decode()
    assert "without any, the team is always open" in adding
    # A schedule with no hours is always open, and its row says so in both columns (it read "closed every day").
    schedule.intervals.all().delete()
    listing = admin_client.get(reverse("admin:conversations_officeschedule_changelist")).content.decode()
    assert "none set: always open" in listing and "Open now (no hours set: always open)" in listing
    assert "closed every day" not in listing
    # A holiday then changes nothing, and saving says so.
    saved = admin_client.post(
        reverse("admin:conversations_officeschedule_change", args=[schedule.pk]),
        {**base, "intervals-TOTAL_FORMS": "0", "holidays-TOTAL_FORMS": "1", "holidays-0-date": "2026-12-25",
         "holidays-0-name": "Christmas"},
        follow=True,
    )  # fmt: skip
    assert [str(holiday) for holiday in schedule.holidays.all()] == ["2026-12-25 Christmas"]
    assert "the holidays have no effect: add the hours it works." in saved.content.decode()


@pytest.mark.parametrize(
    ("opens", "closes", "shown"),
    [
        ("9am", "5:30 pm", "Monday 09:00-17:30"),
        ("9 AM", "12pm", "Monday 09:00-12:00"),
        ("08h", "17h30", "Monday 08:00-17:30"),
        ("12am", "24:00", "Monday 00:00-00:00"),
        ("9", "17.45", "Monday 09:00-17:45"),
    ],
)
def test_office_hours_take_times_as_people_write_them(admin_client, opens, closes, shown):
    """New-user walk: "9am" was refused."""
    base = {
        "website": str(WebsiteFactory().pk), "timezone": "UTC",
        "intervals-TOTAL_FORMS": "1", "intervals-INITIAL_FORMS": "0",
        "intervals-0-weekday": "0", "intervals-0-opens": opens, "intervals-0-closes": closes,
        "holidays-TOTAL_FORMS": "0", "holidays-INITIAL_FORMS": "0",
    }  # fmt: skip
    response = admin_client.post(reverse("admin:conversations_officeschedule_add"), base)
    assert response.status_code == 302, response.content.decode()[-3000:]
    assert [str(i) for i in OfficeSchedule.objects.get().intervals.all()] == [shown]


@pytest.mark.parametrize("hour", ["13pm", "0am", "25:00", "9:75", "٩am", "1e400", "9\x00am"])
def test_office_hours_refuse_a_time_that_is_none_naming_the_field(admin_client, hour):
    base = {
        "website": str(WebsiteFactory().pk), "timezone": "UTC",
        "intervals-TOTAL_FORMS": "1", "intervals-INITIAL_FORMS": "0",
        "intervals-0-weekday": "0", "intervals-0-opens": hour.replace("\\x00", "\x00"), "intervals-0-closes": "17:00",
        "holidays-TOTAL_FORMS": "0", "holidays-INITIAL_FORMS": "0",
    }  # fmt: skip
    response = admin_client.post(reverse("admin:conversations_officeschedule_add"), base)
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert not OfficeSchedule.objects.exists()


def _inbox_queries(client, url=INBOX):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured), response.content.decode()


def _busy_inbox(count):
    SlaPolicy.objects.get_or_create(
        priority=Conversation.Priority.NOT_PRIORITY, team=None, defaults={"name": "d", "first_response_minutes": 30}
    )
    agents = [TeammateFactory() for _ in range(3)]
    routing.teammate_away_set(teammate=agents[0], away=True, reason="Holiday")
    for index in range(count):
        conversation = services.conversation_start_by_contact(contact=LeadFactory(), body=f"Help {index}")
        services.conversation_assign(conversation=conversation, teammate=None, assignee=agents[index % 3])


def test_inbox_shows_sla_time_left_and_who_is_away_in_fixed_queries(admin_client):
    _busy_inbox(2)
    _inbox_queries(admin_client)  # the first visit records the teammate's activity (once a minute)
    few, page = _inbox_queries(admin_client)
    assert "left</span>" in page
    assert "(away)" in page and "Holiday" in page
    _busy_inbox(12)
    many, _ = _inbox_queries(admin_client)
    assert few == many
    few_sorted, _ = _inbox_queries(admin_client, INBOX + "?o=5")
    assert few_sorted == many


def test_inbox_sla_filters_and_order():
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "r@p.test", "x"))
    SlaPolicy.objects.create(name="d", priority=Conversation.Priority.NOT_PRIORITY, first_response_minutes=60)
    late, soon, _fine = (
        services.conversation_start_by_contact(contact=LeadFactory(name=n), body="Hi") for n in ("Late", "Soon", "Fine")
    )
    now = timezone.now()
    Conversation.objects.filter(pk=late.pk).update(sla_due_at=now - dt.timedelta(minutes=5))
    Conversation.objects.filter(pk=soon.pk).update(sla_due_at=now + dt.timedelta(minutes=10))
    _, breached = _inbox_queries(client, INBOX + "?sla=breached")
    assert "Late" in breached and "Soon" not in breached and "Fine" not in breached
    assert "overdue 5m" in breached or "overdue 4m" in breached
    _, breaching = _inbox_queries(client, INBOX + "?sla=soon")
    assert "Soon" in breaching and "Late" not in breaching and "Fine" not in breaching
    _, ordered = _inbox_queries(client, INBOX + "?o=5")
    assert ordered.index("Late") < ordered.index("Soon") < ordered.index("Fine")
    _, hostile = _inbox_queries(client, INBOX + "?sla=%3Cb%3E")
    assert "Late" in hostile and "Fine" in hostile  # an unknown value filters nothing
    assert client.get(INBOX + "?sla=%00").status_code == 400  # common.admin_guard: NUL is refused


def test_sla_breaches_page_is_read_only(admin_client):
    assert admin_client.get(reverse("admin:conversations_slabreach_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:conversations_slabreach_add")).status_code == 403


def _breaches(count: int) -> None:
    from conversations.models import SlaBreach

    now = timezone.now()
    for n in range(count):
        conversation = services.conversation_start_by_contact(
            contact=LeadFactory(name=f"Grace <b>{n}</b>"), body=f"Where is my parcel {n}?"
        )
        SlaBreach.objects.create(conversation=conversation, kind="first_response", due_at=now, recorded_at=now,
                                 priority=conversation.priority)  # fmt: skip


def test_sla_breaches_list_says_who_and_what_each_is_about_in_the_same_queries_however_many(admin_client):
    """New-user walk: the list said "#25", "#31" only."""
    url = reverse("admin:conversations_slabreach_changelist")
    _breaches(2)
    admin_client.get(url)
    with CaptureQueriesContext(connection) as few:
        page = admin_client.get(url).content.decode()
    assert "Grace &lt;b&gt;1&lt;/b&gt;" in page and "Where is my parcel 1?" in page and "<b>1</b>" not in page
    _breaches(6)
    with CaptureQueriesContext(connection) as more:
        assert admin_client.get(url).status_code == 200
    assert len(more) == len(few)


def test_teammate_sets_own_away_mode_and_cap_on_their_profile():
    client = _member(AGENT_GROUP)
    user = get_user_model().objects.get(username=AGENT_GROUP)
    profile = services.teammate_profile_update(teammate=user)
    url = reverse("admin:conversations_teammateprofile_change", args=[profile.pk])
    response = client.post(url, {
        "display_name": "", "avatar_url": "", "email_when_away_minutes": "10", "away_mode_enabled": "on",
        "away_reason": "Dentist", "max_open_conversations": "5",
    })  # fmt: skip
    assert response.status_code == 302
    profile.refresh_from_db()
    assert profile.away_mode_enabled and profile.away_reason == "Dentist" and profile.max_open_conversations == 5
    other = services.teammate_profile_update(teammate=TeammateFactory())
    assert client.get(reverse("admin:conversations_teammateprofile_change", args=[other.pk])).status_code in (302, 403)


def test_conversation_page_shows_the_sla_and_marks_away_teammates(admin_client):
    SlaPolicy.objects.create(name="d", priority=Conversation.Priority.NOT_PRIORITY, first_response_minutes=45)
    away = TeammateFactory(username="zed", first_name="")
    routing.teammate_away_set(teammate=away, away=True)
    conversation = services.conversation_start_by_contact(contact=LeadFactory(), body="Hi")
    page = admin_client.get(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
    text = page.content.decode()
    assert 'id="parley-sla"' in text and ("SLA 44m left" in text or "SLA 45m left" in text)
    assert "zed (away)</option>" in text
    Conversation.objects.filter(pk=conversation.pk).update(sla_due_at=timezone.now() - dt.timedelta(minutes=70))
    text = admin_client.get(reverse("admin:conversations_conversation_change", args=[conversation.pk])).content.decode()
    assert "SLA overdue 1h 10m" in text and "parley-sla-over" in text


def test_the_conversation_pages_poll_says_the_headers_and_side_panels_words_as_they_are_now(admin_client):
    """The page shows these on load and its poll refreshes them while it is open (the SLA's time left running out, the
    contact's wait, who has it, the contact's last visit and pages)."""
    SlaPolicy.objects.create(name="d", priority=Conversation.Priority.NOT_PRIORITY, first_response_minutes=45)
    contact = LeadFactory()
    conversation = services.conversation_start_by_contact(contact=contact, body="Hi")
    poll = reverse("admin:conversations_conversation_poll", args=[conversation.pk]) + "?after=0"
    live = admin_client.get(poll).json()["live"]
    assert live["sla"] in ("SLA 44m left · first reply", "SLA 45m left · first reply") and live["sla_over"] is False
    assert (live["assignee"], live["assignee_id"], live["team"], live["tags"]) == ("nobody", None, "", [])
    assert live["waiting"] == "· waiting since just now" and live["page_views"] == []  # never "0 minutes"
    overdue = timezone.now() - dt.timedelta(minutes=70)
    Conversation.objects.filter(pk=conversation.pk).update(sla_due_at=overdue, sla_response_due_at=overdue)
    now = timezone.now()
    session = WebSession.objects.create(contact=contact, started_at=now, last_activity_at=now)
    hostile = {"url": "https://shop.example/<b>sale</b>?q=1", "title": '<img src=x onerror="alert(1)">'}
    PageView.objects.create(contact=contact, session=session, created_at=now, **hostile)
    services.conversation_tag(conversation=conversation, tag=(tag := TagFactory(name="<b>vip</b>")), teammate=None)
    live = admin_client.get(poll).json()["live"]
    assert (live["sla"], live["sla_over"]) == ("SLA overdue 1h 10m · first reply", True)
    assert live["tags"] == [{"id": tag.pk, "name": "<b>vip</b>"}]
    [view] = live["page_views"]
    # Text for textContent (the page's script never writes HTML), with the address as the other page views show it.
    assert view["title"] == '<img src=x onerror="alert(1)">' and view["address"] == "shop.example/<b>sale</b>?q=1"
    assert view["href"] == hostile["url"]
    PageView.objects.update(url="javascript:alert(1)")  # not from a ping (it refuses one): no link to follow anyway
    assert admin_client.get(poll).json()["live"]["page_views"][0]["href"] == ""
    page = admin_client.get(reverse("admin:conversations_conversation_change", args=[conversation.pk])).content.decode()
    assert 'href="javascript' not in page and 'title="javascript:alert(1)"' in page


def test_a_tag_deleted_while_the_rule_or_saved_reply_form_was_open_is_said_as_such(admin_client):
    """A new-user walk: deleting a tag in one tab, then saving a form that chose it in another, said "Select a valid
    choice. 15 is not one of the available choices." (its raw id)."""
    team = Team.objects.create(name="Billing")
    gone = TagFactory(name="vip")
    gone_id = gone.pk
    contact_services.tag_delete(tag=gone)
    gone_words = "A tag chosen here no longer exists (another teammate may have just deleted it): choose again."

    rule = admin_client.post(RULE_ADD, _rule_form(team, contact_tag=str(gone_id), add_tag=str(gone_id)))
    assert rule.status_code == 200 and rule.content.decode().count(gone_words) == 2
    reply = admin_client.post(
        reverse("admin:conversations_savedreply_add"), {"name": "Refund", "body": "Done.", "tags": [str(gone_id)]}
    )
    assert reply.status_code == 200 and gone_words in reply.content.decode()
    assert not AssignmentRule.objects.exists()
