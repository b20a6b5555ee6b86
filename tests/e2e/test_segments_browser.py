"""An agent filters the contact list (role, seen in the past 30 days, a tag), reads the filters in words and saves
them as a segment in one step, reads the confirmation (words and count), opens the segment later from the top of
the sidebar and finds the same contacts (and, as days pass, who is no longer recent), finds the same through the
official python-intercom SDK with `segment_id`, and sends the segment a message; a list a segment cannot keep says
why before anything is saved; a hostile segment name stays text."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone
from intercom import Intercom, MultipleFilterSearchRequest, SingleFilterSearchRequest
from playwright.sync_api import expect

from api.services import api_token_create
from contacts.models import Contact
from contacts.permissions import AGENT_GROUP, ensure_teammate_groups
from conversations.models import Message
from segments.models import Segment
from tests.contacts.factories import LeadFactory, TagFactory, UserContactFactory
from tests.e2e.conftest import AdminSession

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]


@pytest.fixture
def agent(chromium, parley_url, teammate):
    """A teammate of the agent group (not a superuser) logged into the admin in Chromium."""
    ensure_teammate_groups()
    teammate.groups.add(Group.objects.get(name=AGENT_GROUP))
    session = AdminSession(chromium, parley_url, username=teammate.username)
    yield session
    session.close()


def sidebar_link(page, group: str, name: str):
    return page.locator(f'#changelist-filter details[data-filter-title="{group}"]').get_by_role(
        "link", name=name, exact=True
    )


def test_an_agent_saves_the_filtered_list_as_a_segment_in_one_step_and_opens_it_later(
    agent, teammate, parley_url, artifacts
):
    now = timezone.now()
    vip = TagFactory(name="VIP")
    people = {}
    for name, role_factory, days, tagged in [
        ("Ada Lovelace", UserContactFactory, 2, True), ("Bo Li", UserContactFactory, 10, True),
        ("Cy Old", UserContactFactory, 40, True), ("Dee Lead", LeadFactory, 1, True),
        ("Eve Untagged", UserContactFactory, 1, False),
    ]:  # fmt: skip
        people[name] = role_factory(name=name, last_seen_at=now - dt.timedelta(days=days))
        if tagged:
            people[name].tags.add(vip)
    dialogs: list[str] = []
    page = agent.page
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    contacts_url = reverse("admin:contacts_contact_changelist")

    # The segments come first in the sidebar, then the filters; the agent filters by clicking them.
    agent.open(contacts_url)
    expect(page.locator("#changelist-filter details").first).to_have_attribute("data-filter-title", "segments")
    expect(page.locator("#parley-save-segment")).to_contain_text("Filter or search the contacts, then save them here.")
    sidebar_link(page, "role", "User").click()
    sidebar_link(page, "last seen", "Past 30 days").click()
    sidebar_link(page, "tag", "VIP").click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    listed = set(rows.all_inner_texts())

    # Before saving, the filters in words; one step: a name and the button.
    preview = page.locator("#parley-segment-preview")
    expect(preview).to_have_text("Role is user · last seen within 30 days · tag VIP")
    page.fill("#parley-segment-name", "Recent VIP users")
    page.screenshot(path=str(artifacts / "segment-save-in-one-step.png"), full_page=True)
    page.get_by_role("button", name="Save as segment").click()
    expect(page.locator(".messagelist")).to_have_text(
        "Saved segment “Recent VIP users”: Role is user · last seen within 30 days · tag VIP — 2 contacts right now."
    )
    segment = Segment.objects.get()
    page.wait_for_url(f"**{contacts_url}?segment={segment.pk}")
    expect(rows).to_have_count(2)
    expect(page.locator("#parley-segment-holds")).to_contain_text("Role is user · last seen within 30 days · tag VIP")
    page.screenshot(path=str(artifacts / "segment-saved-confirmation.png"), full_page=True)
    assert segment.query == {"operator": "AND", "value": [
        {"field": "role", "operator": "=", "value": "user"},
        {"field": "last_seen_at", "operator": ">", "value": "now-30d"},
        {"field": "tag_id", "operator": "=", "value": str(vip.pk)},
    ]}  # fmt: skip

    # Later: from the dashboard to the contact list, one click on the segment, the same contacts.
    agent.open(reverse("admin:index"))
    agent.open(contacts_url)
    expect(rows).to_have_count(5)
    page.locator("#parley-segments").get_by_role("link", name="Recent VIP users (≈2)").click()
    expect(rows).to_have_count(2)
    assert set(rows.all_inner_texts()) == listed
    expect(page.locator("#result_list")).to_contain_text("Ada Lovelace")
    expect(page.locator("#result_list")).to_contain_text("Bo Li")
    page.screenshot(path=str(artifacts / "segment-opened-from-sidebar.png"), full_page=True)

    # The same members through the official SDK: Intercom's segment_id, next to a relative last seen.
    _token, raw = api_token_create(user=teammate, name="journey")
    intercom = Intercom(token=raw, base_url=parley_url.rstrip("/") + "/api", timeout=30)
    by_segment = intercom.contacts.search(
        query=SingleFilterSearchRequest(field="segment_id", operator="=", value=str(segment.pk))
    )
    assert sorted(c.name for c in by_segment) == ["Ada Lovelace", "Bo Li"]
    seen_this_week = intercom.contacts.search(
        query=MultipleFilterSearchRequest(operator="AND", value=[
            SingleFilterSearchRequest(field="segment_id", operator="=", value=str(segment.pk)),
            SingleFilterSearchRequest(field="last_seen_at", operator=">", value="now-7d"),
        ])
    )  # fmt: skip
    assert [c.name for c in seen_this_week] == ["Ada Lovelace"]

    # Days pass: Bo was last seen 35 days ago now; the segment says "within 30 days", so Bo is out.
    Contact.objects.filter(pk=people["Bo Li"].pk).update(last_seen_at=now - dt.timedelta(days=35))
    page.reload()
    expect(rows).to_have_count(1)
    expect(page.locator("#result_list")).to_contain_text("Ada Lovelace")

    # The segment gets a message, as any segment (in-app campaigns reach those who allow the marketing purpose).
    from contacts.services import contact_consent_record

    contact_consent_record(contact_id=people["Ada Lovelace"].pk, analytics=None, marketing=True, source="teammate")
    agent.open(reverse("admin:conversations_message_add"))
    page.select_option("#id_channel", "in_app")
    page.fill("#id_body", "Thanks for being a VIP!")
    page.select_option("#id_segment", str(segment.pk))
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#parley-audience-count")).to_have_text("1 contact")
    page.get_by_role("button", name="Send to 1 contact").click()
    expect(page.locator(".messagelist")).to_contain_text("is being sent to 1 contact.")
    assert Message.objects.get().audience == "Segment: Recent VIP users"
    assert dialogs == [] and agent.problems == []


def test_a_list_a_segment_cannot_keep_says_why_before_saving_and_a_hostile_name_stays_text(agent, artifacts):
    UserContactFactory(name="Ada Lovelace")
    page = agent.page
    contacts_url = reverse("admin:contacts_contact_changelist")
    agent.open(f"{contacts_url}?role__exact=user&marketing_consent=given&event=signed-up")
    unsavable = page.locator(".parley-segment-unsavable")
    expect(unsavable).to_contain_text("Can\u2019t be saved as a segment:")
    expect(unsavable).to_contain_text("“event”: the search language has no events")
    expect(unsavable).to_contain_text("“marketing consent”: consent is not in the search language.")
    expect(page.locator("#parley-segment-name")).to_have_count(0)
    page.screenshot(path=str(artifacts / "segment-unsavable-filters.png"), full_page=True)

    agent.open(f"{contacts_url}?role__exact=user")
    page.fill("#parley-segment-name", "<img src=x onerror=alert(1)>")
    page.get_by_role("button", name="Save as segment").click()
    expect(page.locator(".messagelist")).to_contain_text("Saved segment “<img src=x onerror=alert(1)>”")
    expect(page.locator("#parley-segments")).to_contain_text("<img src=x onerror=alert(1)> (≈1)")
    agent.open(f"{contacts_url}?role__exact=user")
    page.fill("#parley-segment-name", "<img src=x onerror=alert(1)>")
    page.get_by_role("button", name="Save as segment").click()
    expect(page.locator(".messagelist")).to_contain_text("Not saved: A segment with this name exists.")
    assert Segment.objects.count() == 1 and agent.problems == []
