"""Journey: a visitor writes from a shop on another origin; teammates work the conversation in the admin."""

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from conversations.models import Conversation
from conversations.services import conversation_reply_as_teammate, conversation_start_by_contact

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]


def test_teammates_reply_snooze_and_close_while_the_visitor_reads_along(host, make_website, agent_admin, artifacts):
    website = make_website()
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write("Do you ship to Canada?")

    # Another teammate, with no first name, answers: the visitor sees the username, the inbox names them.
    sam = get_user_model().objects.create_user("sam", "sam@parley.test", "correct-horse-battery", is_staff=True)
    conversation = Conversation.objects.get()
    conversation_reply_as_teammate(conversation=conversation, teammate=sam, body="Yes, in 3 to 5 days.")
    expect(host.page.locator("parley-messenger .au").last).to_have_text("sam", timeout=10_000)

    inbox = agent_admin.page
    agent_admin.open(reverse("admin:conversations_conversation_changelist"))
    expect(inbox).to_have_title("Inbox | Parley")
    expect(inbox.locator("#content h1")).to_have_text("Inbox")
    expect(inbox.locator("#result_list")).to_contain_text("sam: Yes, in 3 to 5 days.")
    expect(inbox.locator("#result_list")).not_to_contain_text("You:")
    inbox.screenshot(path=str(artifacts / "inbox-list.png"), full_page=True)
    # Notifications not allowed (the browser grants none here): the button goes, and says how to turn them on.
    inbox.get_by_role("button", name="Turn on desktop notifications").click()
    expect(inbox.locator("#parley-notify-said")).to_have_text(re.compile(r"^Desktop notifications are off: allow"))
    expect(inbox.locator("#parley-notify")).to_be_hidden()

    inbox.locator("#result_list tbody tr", has_text="Yes, in 3 to 5 days.").locator("a").first.click()
    bubble = inbox.locator(".parley-part.from-teammate").first
    expect(bubble.locator(".body")).to_have_text("Yes, in 3 to 5 days.")
    # The header sits at the bubble's top padding: no blank line from the template above it.
    gap = bubble.evaluate(
        "li => li.querySelector('.meta').getBoundingClientRect().top - li.getBoundingClientRect().top"
    )
    assert gap <= 12, gap

    # The agent tags the conversation on its page; the tag shows there and in the inbox.
    from contacts.models import Tag

    Tag.objects.create(name="shipping")
    inbox.reload()
    inbox.select_option("select[name=tag]", label="shipping")
    inbox.get_by_role("button", name="Add tag").click()
    expect(inbox.locator("#parley-tags")).to_contain_text("shipping")
    # The timeline says who tagged it (the team's label: the visitor's messenger never shows it).
    tagged = inbox.locator("#parley-thread .parley-event", has_text="tagged this “shipping”")
    expect(tagged).to_have_count(1)
    expect(tagged).to_contain_text(re.compile(r"^\S+ tagged this “shipping” · "))
    expect(host.page.locator("parley-messenger")).not_to_contain_text("shipping")

    inbox.get_by_role("button", name="Snooze").click()
    expect(inbox.locator("#parley-state")).to_contain_text("Snoozed")
    close = inbox.get_by_role("button", name="Close", exact=True)
    expect(close).to_be_visible()  # a snoozed conversation can be closed without reopening it first
    close.click()
    expect(inbox.get_by_text("Conversation closed.")).to_be_visible()
    expect(inbox.locator("#parley-state")).to_have_text("Closed")
    inbox.screenshot(path=str(artifacts / "inbox-thread-closed.png"), full_page=True)

    # The visitor writes again: the open page's header follows without a reload by the agent.
    host.write("One more question about customs fees")
    expect(inbox.locator("#parley-state")).to_have_text("Open", timeout=15_000)
    expect(inbox.locator(".parley-part.from-contact .body").last).to_have_text("One more question about customs fees")
    host.screenshot(path=str(artifacts / "inbox-journey-visitor.png"))
    assert agent_admin.problems == []
    assert host.problems == []


RECORD_NOTIFICATIONS = """
window.__notifications = [];
const RealNotification = window.Notification;
window.Notification = function (title, options) {
  window.__notifications.push(title + " | " + ((options && options.body) || ""));
  return new RealNotification(title, options);
};
window.Notification.requestPermission = RealNotification.requestPermission.bind(RealNotification);
Object.defineProperty(window.Notification, "permission", {get: () => RealNotification.permission});
"""


def test_the_inbox_shows_a_new_conversation_on_top_without_reload_and_notifies_the_agent(
    host, make_website, agent_admin, artifacts
):
    # Two conversations already wait, one for hours: a new one still comes first (newest activity).
    from tests.contacts.factories import LeadFactory

    now = timezone.now()
    for name, hours in (("Olga Waiting", 5), ("Piet Earlier", 1)):
        earlier = conversation_start_by_contact(contact=LeadFactory(name=name), body=f"Question from {name}")
        at = now - dt.timedelta(hours=hours)
        Conversation.objects.filter(pk=earlier.pk).update(waiting_since=at, last_part_at=at)

    inbox = agent_admin.page
    agent_admin.context.grant_permissions(["notifications"], origin=agent_admin.parley)
    inbox.add_init_script(RECORD_NOTIFICATIONS)
    agent_admin.open(reverse("admin:conversations_conversation_changelist") + "?view=unassigned")
    expect(inbox).to_have_title("(2) Inbox | Parley")
    rows = inbox.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Piet Earlier")

    website = make_website()
    host.page.goto(host.snippet_page("/home", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write("Is the blue kettle back in stock?")

    # No reload on the agent's side: within 10 seconds the new conversation is the top row of Unassigned.
    expect(rows).to_have_count(3, timeout=10_000)
    expect(rows.first).to_contain_text("Is the blue kettle back in stock?")
    expect(rows.nth(2)).to_contain_text("Olga Waiting")
    expect(inbox).to_have_title("(3) Inbox | Parley")
    notifications = inbox.evaluate("window.__notifications")
    assert len(notifications) == 1
    assert notifications[0].startswith("New conversation: ")
    assert notifications[0].endswith("| Is the blue kettle back in stock?")
    inbox.screenshot(path=str(artifacts / "inbox-live-new-conversation.png"), full_page=True)

    # The same on top of "All open"; "Waiting longest" is one click away and puts Olga first.
    filters = inbox.locator("#changelist-filter")
    filters.get_by_role("link", name="All open").click()
    expect(rows.first).to_contain_text("Is the blue kettle back in stock?")
    filters.get_by_role("link", name="Waiting longest").click()
    expect(rows.first).to_contain_text("Olga Waiting")
    expect(filters.locator("li.selected", has_text="All open")).to_have_count(1)  # the view is kept
    inbox.screenshot(path=str(artifacts / "inbox-waiting-longest.png"), full_page=True)
    filters.get_by_role("link", name="Newest activity").click()

    # The refreshed list still works: select the row and close it with the bulk action.
    rows.first.locator("input.action-select").check()
    expect(inbox.locator(".action-counter")).to_contain_text("1 of 3 selected")
    inbox.select_option("select[name=action]", "close_selected")
    inbox.get_by_role("button", name="Go").click()
    expect(inbox.get_by_text("Closed 1 conversation.")).to_be_visible()
    expect(rows.first).to_contain_text("Piet Earlier")
    assert agent_admin.problems == []
    assert host.problems == []


def test_an_agent_reads_and_adds_notes_on_the_contact_page(agent_admin, artifacts):
    from contacts import services as contact_services
    from tests.contacts.factories import UserContactFactory

    contact = UserContactFactory(name="Ada Lovelace")
    contact_services.contact_note_create(contact=contact, author=None, body="Synced from the CRM: VIP since 2019")
    page = agent_admin.page
    agent_admin.open(reverse("admin:contacts_contact_change", args=[contact.pk]))
    notes = page.locator("fieldset.contact-panel", has_text="Notes")
    expect(notes).to_contain_text("Synced from the CRM: VIP since 2019")
    notes.locator("textarea").fill("Prefers email over phone.")
    notes.get_by_role("button", name="Add note").click()
    expect(page.get_by_text("Note added.")).to_be_visible()
    expect(page.locator("fieldset.contact-panel", has_text="Notes").locator(".contact-note").first).to_contain_text(
        "Prefers email over phone."
    )
    page.screenshot(path=str(artifacts / "contact-notes.png"), full_page=True)
    assert agent_admin.problems == []


def test_neither_form_of_the_contact_page_drops_what_was_typed_in_the_other(agent_admin, artifacts):
    """The notes panel has its own form beside the contact's: adding a note saves an edited name too, and saving
    the contact adds the note typed beside it."""
    from contacts.models import Contact
    from tests.contacts.factories import UserContactFactory

    contact = UserContactFactory(name="Ada Lovelace")
    page = agent_admin.page
    agent_admin.open(reverse("admin:contacts_contact_change", args=[contact.pk]))
    notes = page.locator("fieldset.contact-panel", has_text="Notes")

    page.locator("#id_name").fill("Ada King")
    notes.locator("textarea").fill("Prefers email over phone.")
    notes.get_by_role("button", name="Add note").click()
    expect(page.get_by_text("Note added.")).to_be_visible()
    expect(page.locator("#id_name")).to_have_value("Ada King")
    expect(page.locator(".contact-note").first).to_contain_text("Prefers email over phone.")

    notes.locator("textarea").fill("Renewal due in March.")
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.get_by_text("Note added.")).to_be_visible()
    expect(page.locator(".contact-note").first).to_contain_text("Renewal due in March.")
    page.screenshot(path=str(artifacts / "contact-note-with-save.png"), full_page=True)
    assert Contact.objects.get(pk=contact.pk).name == "Ada King"
    assert list(contact.notes.order_by("pk").values_list("body", flat=True)) == [
        "Prefers email over phone.",
        "Renewal due in March.",
    ]
    assert agent_admin.problems == []
