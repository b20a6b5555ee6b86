"""Journey: what a new user found walking the team inbox in Chromium (issue 15), each fixed and walked again.
The visitor is on a shop of another origin, the agent in the admin, each in a browser context of their own.

- A message with text and a refused file keeps its text; a picked image shows before it is sent.
- A closed conversation asks for a rating, never for an email; the star hint goes once a star is picked.
- A click anywhere on a row opens its conversation (its checkbox's cell selects it).
- A customer's name finds their conversations, a closed one too; the sidebar's "By tag" finds the tagged ones.
- A conversation erased meanwhile sends the agent back to the inbox, saying so.
- One name per teammate in the whole admin.
- The conversation page lists the visitor's pages, each title a link with its address (host in full) under it.
- A macro goes into the composer with its actions listed; the agent edits and sends (the inbox asks first).
- Closing with `c` in the inbox keeps the cursor and the keyboard on the next row.
"""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from contacts.models import Tag
from conversations import services
from conversations.models import Attachment, Conversation, SavedReply
from conversations.services.saved_replies import MacroActions
from tests.contacts.factories import LeadFactory
from tests.conversations.attachment_samples import HTML_PAGE, png_bytes
from tests.faults.support import wait_until
from tracking.services import website_update

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]
# The messenger polls every 4 s while open, the conversation page every 5 s.
POLLED = 15_000
# An image in the messenger's shadow root that the browser actually decoded (not a broken-image icon).
IMAGE_SHOWN = """(selector) => {
  const img = document.querySelector('parley-messenger').shadowRoot.querySelector(selector);
  return !!img && img.complete && img.naturalWidth > 0;
}"""


def _page(conversation) -> str:
    return reverse("admin:conversations_conversation_change", args=[conversation.pk])


def test_a_refused_file_keeps_the_visitors_text_and_a_picked_image_shows_before_it_is_sent(
    host, make_website, agent_admin, artifacts
):
    website = make_website()
    host.page.goto(host.snippet_page("/checkout", website.app_id))
    host.wait_booted()
    host.launcher().click()
    messenger = host.page.locator("parley-messenger")
    composer = messenger.locator("textarea")

    # A picked image: its preview in the chip, before anything is sent.
    messenger.locator("input[type=file]").set_input_files(
        {"name": "screenshot.png", "mimeType": "image/png", "buffer": png_bytes(320, 200, (30, 120, 220))}
    )
    expect(messenger.locator(".ch span")).to_contain_text("screenshot.png")
    host.page.wait_for_function(IMAGE_SHOWN, arg=".ch img")
    host.screenshot(path=str(artifacts / "walk-messenger-image-preview.png"))
    messenger.get_by_role("button", name="Remove screenshot.png").click()
    expect(messenger.locator(".ch span")).to_have_count(0)

    # Text and a page disguised as an image: the server refuses the file; the text is still in the composer,
    # the reason next to it, nothing half-sent in the thread.
    messenger.locator("input[type=file]").set_input_files(
        {"name": "error.png", "mimeType": "image/png", "buffer": HTML_PAGE}
    )
    composer.fill("The payment page shows an error, screenshot attached")
    host.page.keyboard.press("Enter")
    expect(messenger.locator(".ae")).to_contain_text("“error.png”", timeout=POLLED)
    expect(messenger.locator(".ae")).to_contain_text("cannot be sent here")
    expect(composer).to_have_value("The payment page shows an error, screenshot attached")
    expect(composer).to_be_focused()
    expect(messenger.locator(".m.me")).to_have_count(0)
    expect(messenger.locator(".ch span")).to_have_count(0)
    host.screenshot(path=str(artifacts / "walk-messenger-file-refused-text-kept.png"))
    assert not Conversation.objects.exists() and not Attachment.objects.exists()

    # The visitor sends the text as it is; the agent reads it.
    host.page.keyboard.press("Enter")
    expect(messenger.locator(".m.me .bu").last).to_have_text("The payment page shows an error, screenshot attached")
    expect(messenger.locator(".ae")).to_have_text("")
    expect(composer).to_have_attribute("aria-label", "Reply to the team")  # the server has it
    conversation = Conversation.objects.get()
    agent_admin.open(_page(conversation))
    expect(agent_admin.page.locator(".parley-part.from-contact .body")).to_have_text(
        "The payment page shows an error, screenshot attached"
    )
    agent_admin.page.screenshot(path=str(artifacts / "walk-agent-text-arrived.png"), full_page=True)
    assert agent_admin.problems == []
    assert [p for p in host.problems if "400" not in p] == []


def test_a_closed_conversation_asks_for_a_rating_never_an_email_and_the_star_hint_goes_with_a_star(
    host, make_website, agent_admin, artifacts
):
    website = make_website()
    website.ask_email_after_seconds = 0  # a visitor without an email is asked at once: while it is open
    website.save()
    website = website_update(website=website, conversation_ratings_enabled=True)
    host.page.goto(host.snippet_page("/orders", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write("Is my order on its way?")
    ask = host.page.locator("parley-messenger form.ask:not(.rt)")
    expect(ask).to_contain_text("Get notified by email when the team replies")
    conversation = Conversation.objects.get()

    # The agent closes it without a word: the open messenger says closed, and asks for no email any more.
    admin = agent_admin.page
    agent_admin.open(_page(conversation))
    admin.get_by_role("button", name="Close", exact=True).click()
    expect(admin.locator("#parley-state")).to_have_text("Closed")
    expect(host.page.locator("parley-messenger .th .nt")).to_have_text(
        "This conversation is closed. Write again to reopen it.", timeout=POLLED
    )
    expect(ask).to_have_count(0)
    host.screenshot(path=str(artifacts / "walk-messenger-closed-no-email-ask.png"))

    # Reopened by the visitor, answered and closed by the agent: a rating card, still no email card.
    host.write("Hello again?")
    # The bubble shows as soon as it is sent: the agent opens the thread once the server has reopened it
    # (else the reply and close could come first, and the late message reopen it after them).
    wait_until(lambda: Conversation.objects.get().state == Conversation.State.OPEN, what="the conversation reopened")
    agent_admin.open(_page(conversation))
    expect(admin.locator("#parley-state")).to_have_text("Open")
    admin.fill("#parley-body", "It arrives tomorrow.")
    admin.locator("button[name=do][value=reply_close]").click()
    expect(admin.locator("#parley-state")).to_have_text("Closed")
    card = host.page.locator("parley-messenger form.rt")
    expect(card.locator("legend")).to_have_text("How would you rate this conversation?", timeout=POLLED)
    expect(ask).to_have_count(0)

    # Sent without a star: the hint; a star picked: the hint is gone.
    card.locator("button[type=submit]").click()
    expect(card.locator(".nt")).to_have_text("Choose from 1 to 5 stars.")
    host.screenshot(path=str(artifacts / "walk-messenger-star-hint.png"))
    card.locator("label.sa").nth(4).click()
    expect(card.locator("label.sa.on")).to_have_count(5)
    expect(card.locator(".nt")).to_have_text("")
    host.screenshot(path=str(artifacts / "walk-messenger-star-picked.png"))
    card.locator("button[type=submit]").click()
    expect(card.locator("legend")).to_have_text("Thanks! You rated 5/5.")
    assert agent_admin.problems == []
    assert host.problems == []


def test_a_click_anywhere_on_a_row_opens_its_conversation_but_not_on_its_checkbox(agent_admin, artifacts):
    grace = services.conversation_start_by_contact(contact=LeadFactory(name="Grace"), body="Where is my parcel?")
    services.conversation_start_by_contact(contact=LeadFactory(name="Alan"), body="Can I change my order?")
    page = agent_admin.page
    inbox = reverse("admin:conversations_conversation_changelist")

    agent_admin.open(reverse("admin:index"))  # the inbox is one click from every page, at the top
    page.locator("#user-tools").get_by_role("link", name="Inbox").click()
    expect(page).to_have_url(re.compile(rf"{inbox}$"))
    row = page.locator("#result_list tbody tr", has_text="Grace")
    row.locator("td.action-checkbox").click()  # the checkbox's cell selects the row, and stays on the list
    expect(row.locator("input.action-select")).to_be_checked()
    expect(page.locator("#result_list tbody tr", has_text="Alan").locator("input.action-select")).not_to_be_checked()
    assert page.url.endswith(inbox)
    page.screenshot(path=str(artifacts / "walk-inbox-row-selected.png"), full_page=True)

    row.locator("td.field-preview_column").click()  # the last message, not a link: opens it all the same
    expect(page).to_have_url(re.compile(rf"{_page(grace)}$"))
    expect(page.locator("#content h1")).to_contain_text("Grace")
    page.screenshot(path=str(artifacts / "walk-inbox-row-opened.png"), full_page=True)
    assert agent_admin.problems == []


def test_the_agent_finds_a_customers_closed_conversation_by_name_and_the_tagged_ones_by_tag(agent_admin, artifacts):
    jamie = LeadFactory(name="Jamie Rivera", email="jamie@acme.example")
    services.conversation_start_by_contact(contact=jamie, body="Is the blue one back in stock?")
    earlier = services.conversation_start_by_contact(contact=jamie, body="My parcel never came")
    services.conversation_close(conversation=earlier, teammate=None)
    alan = services.conversation_start_by_contact(contact=LeadFactory(name="Alan"), body="Refund please")
    services.conversation_tag(conversation=alan, tag=Tag.objects.create(name="refund"), teammate=None)
    page = agent_admin.page
    agent_admin.open(reverse("admin:conversations_conversation_changelist"))
    expect(page.locator("#result_list tbody tr")).to_have_count(2)  # the open ones

    # Her name finds both of hers, the closed one too; the sidebar says it looked through everything.
    page.locator("#searchbar").fill("rivera")
    page.locator("#searchbar").press("Enter")
    expect(page.locator("#result_list tbody tr .field-preview_column")).to_have_text(
        ["My parcel never came", "Is the blue one back in stock?"]
    )
    expect(page.locator("#changelist-filter li.selected", has_text="Everything")).to_have_count(1)
    page.screenshot(path=str(artifacts / "walk-inbox-search-by-name.png"), full_page=True)

    # By tag: only the tagged one.
    agent_admin.open(reverse("admin:conversations_conversation_changelist"))
    page.locator("#changelist-filter").get_by_role("link", name="refund").click()
    expect(page.locator("#result_list tbody tr .field-preview_column")).to_have_text(["Refund please"])
    page.screenshot(path=str(artifacts / "walk-inbox-by-tag.png"), full_page=True)
    assert agent_admin.problems == []


def test_a_conversation_erased_meanwhile_sends_the_agent_back_to_the_inbox_saying_so(agent_admin, artifacts):
    from contacts.services import contact_erase

    grace = services.conversation_start_by_contact(contact=LeadFactory(name="Grace"), body="Please forget me.")
    page = agent_admin.page
    agent_admin.open(_page(grace))
    expect(page.locator("#content h1")).to_contain_text("Grace")
    contact_erase(contact=grace.contact, actor=None, source="admin")  # a colleague carries out her erasure

    page.reload()
    expect(page).to_have_url(re.compile(r"/admin/conversations/conversation/$"))
    expect(page.locator(".messagelist .warning")).to_have_text(
        f"Conversation {grace.pk} no longer exists: deleted, or its contact erased."
    )
    page.screenshot(path=str(artifacts / "walk-conversation-erased-meanwhile.png"), full_page=True)
    assert agent_admin.problems == []


def test_a_teammate_has_one_name_in_the_whole_admin(agent_admin, superuser, artifacts):
    services.teammate_profile_update(teammate=superuser, display_name="Sam")
    grace = services.conversation_start_by_contact(contact=LeadFactory(name="Grace"), body="Where is my parcel?")
    services.conversation_assign(conversation=grace, teammate=superuser, assignee=superuser)
    page = agent_admin.page

    agent_admin.open(reverse("admin:conversations_conversation_changelist"))
    expect(page.locator("#user-tools strong")).to_have_text("Sam")
    expect(page.locator("td.field-assignee_column")).to_have_text("Sam")
    expect(page.locator("select[name=assignee] option")).to_have_text(["---------", "Sam"])
    page.screenshot(path=str(artifacts / "walk-names-inbox.png"), full_page=True)

    agent_admin.open(_page(grace))
    expect(page.locator(".parley-thread-col p", has_text="Assigned to")).to_contain_text("Assigned to Sam")
    expect(page.locator("#parley-assignee option:checked")).to_have_text("Sam")
    expect(page.locator(".parley-event").first).to_contain_text("Sam took this")
    page.screenshot(path=str(artifacts / "walk-names-conversation.png"), full_page=True)
    assert "admin" not in page.locator("#parley-assignee").inner_text()
    assert agent_admin.problems == []


def test_a_macro_goes_into_the_composer_the_agent_edits_and_sends_and_the_visitor_reads_it(
    host, make_website, agent_admin, artifacts
):
    website = make_website()
    refund = Tag.objects.create(name="refund")
    services.saved_reply_create(
        name="Refund sent",
        body='Hi {{contact.first_name | fallback: "there"}}, your refund is on its way.',
        actions=MacroActions(tags=(refund,), close=True),
    )
    host.page.goto(host.snippet_page("/orders", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write("I returned the kettle, where is my refund?")
    conversation = Conversation.objects.get()

    admin = agent_admin.page
    agent_admin.open(_page(conversation))
    # The page the visitor wrote from, beside the thread: its title links to it, its address says which it was.
    seen = admin.locator("#parley-page-views li").first
    expect(seen.get_by_role("link", name="Shop")).to_have_attribute("href", host.page.url)
    expect(seen.locator(".parley-page-url")).to_have_text(re.sub(r"^https?://", "", host.page.url))
    admin.wait_for_function("window.ParleyKeys && window.ParleyKeys.ready()")
    # The `m` shortcut picks it: the text goes into the reply, the actions are listed; nothing is sent.
    admin.keyboard.press("m")
    picker = admin.get_by_role("dialog", name="Use a macro")
    expect(picker).to_contain_text("Refund sent — tag “refund”, close")
    admin.keyboard.press("Enter")
    body = admin.locator("#parley-body")
    expect(body).to_have_value("Hi there, your refund is on its way.")
    expect(body).to_be_focused()
    box = admin.locator("#parley-macro-box")
    expect(box).to_be_visible()
    expect(box).to_contain_text("Macro “Refund sent”: sending the reply also does")
    expect(box.locator("li")).to_have_text(["tag “refund”", "close"])
    admin.screenshot(path=str(artifacts / "walk-macro-in-composer.png"), full_page=True)
    assert conversation.parts.count() == 1 and Conversation.objects.get().state == "open"

    # The agent edits it, then sends: the edited reply, the tag and the close, together.
    body.fill("Hi there, your refund of 49 EUR left our bank today.")
    admin.get_by_role("button", name="Send reply").click()
    expect(admin.locator(".messagelist")).to_contain_text(
        "Reply sent; the macro “Refund sent” did: tag “refund”, close."
    )
    expect(admin.locator("#parley-state")).to_have_text("Closed")
    expect(admin.locator("#parley-tags")).to_contain_text("refund")
    expect(admin.locator("#parley-macro-box")).to_be_hidden()
    admin.screenshot(path=str(artifacts / "walk-macro-sent.png"), full_page=True)

    expect(host.page.locator("parley-messenger .m .bu").last).to_have_text(
        "Hi there, your refund of 49 EUR left our bank today.", timeout=POLLED
    )
    host.screenshot(path=str(artifacts / "walk-macro-visitor.png"))
    assert agent_admin.problems == []
    assert host.problems == []


def test_the_inbox_asks_before_running_a_macro_on_the_selected_conversations(agent_admin, artifacts):
    services.saved_reply_create(
        name="Closing", body="Thanks {{contact.first_name}}, closing this.", actions=MacroActions(close=True)
    )
    for name in ("Ada", "Grace"):
        services.conversation_start_by_contact(contact=LeadFactory(name=name), body=f"Question from {name}")
    page = agent_admin.page
    agent_admin.open(reverse("admin:conversations_conversation_changelist"))
    page.locator("#action-toggle").check()
    # Walk: the bar showed a Teammate, a Snooze, a Tag, a Macro and a tick box at once, each for another action.
    # Each shows once its action is chosen.
    macro, tag = page.locator("select[name=macro]"), page.locator("select[name=tag]")
    expect(macro).to_be_hidden()
    page.select_option("select[name=action]", "tag_selected")
    expect(tag).to_be_visible()
    expect(macro).to_be_hidden()
    page.select_option("select[name=action]", "run_macro_selected")
    expect(macro).to_be_visible()
    for other in ("assignee", "snooze_for", "tag", "ask_ratings"):
        expect(page.locator(f".actions [name={other}]")).to_be_hidden()
    page.locator(".actions").screenshot(path=str(artifacts / "walk-macro-action-bar.png"))
    page.select_option("select[name=macro]", label="Closing")
    page.get_by_role("button", name="Go").click()

    expect(page.locator("#content h1")).to_have_text("Run the macro on the selected conversations?")
    expect(page.locator("#parley-macro-count")).to_have_text("2 conversations")
    expect(page.locator("#parley-macro-reply")).to_have_text("Thanks {{contact.first_name}}, closing this.")
    expect(page.locator("#parley-macro-actions li")).to_have_text(["close"])
    page.screenshot(path=str(artifacts / "walk-macro-bulk-confirmation.png"), full_page=True)
    assert set(Conversation.objects.values_list("state", flat=True)) == {"open"}

    page.get_by_role("button", name="Yes, run it").click()
    expect(page.locator(".messagelist")).to_contain_text("Ran the macro “Closing” on 2 conversations.")
    page.screenshot(path=str(artifacts / "walk-macro-bulk-done.png"), full_page=True)
    assert set(Conversation.objects.values_list("state", flat=True)) == {"closed"}
    assert SavedReply.objects.count() == 1 and agent_admin.problems == []


def test_closing_with_c_keeps_the_cursor_and_the_keyboard_on_the_next_row(agent_admin, artifacts):
    for name in ("Ada", "Grace", "Hedy"):
        services.conversation_start_by_contact(contact=LeadFactory(name=name), body=f"Question from {name}")
    page = agent_admin.page
    agent_admin.open(reverse("admin:conversations_conversation_changelist"))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(3)
    page.wait_for_function("window.ParleyKeys && window.ParleyKeys.ready()")

    # Newest first: Hedy, Grace, Ada. The cursor on Grace, then c closes Grace.
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(rows.nth(1)).to_contain_text("Grace")
    expect(rows.nth(1).locator("th a, td a").first).to_be_focused()
    page.keyboard.press("c")
    expect(page.get_by_text("Closed 1 conversation.")).to_be_visible()
    expect(rows).to_have_count(2)
    # The row that followed Grace (Ada) has the cursor and the keyboard; j, k and o go on from there.
    cursor = page.locator("#result_list tbody tr.parley-cursor")
    expect(cursor).to_contain_text("Ada")
    expect(cursor.locator("th a, td a").first).to_be_focused()
    page.screenshot(path=str(artifacts / "walk-inbox-cursor-after-close.png"), full_page=True)
    page.keyboard.press("k")
    expect(page.locator("#result_list tbody tr.parley-cursor")).to_contain_text("Hedy")
    # The last row closed: the cursor goes up to the row before it.
    page.keyboard.press("j")
    page.keyboard.press("c")
    expect(page.get_by_text("Closed 1 conversation.")).to_be_visible()
    expect(rows).to_have_count(1)
    expect(page.locator("#result_list tbody tr.parley-cursor")).to_contain_text("Hedy")
    page.keyboard.press("o")
    expect(page.locator(".parley-part.from-contact .body").first).to_have_text("Question from Hedy")
    assert Conversation.objects.filter(state="closed").count() == 2
    assert agent_admin.problems == []
