"""Journey: working faster together. Two teammates in two browsers see each other on a conversation (viewing,
then typing), one mentions the other in a note and the other is notified and finds it under Mentions, a macro
put in the reply is sent with its tag and close while the visitor reads along on the shop's own origin, and the keyboard drives the
inbox and the conversation page (with its help behind "?")."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from conversations import services
from conversations.models import Conversation, SavedReply
from conversations.services.saved_replies import MacroActions
from tests.contacts.factories import LeadFactory, TagFactory
from tests.e2e.test_inbox_journey import RECORD_NOTIFICATIONS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]
# The conversation page polls every 5 seconds: a teammate's arrival shows within two polls.
PRESENCE_TIMEOUT_MS = 15_000


def _page(conversation) -> str:
    return reverse("admin:conversations_conversation_change", args=[conversation.pk])


def _keys_ready(page) -> None:
    """The page's shortcuts are bound (its scripts ran): a key pressed earlier would be lost."""
    page.wait_for_function("window.ParleyKeys && window.ParleyKeys.ready()")


def _thread_of(page, name: str) -> None:
    expect(page.locator(".parley-part.from-contact .body").first).to_have_text(f"Question from {name}")
    _keys_ready(page)


def test_each_teammate_sees_the_other_viewing_then_typing_and_gone(agent_admin, sam_admin, artifacts):
    conversation = services.conversation_start_by_contact(contact=LeadFactory(name="Grace"), body="Refund please")
    boss, sam = agent_admin.page, sam_admin.page
    agent_admin.open(_page(conversation))
    presence = boss.locator("#parley-presence")
    expect(presence).to_be_hidden()

    sam_admin.open(_page(conversation))
    expect(presence).to_have_text("Sam is viewing", timeout=PRESENCE_TIMEOUT_MS)
    expect(sam.locator("#parley-presence")).to_have_text("boss is viewing", timeout=PRESENCE_TIMEOUT_MS)
    boss.screenshot(path=str(artifacts / "teamwork-presence-viewing.png"), full_page=True)

    sam.locator("#parley-body").press_sequentially("Hi Grace, I am looking at your ")
    expect(presence).to_have_text("Sam is typing a reply", timeout=PRESENCE_TIMEOUT_MS)
    expect(presence).to_have_class("parley-presence parley-presence-writing")
    boss.screenshot(path=str(artifacts / "teamwork-presence-typing.png"), full_page=True)

    # Sam leaves for the inbox: the warning goes away without waiting for Sam's entry to expire.
    sam_admin.open(reverse("admin:conversations_conversation_changelist"))
    expect(presence).to_be_hidden(timeout=PRESENCE_TIMEOUT_MS)
    assert agent_admin.problems == []
    assert sam_admin.problems == []


def test_a_note_mentioning_a_teammate_notifies_them_and_lists_it_under_mentions(agent_admin, sam_admin, artifacts):
    conversation = services.conversation_start_by_contact(contact=LeadFactory(name="Grace"), body="Where is my order?")
    services.conversation_start_by_contact(contact=LeadFactory(name="Ada"), body="Another question")

    # Sam works in the inbox with desktop notifications on.
    sam = sam_admin.page
    sam_admin.context.grant_permissions(["notifications"], origin=sam_admin.parley)
    sam.add_init_script(RECORD_NOTIFICATIONS)
    sam_admin.open(reverse("admin:conversations_conversation_changelist"))
    filters = sam.locator("#changelist-filter")
    expect(filters.get_by_role("link", name="Mentions", exact=True)).to_be_visible()

    # Boss writes a note: "n" switches to note mode, "@sa" offers Sam, Enter picks, Ctrl+Enter adds the note.
    boss = agent_admin.page
    agent_admin.open(_page(conversation))
    _keys_ready(boss)
    expect(boss.get_by_role("button", name="Add internal note")).to_be_hidden()  # the reply tab's buttons
    expect(boss.get_by_role("button", name="Send reply")).to_be_visible()
    boss.keyboard.press("n")
    body = boss.locator("#parley-body")
    expect(body).to_be_focused()
    expect(boss.locator("#parley-mode-note")).to_have_attribute("aria-selected", "true")
    # The note tab's buttons only: its text cannot go to the customer through "Send reply".
    expect(boss.get_by_role("button", name="Add internal note")).to_be_visible()
    expect(boss.get_by_role("button", name="Send reply")).to_be_hidden()
    expect(boss.get_by_role("button", name="Reply and close")).to_be_hidden()
    body.press_sequentially("Can you check the warehouse, @sa")
    suggestions = boss.locator("#parley-mention-list li")
    expect(suggestions).to_have_count(1)
    expect(suggestions.first).to_have_text("Sam @sam")
    boss.screenshot(path=str(artifacts / "teamwork-mention-autocomplete.png"), full_page=True)
    boss.keyboard.press("Enter")
    expect(body).to_have_value("Can you check the warehouse, @sam ")
    body.press_sequentially("? <img src=x onerror=alert(1)>")
    boss.keyboard.press("Control+Enter")
    expect(boss.get_by_text("Note added.")).to_be_visible()
    note = boss.locator(".parley-part.note").last
    expect(note.locator(".parley-mention")).to_have_text("@sam")
    expect(note.locator(".body")).to_have_text("Can you check the warehouse, @sam ? <img src=x onerror=alert(1)>")
    assert note.locator("img").count() == 0
    boss.screenshot(path=str(artifacts / "teamwork-mention-note.png"), full_page=True)

    # Sam is told within a poll, and the Mentions view counts it as new until Sam opens it.
    sam.wait_for_function("window.__notifications.length > 0", timeout=PRESENCE_TIMEOUT_MS)
    notifications = sam.evaluate("window.__notifications")
    assert notifications == [
        "boss mentioned you (Grace) | Can you check the warehouse, @sam ? <img src=x onerror=alert(1)>"
    ]
    mentions = filters.get_by_role("link", name="Mentions (1 new)")
    expect(mentions).to_be_visible()
    mentions.click()
    rows = sam.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Grace")
    sam.screenshot(path=str(artifacts / "teamwork-mentions-view.png"), full_page=True)
    rows.first.locator("a").first.click()
    expect(sam.locator(".parley-part.note .parley-mention")).to_have_text("@sam")
    sam_admin.open(reverse("admin:conversations_conversation_changelist"))
    expect(sam.locator("#changelist-filter").get_by_role("link", name="Mentions", exact=True)).to_be_visible()
    assert agent_admin.problems == []
    assert sam_admin.problems == []


def test_a_macro_put_in_the_reply_replies_tags_and_closes_while_the_visitor_reads_it(
    host, make_website, agent_admin, artifacts
):
    website = make_website()
    refund = TagFactory(name="refund")
    services.saved_reply_create(
        name="Refund sent",
        body='Hi {{contact.first_name | fallback: "there"}}, your refund is on its way.',
        actions=MacroActions(tags=(refund,), close=True),
    )
    services.saved_reply_create(name="Greeting", body="Hello!")  # a plain saved reply is no macro
    host.page.goto(host.snippet_page("/orders", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write("I returned the kettle, where is my refund?")
    conversation = Conversation.objects.get()

    admin = agent_admin.page
    agent_admin.open(_page(conversation))
    # A saved reply put in the reply is the team writing, as typing is: the visitor sees the dots.
    dots = host.page.locator("parley-messenger .m.ty")
    admin.locator("#parley-saved").select_option(label="Greeting")
    expect(admin.locator("#parley-body")).to_have_value("Hello!")
    expect(dots).to_be_visible(timeout=PRESENCE_TIMEOUT_MS)
    admin.locator("#parley-body").fill("")  # emptied: no longer writing, the dots go
    expect(dots).to_have_count(0, timeout=PRESENCE_TIMEOUT_MS)
    macro = admin.locator("#parley-macro")
    expect(macro.locator("option")).to_have_text(["Choose…", "Refund sent"])
    # Nothing is chosen at first: "Use macro" does nothing (a macro preselected was one click from sending its actions).
    expect(admin.locator("#parley-macro-summary")).to_have_text("")
    admin.get_by_role("button", name="Use macro").click()
    expect(admin.locator("#parley-body")).to_have_value("")
    macro.select_option(label="Refund sent")
    expect(admin.locator("#parley-macro-summary")).to_have_text(
        "Puts its text in the reply; sending it also does: tag “refund”, close"
    )
    admin.screenshot(path=str(artifacts / "teamwork-macro-before.png"), full_page=True)
    # One click puts the text in the reply and lists the actions; sending runs them with the reply.
    admin.get_by_role("button", name="Use macro").click()
    expect(admin.locator("#parley-body")).to_have_value("Hi there, your refund is on its way.")
    expect(admin.locator("#parley-macro-actions li")).to_have_text(["tag “refund”", "close"])
    expect(dots).to_be_visible(timeout=PRESENCE_TIMEOUT_MS)
    admin.screenshot(path=str(artifacts / "teamwork-macro-in-composer.png"), full_page=True)
    admin.get_by_role("button", name="Send reply").click()
    expect(admin.locator(".messagelist")).to_contain_text(
        "Reply sent; the macro “Refund sent” did: tag “refund”, close."
    )
    expect(admin.locator("#parley-state")).to_have_text("Closed")
    expect(admin.locator("#parley-tags")).to_contain_text("refund")
    expect(admin.locator(".parley-part.from-teammate .body").last).to_have_text("Hi there, your refund is on its way.")
    admin.screenshot(path=str(artifacts / "teamwork-macro-after.png"), full_page=True)

    # The visitor, on the shop's own origin, reads the reply in the open messenger.
    expect(host.page.locator("parley-messenger .m .bu").last).to_have_text(
        "Hi there, your refund is on its way.", timeout=PRESENCE_TIMEOUT_MS
    )
    host.screenshot(path=str(artifacts / "teamwork-macro-visitor.png"))
    assert SavedReply.objects.count() == 2
    assert agent_admin.problems == []
    assert host.problems == []


def test_the_keyboard_drives_the_inbox_and_the_conversation_page(agent_admin, superuser, artifacts):
    for name in ("Ada", "Grace", "Hedy"):
        services.conversation_start_by_contact(contact=LeadFactory(name=name), body=f"Question from {name}")
    admin = agent_admin.page
    agent_admin.open(reverse("admin:conversations_conversation_changelist"))
    rows = admin.locator("#result_list tbody tr")
    expect(rows).to_have_count(3)
    _keys_ready(admin)

    admin.keyboard.press("?")
    help_dialog = admin.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_dialog).to_be_visible()
    expect(help_dialog).to_contain_text("Assign to me")
    admin.screenshot(path=str(artifacts / "teamwork-shortcuts-inbox-help.png"), full_page=True)
    admin.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()

    # j / k move the cursor (newest first: Hedy, Grace, Ada); typing in the search box moves nothing.
    admin.keyboard.press("j")
    expect(rows.nth(0)).to_have_class("parley-cursor")
    admin.keyboard.press("j")
    expect(rows.nth(1)).to_have_class("parley-cursor")
    expect(rows.nth(0)).not_to_have_class("parley-cursor")
    admin.locator("#searchbar").press_sequentially("jj")
    expect(rows.nth(1)).to_have_class("parley-cursor")
    admin.locator("#searchbar").fill("")
    admin.keyboard.press("Escape")
    admin.locator("#content h1").click()  # out of the search box
    admin.keyboard.press("k")
    expect(rows.nth(0)).to_have_class("parley-cursor")
    admin.keyboard.press("j")
    expect(rows.nth(1)).to_contain_text("Grace")

    # a: the cursor's conversation is assigned to me, on screen.
    admin.keyboard.press("a")
    expect(admin.get_by_text("Assigned 1 conversation.")).to_be_visible()
    grace = rows.filter(has_text="Grace")
    expect(grace.locator("td.field-assignee_column")).to_have_text(superuser.username)
    expect(grace).to_have_class("parley-cursor")  # the cursor stays where it was
    _keys_ready(admin)
    admin.screenshot(path=str(artifacts / "teamwork-shortcuts-inbox-assigned.png"), full_page=True)

    # o opens it; on the conversation page j / k walk the inbox's list and a assigns to me.
    admin.keyboard.press("o")
    _thread_of(admin, "Grace")
    admin.keyboard.press("j")
    _thread_of(admin, "Ada")
    admin.keyboard.press("k")
    _thread_of(admin, "Grace")
    admin.keyboard.press("k")
    _thread_of(admin, "Hedy")
    admin.keyboard.press("?")
    thread_help = admin.get_by_role("dialog", name="Keyboard shortcuts")
    expect(thread_help).to_contain_text("Use a macro")
    admin.screenshot(path=str(artifacts / "teamwork-shortcuts-thread-help.png"), full_page=True)
    admin.keyboard.press("?")
    expect(thread_help).to_be_hidden()
    admin.keyboard.press("a")
    expect(admin.locator(".messagelist")).to_contain_text(f"Assigned to {superuser.username}.")
    _keys_ready(admin)
    # r focuses the reply box, where letters are text, not shortcuts; Esc leaves it.
    admin.keyboard.press("r")
    expect(admin.locator("#parley-body")).to_be_focused()
    admin.keyboard.type("just a")
    expect(admin.locator("#parley-body")).to_have_value("just a")
    expect(admin.locator(".messagelist")).to_contain_text(f"Assigned to {superuser.username}.")
    # Esc, then z snoozes (1 hour, the list's first choice); the draft is still there after the page reloads.
    admin.keyboard.press("Escape")
    admin.keyboard.press("z")
    expect(admin.locator("#parley-state")).to_contain_text("Snoozed")
    expect(admin.locator("#parley-body")).to_have_value("just a")
    admin.screenshot(path=str(artifacts / "teamwork-shortcuts-thread.png"), full_page=True)
    assert Conversation.objects.filter(assignee=superuser).count() == 2
    assert agent_admin.problems == []


def test_a_saved_reply_longer_than_the_room_left_is_cut_where_the_box_ends(agent_admin):
    """Typing and pasting stop at the box's 10,000 characters; a saved reply put in by script went past them, then was
    refused on send and kept cut anyway."""
    services.saved_reply_create(name="Terms", body="T" * 9_000)
    contact = LeadFactory(name="Ada")
    conversation = services.conversation_start_by_contact(contact=contact, body="What are your terms?")
    admin = agent_admin.page
    agent_admin.open(_page(conversation))
    box = admin.locator("#parley-body")
    box.fill("Dear Ada, " + "a" * 1_990)
    admin.locator("#parley-saved").select_option(label="Terms")
    assert box.evaluate("(box) => box.value.length") == 10_000
    assert box.evaluate("(box) => box.value.endsWith('T'.repeat(8000))")
    admin.get_by_role("button", name="Send reply").click()
    expect(admin.locator(".parley-part.from-teammate .body").last).to_have_text(
        "Dear Ada, " + "a" * 1_990 + "T" * 8_000
    )
    assert agent_admin.problems == []


def test_a_long_conversation_opens_at_its_newest_message_with_the_reply_box(agent_admin, superuser, artifacts):
    """A long conversation opened at its first message: the teammate scrolled past the whole history to read the
    question they came for and to answer it. It opens at the end, as a chat does; a reload keeps their place."""
    contact = LeadFactory(name="Ola Nordmann")
    conversation = services.conversation_start_by_contact(contact=contact, body="Question 1: where is my order?")
    for number in range(2, 25):
        services.conversation_reply_as_teammate(conversation=conversation, teammate=superuser, body=f"Answer {number}.")
        services.conversation_reply_as_contact(conversation=conversation, body=f"Question {number}: and now?")
    page = agent_admin.page
    page.set_viewport_size({"width": 1280, "height": 720})
    agent_admin.open(_page(conversation))
    last = page.locator(".parley-part.from-contact .body").last
    expect(last).to_have_text("Question 24: and now?")
    expect(last).to_be_in_viewport()
    expect(page.locator("#parley-body")).to_be_in_viewport()
    expect(page.locator(".parley-part .body").first).not_to_be_in_viewport()
    page.screenshot(path=str(artifacts / "admin-long-conversation-opens-at-the-end.png"))

    page.evaluate("window.scrollTo(0, 0)")  # the teammate goes up to read the start, then reloads
    page.reload()
    page.wait_for_load_state("load")
    expect(page.locator(".parley-part .body").first).to_be_in_viewport()

    # A link to a place on the page goes there; one to nothing on it opens at the end all the same. (Each from
    # another page: a link to the page already open only moves within it.)
    for fragment, in_view in [
        ("#parley-thread", ".parley-part .body >> nth=0"),
        ("#nothing-here", "#parley-body"),
        ("#%E0%A4%A", "#parley-body"),  # a malformed escape: no error, the end
    ]:
        page.goto("about:blank")
        agent_admin.open(_page(conversation) + fragment)
        expect(page.locator(in_view)).to_be_in_viewport()
    assert agent_admin.problems == []
