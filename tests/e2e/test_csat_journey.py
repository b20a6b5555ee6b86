"""Journey: customer satisfaction (CSAT). The agent answers and closes the conversation in the admin; the visitor,
on the shop's own origin, sees the rating request in the messenger, rates it 4 with a comment; the agent sees
"4/5" and the comment on the conversation page. The visitor changes it to 5 with the keyboard, the agent sees 5."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from conversations.models import Conversation, ConversationRating
from tracking.services import website_update

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]
# The messenger polls every 4 s while open, the conversation page every 5 s: a change shows within that.
POLLED = 15_000


def test_the_visitor_rates_the_closed_conversation_and_the_agent_sees_it_change(
    host, make_website, agent_admin, artifacts
):
    website = website_update(website=make_website(), conversation_ratings_enabled=True)
    host.page.goto(host.snippet_page("/orders", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write("My parcel has not arrived yet")
    conversation = Conversation.objects.get()

    # The agent answers and closes in one go from the conversation page.
    admin = agent_admin.page
    agent_admin.open(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
    admin.fill("#parley-body", "It left our warehouse this morning: it arrives tomorrow.")
    admin.locator("button[name=do][value=reply_close]").click()
    expect(admin.locator("#parley-state")).to_have_text("Closed")
    expect(admin.locator("#parley-ratings")).to_contain_text("Rating asked, no answer yet")

    # The visitor's open messenger shows the answer, then the team's rating request under the thread.
    card = host.page.locator("parley-messenger form.rt")
    expect(card.locator("legend")).to_have_text("How would you rate this conversation?", timeout=POLLED)
    expect(host.page.locator("parley-messenger .th .bu").last).to_have_text(
        "It left our warehouse this morning: it arrives tomorrow."
    )
    expect(card.locator("input[type=radio]")).to_have_count(5)
    expect(card.locator("input[type=radio]").nth(3)).to_have_attribute("aria-label", "4 out of 5")
    host.screenshot(path=str(artifacts / "csat-messenger-request.png"))

    card.locator("label.sa").nth(3).click()  # the fourth star
    expect(card.locator("label.sa.on")).to_have_count(4)
    card.locator("textarea").fill("Quick answer, thank you! <b>not bold</b>")
    card.locator("button[type=submit]").click()
    expect(card.locator("legend")).to_have_text("Thanks! You rated 4/5.")
    expect(card.locator(".nt")).to_contain_text("You can change it until")
    expect(card.locator("button[type=submit]")).to_have_text("Update rating")
    host.screenshot(path=str(artifacts / "csat-messenger-rated-4.png"))
    rating = ConversationRating.objects.get()
    assert (rating.rating, rating.remark) == (4, "Quick answer, thank you! <b>not bold</b>")

    # The agent's page, left open, shows it in the thread and the side panel (its poll), the comment as text.
    panel = admin.locator("#parley-ratings")
    expect(panel).to_contain_text("Rated 4/5 by the contact", timeout=POLLED)
    expect(panel.locator(".parley-stars")).to_have_text("★★★★☆")
    expect(panel.locator(".remark")).to_have_text("Quick answer, thank you! <b>not bold</b>")
    expect(admin.locator("#parley-thread .parley-rating")).to_contain_text("Rated 4/5 by the contact")
    expect(admin.locator("#parley-thread .parley-rating .remark")).to_have_text(
        "Quick answer, thank you! <b>not bold</b>"
    )
    admin.screenshot(path=str(artifacts / "csat-agent-sees-4.png"), full_page=True)

    # The visitor changes their mind, with the keyboard: the arrow key moves the radio stars, Enter would
    # send the form from a radio; the button is pressed from the keyboard too.
    card.locator("input[type=radio]").nth(3).focus()
    host.page.keyboard.press("ArrowRight")
    expect(card.locator("input[type=radio]").nth(4)).to_be_checked()
    expect(card.locator("label.sa.on")).to_have_count(5)
    card.locator("button[type=submit]").focus()
    host.page.keyboard.press("Enter")
    expect(card.locator("legend")).to_have_text("Thanks! You rated 5/5.")
    expect(card.locator("button[type=submit]")).to_be_focused()  # the redrawn card keeps the keyboard
    expect(card.locator("textarea")).to_have_value("Quick answer, thank you! <b>not bold</b>")  # the comment stays
    host.screenshot(path=str(artifacts / "csat-messenger-rated-5.png"))

    expect(panel).to_contain_text("Rated 5/5 by the contact", timeout=POLLED)
    expect(panel.locator(".parley-stars")).to_have_text("★★★★★")
    admin.screenshot(path=str(artifacts / "csat-agent-sees-5.png"), full_page=True)

    # The inbox's closed view lists the conversation with its rating.
    agent_admin.open(reverse("admin:conversations_conversation_changelist") + "?view=closed")
    expect(admin.locator("#result_list tbody tr").first.locator(".parley-stars")).to_have_text("★★★★★")
    admin.screenshot(path=str(artifacts / "csat-inbox.png"), full_page=True)
    assert ConversationRating.objects.get().rating == 5
    assert host.problems == [] and agent_admin.problems == []


def test_a_contact_who_left_rates_from_the_emailed_link_without_logging_in(
    chromium, parley_url, make_website, teammate, artifacts
):
    """The email channel: the link opens the rating page on Parley's origin, no login; the score chosen in the
    email is preselected, the contact adds a comment and sends; the page says until when it can change."""
    from django.core import mail

    from conversations import services
    from tests.contacts.factories import LeadFactory

    website = website_update(website=make_website(name="Acme Shop"), conversation_ratings_enabled=True)
    conversation = services.conversation_start_by_contact(
        contact=LeadFactory(email="lin@example.com"), body="Is the blue one back in stock?", website=website
    )
    services.conversation_reply_as_teammate(conversation=conversation, teammate=teammate, body="Yes, since today!")
    services.conversation_close(conversation=conversation, teammate=teammate)
    assert services.conversation_rating_email_send(rating_id=ConversationRating.objects.get().pk)
    three = next(line.split(": ", 1)[1] for line in mail.outbox[0].body.splitlines() if line.startswith("3/5: "))
    path = "/" + three.split("://", 1)[1].split("/", 1)[1]

    context = chromium.new_context(viewport={"width": 800, "height": 700})
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(parley_url.rstrip("/") + path)
    expect(page.locator("h1")).to_have_text("How would you rate your conversation with Acme Shop?")
    expect(page.locator("#rating-3")).to_be_checked()
    page.locator("#rating-3").focus()
    page.keyboard.press("ArrowRight")  # the native radio stars: the keyboard picks 4
    expect(page.locator("#rating-4")).to_be_checked()
    page.fill("#remark", "Great, thanks!")
    page.screenshot(path=str(artifacts / "csat-rating-page.png"), full_page=True)
    page.locator("button[type=submit]").click()
    expect(page.locator("h1")).to_have_text("Thank you! You rated 4/5")
    expect(page.locator(".quiet")).to_contain_text("You can change your rating until")
    page.screenshot(path=str(artifacts / "csat-rating-page-thanks.png"), full_page=True)
    context.close()
    rating = ConversationRating.objects.get()
    assert (rating.rating, rating.remark) == (4, "Great, thanks!") and problems == []


def test_reopening_takes_the_card_away_and_a_bulk_close_asks_only_when_ticked(
    host, make_website, agent_admin, superuser, artifacts
):
    """The visitor writes again after the team closed: the rating card of that closure goes from the messenger.
    The agent then closes it with another stale conversation from the inbox, "Ask for ratings" unticked: no
    card comes back; ticked, on a later bulk close, each conversation is asked."""
    from conversations import services
    from tests.contacts.factories import LeadFactory

    website = website_update(website=make_website(), conversation_ratings_enabled=True)
    host.page.goto(host.snippet_page("/orders", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write("My parcel has not arrived yet")
    conversation = Conversation.objects.get()
    services.conversation_reply_and_close(conversation=conversation, teammate=superuser, body="It arrives tomorrow.")
    card = host.page.locator("parley-messenger form.rt")
    expect(card.locator("legend")).to_have_text("How would you rate this conversation?", timeout=POLLED)

    # The visitor writes again under the card (reopens: that closure's request is over).
    host.page.get_by_role("textbox", name="Reply to the team").fill("Actually it was the wrong colour")
    host.page.keyboard.press("Enter")
    expect(host.page.locator("parley-messenger .m.me .bu").last).to_have_text("Actually it was the wrong colour")
    expect(card).to_have_count(0)
    host.screenshot(path=str(artifacts / "csat-reopened-no-card.png"))
    assert ConversationRating.objects.get().withdrawn_at is not None

    other = services.conversation_start_by_contact(contact=LeadFactory(), body="Hello?", website=website)
    for stale in (conversation, other):
        services.conversation_reply_as_teammate(conversation=stale, teammate=superuser, body="Looking into it")
    admin = agent_admin.page
    agent_admin.open(reverse("admin:conversations_conversation_changelist"))
    ask = admin.get_by_label("Ask for ratings")
    expect(ask).not_to_be_checked()
    for row in (conversation, other):
        admin.locator(f"input.action-select[value='{row.pk}']").check()
    admin.select_option("select[name=action]", "close_selected")
    admin.locator(".actions").screenshot(path=str(artifacts / "csat-bulk-close-unticked.png"))
    admin.locator(".actions button[type=submit], .actions input[type=submit]").first.click()
    expect(admin.locator(".messagelist")).to_contain_text("Closed 2 conversations.")
    admin.screenshot(path=str(artifacts / "csat-bulk-closed.png"), full_page=True)
    assert ConversationRating.objects.count() == 1  # the withdrawn one only
    expect(host.page.locator("parley-messenger .th")).to_contain_text("closed", timeout=POLLED)
    expect(card).to_have_count(0)

    for row in (conversation, other):
        services.conversation_reply_as_contact(conversation=row, body="One more question")
        services.conversation_reply_as_teammate(conversation=row, teammate=superuser, body="Sure")
    agent_admin.open(reverse("admin:conversations_conversation_changelist"))
    for row in (conversation, other):
        admin.locator(f"input.action-select[value='{row.pk}']").check()
    admin.select_option("select[name=action]", "close_selected")
    admin.get_by_label("Ask for ratings").check()
    admin.locator(".actions").screenshot(path=str(artifacts / "csat-bulk-close-ticked.png"))
    admin.locator(".actions button[type=submit], .actions input[type=submit]").first.click()
    expect(admin.locator(".messagelist")).to_contain_text("Closed 2 conversations.")
    assert ConversationRating.objects.filter(withdrawn_at__isnull=True).count() == 2
    expect(card.locator("legend")).to_have_text("How would you rate this conversation?", timeout=POLLED)
    host.screenshot(path=str(artifacts / "csat-bulk-close-asked.png"))
    assert host.problems == [] and agent_admin.problems == []


def test_the_emailed_page_says_the_request_is_closed_once_the_contact_writes_again(
    chromium, parley_url, make_website, teammate, artifacts
):
    from django.core import mail

    from conversations import services
    from tests.contacts.factories import LeadFactory

    website = website_update(website=make_website(name="Acme Shop"), conversation_ratings_enabled=True)
    conversation = services.conversation_start_by_contact(
        contact=LeadFactory(email="lin@example.com"), body="Is the blue one back in stock?", website=website
    )
    services.conversation_reply_as_teammate(conversation=conversation, teammate=teammate, body="Yes, since today!")
    services.conversation_close(conversation=conversation, teammate=teammate)
    assert services.conversation_rating_email_send(rating_id=ConversationRating.objects.get().pk)
    assert mail.outbox[0].from_email == "Acme Shop <support@parley.localhost>"
    link = next(line.split(": ", 1)[1] for line in mail.outbox[0].body.splitlines() if line.startswith("5/5: "))
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]

    context = chromium.new_context(viewport={"width": 800, "height": 700})
    page = context.new_page()
    page.goto(parley_url.rstrip("/") + path)  # opened, then left in a tab
    expect(page.locator("#rating-5")).to_be_checked()
    services.conversation_reply_as_contact(conversation=conversation, body="It is blue-green, not blue")

    page.locator("button[type=submit]").click()  # the tab's form, sent after the conversation reopened
    expect(page.locator("h1")).to_have_text("This rating request is closed")
    expect(page.locator("[role=alert]")).to_contain_text("The conversation was opened again")
    page.screenshot(path=str(artifacts / "csat-rating-page-reopened.png"), full_page=True)
    page.goto(parley_url.rstrip("/") + path)
    expect(page.locator("h1")).to_have_text("This rating request is closed")
    expect(page.locator("form")).to_have_count(0)
    context.close()
    assert ConversationRating.objects.get().rating is None
