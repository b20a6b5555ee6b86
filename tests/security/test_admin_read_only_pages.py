"""Every admin page a teammate may read opens for them (attacker review, 2026-12-06): a viewer opening an assignment
rule or a saved reply, and an agent opening an assignment rule, got a 500, the form's read-only fields missing from
the form its own code set up. Walked over the demo data: every registered model's first row."""

import io
import re

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.urls import NoReverseMatch, reverse

from contacts.permissions import AGENT_GROUP, VIEWER_GROUP

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("group", [VIEWER_GROUP, AGENT_GROUP])
def test_each_change_page_a_teammate_may_read_opens(group, teammate_client):
    call_command("seed_demo", contacts=40, seed=7, stdout=io.StringIO())
    client = teammate_client(group)
    request = client.get("/admin/").wsgi_request
    opened = []
    for model, model_admin in list(admin.site._registry.items()):
        info = (model._meta.app_label, model._meta.model_name)
        row = model_admin.get_queryset(request).order_by("pk").first()
        if row is None:
            continue
        try:
            url = reverse("admin:{}_{}_change".format(*info), args=[row.pk])
        except NoReverseMatch:
            continue
        answer = client.get(url)  # the test client raises what a 500 would hide
        assert answer.status_code in (200, 302, 403), (url, answer.status_code)
        if answer.status_code == 200:
            opened.append(model._meta.label)
    # The two pages the review found broken, and the rest of the walk really ran.
    assert {"conversations.AssignmentRule", "conversations.SavedReply"} <= set(opened)
    assert len(opened) >= 10


VIEW_ONLY = "You can read"


def test_a_list_a_teammates_role_only_reads_says_so_and_who_can_help(teammate_client, superuser):
    """A walk found a viewer's company list without checkboxes, actions or Add button, and nothing saying why."""
    viewer, agent = teammate_client(VIEWER_GROUP), teammate_client(AGENT_GROUP)
    superuser_client = type(viewer)()
    superuser_client.force_login(superuser)

    def note(client, name):
        answer = client.get(reverse(f"admin:{name}_changelist"))
        assert answer.status_code == 200, name
        found = re.search(r'id="view-only">([^<]*)</p>', answer.text)
        return found and found.group(1)

    # What an agent may change, a viewer is told an agent's role would let them.
    for name, plural in [("companies_company", "companies"), ("conversations_conversation", "conversations")]:
        assert note(viewer, name) == (
            f"You can read {plural} here but not change them: your role does not allow it. A superuser can give you "
            "the Agent role under Teammates."
        )
        assert note(agent, name) is None
        assert note(superuser_client, name) is None
    # What only a superuser changes (office hours; webhook deliveries, which only a superuser retries or deletes): no
    # role would help.
    for client in (viewer, agent):
        assert note(client, "conversations_officeschedule") == (
            "You can read office schedules here; only a superuser can change them."
        )
        assert note(client, "api_webhookdelivery") == (
            "You can read webhook deliveries here; only a superuser can change them."
        )
    # Nobody changes page views (the widget writes them): nothing to say.
    assert note(viewer, "tracking_pageview") is None


def test_a_viewer_reads_a_teams_round_robin_without_a_box_to_tick(teammate_client, superuser):
    """A walk found a live "Enabled" box on a viewer's team page: ticking it did nothing (no Save button, and a post
    is refused), but it looked like a setting they could change. A superuser still gets it."""
    from conversations.models import Team, TeamRoundRobin

    billing, support = Team.objects.create(name="Billing"), Team.objects.create(name="Support")
    TeamRoundRobin.objects.create(team=support, enabled=False)
    viewer = teammate_client(VIEWER_GROUP)
    # Without its round-robin row yet (on, as the first pick makes it), and with one turned off: said in words.
    for team, state in ((billing, "On: conversations routed to the team go to its members in turn."),
                        (support, "Off: conversations routed to the team wait for a teammate to take them.")):  # fmt: skip
        page = viewer.get(reverse("admin:conversations_team_change", args=[team.pk])).text
        assert 'name="round_robin-0-enabled"' not in page
        assert f'<div class="readonly">{state}</div>' in page
    superuser_client = type(viewer)()
    superuser_client.force_login(superuser)
    page = superuser_client.get(reverse("admin:conversations_team_change", args=[billing.pk])).text
    assert 'name="round_robin-0-enabled"' in page


def test_an_object_page_a_teammates_role_only_reads_says_so_too(teammate_client, superuser):
    """The walk's next finding: a viewer's conversation page has no reply box and no controls, and said nothing."""
    from conversations import services
    from retention.selectors import retention_policy_get
    from tests.contacts.factories import LeadFactory

    lead = LeadFactory(name="Ada")
    conversation = services.conversation_start_by_contact(contact=lead, body="Where is my order?")
    viewer, agent = teammate_client(VIEWER_GROUP), teammate_client(AGENT_GROUP)
    superuser_client = type(viewer)()
    superuser_client.force_login(superuser)

    def note(client, url):
        answer = client.get(url)
        assert answer.status_code == 200, url
        found = re.search(r'id="view-only">([^<]*)</p>', answer.text)
        return found and found.group(1)

    contact_page = reverse("admin:contacts_contact_change", args=[lead.pk])
    assert note(viewer, contact_page) == (
        "You can read this contact but not change it: your role does not allow it. A superuser can give you the Agent "
        "role under Teammates."
    )
    thread = reverse("admin:conversations_conversation_change", args=[conversation.pk])
    assert note(viewer, thread) == (
        "You can read this conversation but not reply or change it: your role does not allow it. A superuser can give "
        "you the Agent role under Teammates."
    )
    policy = reverse("admin:retention_retentionpolicy_change", args=[retention_policy_get().pk])
    assert note(agent, policy) == "You can read this retention policy; only a superuser can change it."
    for client in (agent, superuser_client):
        assert note(client, contact_page) is None
        assert note(client, thread) is None
    assert note(superuser_client, policy) is None


def test_a_viewer_reads_a_teams_members_by_the_names_the_rest_of_parley_uses(teammate_client, superuser):
    """A re-check found a viewer's team page listing its members by login ("admin, dana"), where an agent's picker
    named them "Dana", "Sam"."""
    from django.contrib.auth import get_user_model

    from conversations import services
    from conversations.models import Team

    dana = get_user_model().objects.create_user("dana", "dana@parley.test", "x", is_staff=True, first_name="Dana")
    sam = get_user_model().objects.create_user("sam7", "sam@parley.test", "x", is_staff=True)
    services.teammate_profile_update(teammate=sam, display_name="Sam from Support")
    team = Team.objects.create(name="Billing")
    team.members.set([dana, sam])
    viewer = teammate_client(VIEWER_GROUP)
    page = viewer.get(reverse("admin:conversations_team_change", args=[team.pk])).text
    assert re.search(r'<div class="readonly">Dana, Sam from Support</div>', page), page[page.find("Members") :][:300]
    assert page.count("<label>Members:</label>") == page.count("<label>Round robin:</label>") == 1  # a walk: twice
    assert "sam7" not in page
    agent = teammate_client(AGENT_GROUP)  # may change teams: the picker, as before
    assert 'name="members"' in agent.get(reverse("admin:conversations_team_change", args=[team.pk])).text


def test_a_viewer_reads_custom_attributes_by_their_labels_with_a_dash_for_none(teammate_client):
    """A re-check found a viewer's contact page listing custom attributes as "Ca  plan: None", and "Email as shown:
    None": Django shows a reader a field of the form alone by its name, and looks its value up on the record."""
    from companies.models import Company
    from contacts.models import Contact, DataAttribute
    from tests.contacts.factories import DataAttributeFactory

    for model in (DataAttribute.Model.CONTACT, DataAttribute.Model.COMPANY):
        DataAttributeFactory(model=model, name="plan", label="Plan", data_type=DataAttribute.DataType.STRING)
        DataAttributeFactory(model=model, name="trial", label="On trial", data_type=DataAttribute.DataType.BOOLEAN)
        DataAttributeFactory(model=model, name="seats", label="<b>Seats</b>", data_type=DataAttribute.DataType.INTEGER)
    DataAttributeFactory(name="renewal", label="Renewal", data_type=DataAttribute.DataType.DATE)
    DataAttributeFactory(name="audit", label="Audited", data_type=DataAttribute.DataType.DATETIME)
    contact = Contact.objects.create(
        name="Ann",
        custom_attributes={
            "plan": "<i>pro</i>", "trial": False, "renewal": "2027-01-15", "audit": "2027-01-15T10:30:00+00:00"
        },
    )  # fmt: skip
    company = Company.objects.create(company_id="c1", name="Acme", custom_attributes={"seats": 12, "trial": True})
    viewer, agent = teammate_client(VIEWER_GROUP), teammate_client(AGENT_GROUP)

    def shown(client, url):
        page = client.get(url).text
        return re.findall(r"<dt>([^<]*)</dt><dd>([^<]*)</dd>", page)

    contact_page = reverse("admin:contacts_contact_change", args=[contact.pk])
    company_page = reverse("admin:companies_company_change", args=[company.pk])
    # Labels and values as text (a label or a value is anyone's words: escaped), "-" for none, booleans in words.
    # Dates and times as the page writes its own ("Jan 15, 2027"), not as stored; the page's time zone is UTC.
    assert sorted(shown(viewer, contact_page)) == sorted(
        [("On trial", "No"), ("Plan", "&lt;i&gt;pro&lt;/i&gt;"), ("&lt;b&gt;Seats&lt;/b&gt;", "-"),
         ("Renewal", "Jan 15, 2027"), ("Audited", "Jan 15, 2027 10:30")]
    )  # fmt: skip
    assert sorted(shown(viewer, company_page)) == sorted(
        [("On trial", "Yes"), ("Plan", "-"), ("&lt;b&gt;Seats&lt;/b&gt;", "12")]
    )
    for client, url in ((viewer, contact_page), (viewer, company_page)):
        page = client.get(url).text
        assert "Ca  " not in page and ">None<" not in page, [page[i - 300 : i + 10] for i in [page.find(">None<")]]
    # Who may change them gets the typed fields, as before.
    for url in (contact_page, company_page):
        page = agent.get(url).text
        assert 'name="ca__plan"' in page and 'name="ca__trial"' in page and '<dl class="parley-attributes">' not in page
