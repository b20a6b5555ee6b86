"""A teammate answers from a phone (390 px): the walk found the inbox's action bar squeezed to empty boxes beside
their labels ("Teammate [ ]", "Sno▾"), its live notice in a column one word wide, and the table scrolled sideways
(each conversation is now a card)."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from conversations.models import Conversation

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]

# Each control of the action bar, and how wide its menu is drawn, in CSS pixels.
# The action bar's controls on screen (an action's own fields show once it is chosen).
ACTION_BAR = """() => [...document.querySelectorAll('#changelist-form .actions select')].filter((el) => el.offsetParent)
  .map((el) => ({name: el.name, width: el.getBoundingClientRect().width, right: el.getBoundingClientRect().right}))"""


def test_a_teammate_on_a_phone_snoozes_a_new_conversation_from_the_inbox(host, make_website, agent_admin, artifacts):
    website = make_website()
    host.page.goto(host.snippet_page("/help", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write("Can I change the size of my order?")

    page = agent_admin.page
    page.set_viewport_size({"width": 390, "height": 844})
    agent_admin.open(reverse("admin:conversations_conversation_changelist"))
    row = page.locator("#result_list tbody tr").filter(has_text="Can I change the size of my order?")
    expect(row).to_have_count(1)
    live = page.locator("#parley-live").bounding_box()
    assert live["width"] > 300, live  # on a line of its own, not one word wide
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # Each conversation a card: nothing scrolls sideways, the last message under who wrote it, across the card.
    table = "document.querySelector('#result_list')"
    assert page.evaluate(f"{table}.scrollWidth <= {table}.parentElement.clientWidth")
    name, preview = (row.locator(cell).bounding_box() for cell in (".field-contact_name", ".field-preview_column"))
    assert preview["y"] >= name["y"] + name["height"] - 1 and preview["width"] > 250, (name, preview)
    assert [control["name"] for control in page.evaluate(ACTION_BAR)] == ["action"]
    page.screenshot(path=str(artifacts / "inbox-phone.png"), full_page=True)

    row.locator("input.action-select").check()
    page.locator("select[name=action]").select_option("snooze_selected")
    controls = page.evaluate(ACTION_BAR)
    assert [control["name"] for control in controls] == ["action", "snooze_for"]
    for control in controls:
        assert control["width"] >= 150 and control["right"] <= 390, control
    page.screenshot(path=str(artifacts / "inbox-phone-snooze-chosen.png"), full_page=True)
    page.locator("select[name=snooze_for]").select_option("1h")
    page.get_by_role("button", name="Go").click()
    expect(page.locator(".messagelist")).to_contain_text("Snoozed 1 conversation.")
    assert Conversation.objects.get().state == Conversation.State.SNOOZED
    assert host.problems == []
