"""A teammate filters the contact list, saves it as a segment from the sidebar, opens it in one click the next
day (counted by the beat task), and sends the segment a message; a hostile segment name stays text."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from conversations.models import Message
from segments import services as segment_services
from segments.models import Segment
from tests.contacts.factories import UserContactFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]


def test_a_filtered_contact_list_is_saved_as_a_segment_opened_in_one_click_and_messaged(agent_admin, artifacts):
    for name in ("Ada Lovelace", "Bo Li"):
        UserContactFactory(name=name, country="FR")
    UserContactFactory(name="Hans Meier", country="DE")
    dialogs: list[str] = []
    page = agent_admin.page
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    agent_admin.open(reverse("admin:contacts_contact_changelist") + "?country=FR")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    page.click("#parley-save-segment")
    expect(page.locator("#id_query")).to_contain_text("location.country_code")
    page.fill("#id_name", "French <b>customers</b>")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("Segment “French <b>customers</b>” saved")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)  # the members, right away

    segment = Segment.objects.get()
    segment_services.segment_counts_refresh()  # what the beat task does every 15 minutes
    agent_admin.open(reverse("admin:contacts_contact_changelist"))
    expect(page.locator("#result_list tbody tr")).to_have_count(3)
    page.get_by_role("link", name="French <b>customers</b> (≈2)").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    expect(page.locator("#result_list")).not_to_contain_text("Hans Meier")
    page.screenshot(path=str(artifacts / "segment-opened-from-sidebar.png"), full_page=True)

    agent_admin.open(reverse("admin:conversations_message_add"))
    page.select_option("#id_channel", "in_app")
    page.fill("#id_body", "Bonjour !")
    page.select_option("#id_segment", str(segment.pk))
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#parley-audience-count")).to_have_text("2 contacts")
    page.get_by_role("button", name="Send to 2 contacts").click()
    expect(page.locator(".messagelist")).to_contain_text("is being sent to 2 contacts.")
    assert Message.objects.get().audience == "Segment: French <b>customers</b>"
    assert dialogs == [] and agent_admin.problems == []
