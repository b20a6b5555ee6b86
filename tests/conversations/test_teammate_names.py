"""One teammate, one name (issue 15's walk found "admin" in the assignee lists and filters, "Sam" elsewhere):
the display name from their profile, else their full name, else their username, wherever the admin shows a
teammate — pickers, lists, the inbox, mentions, presence, the contact page, reports."""

import datetime as dt
import json

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from common.teammates import teammate_name
from conversations import services
from conversations.models import SavedReply, SlaBreach, Team
from conversations.services.saved_replies import MacroActions
from conversations.services.threads import teammate_display_name
from reports import services as report_services
from tests.contacts.factories import LeadFactory
from tests.reports.history import conversation_at

pytestmark = pytest.mark.django_db
INBOX = reverse("admin:conversations_conversation_changelist")


@pytest.fixture
def sam(superuser):
    """The superuser "boss" (no first or last name), who calls themselves Sam in their profile."""
    services.teammate_profile_update(teammate=superuser, display_name="Sam")
    return get_user_model().objects.select_related("parley_profile").get(pk=superuser.pk)


def _page(conversation) -> str:
    return reverse("admin:conversations_conversation_change", args=[conversation.pk])


def test_the_name_is_the_display_name_else_the_full_name_else_the_username():
    user = get_user_model().objects.create_user("ada", "ada@parley.test", "x", first_name="Ada", last_name="Lovelace")
    assert teammate_name(user) == "Ada Lovelace"  # no profile: the full name, not the first name alone
    services.teammate_profile_update(teammate=user, display_name="Countess")
    assert teammate_name(get_user_model().objects.get(pk=user.pk)) == "Countess"
    plain = get_user_model().objects.create_user("grace", "grace@parley.test", "x")
    assert teammate_name(plain) == "grace"  # never the email
    assert teammate_display_name(None) == "Support"


def test_the_inbox_names_the_assignee_alike_in_its_column_its_picker_and_its_away_list(admin_client, sam):
    conversation = services.conversation_start_by_contact(contact=LeadFactory(name="Grace"), body="Hello?")
    services.conversation_assign(conversation=conversation, teammate=sam, assignee=sam)
    services.teammate_away_set(teammate=sam, away=True, reason="lunch")
    page = admin_client.get(INBOX).content.decode()
    assert "Sam <span class='parley-away'>(away)</span>" in page  # the Assignee column
    assert f'<option value="{sam.pk}">Sam</option>' in page  # the bulk action's teammate picker
    assert "Away: Sam (lunch)" in page
    assert "Welcome, <strong>Sam</strong>." in page
    assert ">boss<" not in page and "boss (lunch)" not in page


def test_the_conversation_page_names_them_alike_everywhere(admin_client, sam):
    colleague = get_user_model().objects.create_superuser("alex", "alex@parley.test", "x")
    conversation = services.conversation_start_by_contact(contact=LeadFactory(name="Grace"), body="Hello?")
    services.conversation_assign(conversation=conversation, teammate=sam, assignee=sam)
    services.conversation_reply_as_teammate(conversation=conversation, teammate=sam, body="On it.")
    page = admin_client.get(_page(conversation)).content.decode()
    assert 'Assigned to <strong id="parley-live-assignee">Sam</strong>' in page
    assert f'<option value="{sam.pk}" selected>Sam</option>' in page
    assert "Sam took this" in page and "Sam · " in page  # the timeline and the reply's author
    mentionable = json.loads(page.split('id="parley-mention-teammates" type="application/json">')[1].split("<")[0])
    assert mentionable == [{"username": "alex", "name": "alex"}]
    # Alex sees Sam in the collision warning by the same name.
    client = admin_client.__class__()
    client.force_login(colleague)
    poll = reverse("admin:conversations_conversation_poll", args=[conversation.pk])
    admin_client.get(poll, {"after": 0, "presence": "viewing"})
    assert client.get(poll, {"after": 0, "presence": "viewing"}).json()["presence"][0]["name"] == "Sam"


def test_pickers_and_lists_of_the_team_setup_pages_use_the_name(admin_client, sam):
    team = Team.objects.create(name="Billing")
    team.members.add(sam)
    page = admin_client.get(reverse("admin:conversations_team_change", args=[team.pk])).content.decode()
    assert f'<option value="{sam.pk}" selected>Sam</option>' in page  # the members' picker
    for url in (reverse("admin:conversations_savedreply_add"), reverse("admin:conversations_assignmentrule_add")):
        assert f'<option value="{sam.pk}">Sam</option>' in admin_client.get(url).content.decode()
    services.saved_reply_create(
        name="Hand over", body="", actor=sam, actions=MacroActions(assign=SavedReply.Assign.TEAMMATE, assignee=sam)
    )
    listing = admin_client.get(reverse("admin:conversations_savedreply_changelist")).content.decode()
    assert "assign to Sam" in listing and '<td class="field-created_by_name">Sam</td>' in listing
    conversation = services.conversation_start_by_contact(contact=LeadFactory(), body="Hi")
    SlaBreach.objects.create(conversation=conversation, kind="first_response", due_at=timezone.now(),
                             recorded_at=timezone.now(), assignee=sam)  # fmt: skip
    breaches = admin_client.get(reverse("admin:conversations_slabreach_changelist")).content.decode()
    assert '<td class="field-assignee_name">Sam</td>' in breaches
    assert "SLA breaches" in breaches and "breachs" not in breaches


def test_the_contact_page_names_the_owner_assignee_and_note_authors_alike(admin_client, sam):
    from contacts import services as contact_services

    contact = LeadFactory(name="Grace", owner=sam)
    conversation = services.conversation_start_by_contact(contact=contact, body="Hello?")
    services.conversation_assign(conversation=conversation, teammate=sam, assignee=sam)
    contact_services.contact_note_create(contact=contact, author=sam, body="VIP")
    page = admin_client.get(reverse("admin:contacts_contact_change", args=[contact.pk])).content.decode()
    assert f'<option value="{sam.pk}" selected>Sam</option>' in page  # the owner's autocomplete field
    assert "<td>Sam</td>" in page  # the Conversations panel's assignee
    assert "Sam · " in page  # the note's author
    # The owner field's search finds teammates by that name and lists them by it.
    found = admin_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "contacts", "model_name": "contact", "field_name": "owner", "term": "sam"},
    ).json()
    assert found["results"] == [{"id": str(sam.pk), "text": "Sam"}]


def test_reports_name_teammates_alike_and_do_not_count_unassigned_as_one(admin_client, sam):
    now = timezone.now()
    conversation_at(created_at=now - dt.timedelta(hours=2), teammate=sam, first_response_after=dt.timedelta(minutes=4))
    conversation_at(created_at=now - dt.timedelta(hours=2), teammate=None, closed_after=dt.timedelta(minutes=30))
    report_services.reports_rebuild(days=2)
    page = admin_client.get("/admin/").content.decode()
    chart = page.split('id="chart-teammates"')[1]
    assert "1 teammate · unassigned" in chart.split('class="parley-summary">')[1].split("<")[0]
    assert ">Sam<" in chart and ">boss<" not in chart
    rows = admin_client.get(reverse("admin:reports_chart_csv", args=["teammates"])).content.decode()
    assert "\r\nSam," in rows and "\r\nUnassigned," in rows
