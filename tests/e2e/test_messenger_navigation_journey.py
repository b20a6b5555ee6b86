"""A visitor who sends a message and leaves the page at once (follows a link, a form's redirect): the message still
reaches the team; the next page's messenger lists it."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from conversations.models import Conversation
from tests.e2e.test_messenger_queue_journey import Held, _open_messenger
from tests.faults.support import wait_until

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]


def _bodies(conversation: Conversation) -> list[str]:
    return list(conversation.parts.filter(part_type="comment").order_by("id").values_list("body", flat=True))


def test_a_message_on_its_way_when_the_visitor_follows_a_link_reaches_the_team(
    host, make_website, agent_admin, artifacts
):
    messenger = _open_messenger(host, make_website)
    host.write("Is the blue one in stock?")
    conversation = Conversation.objects.get()
    website = conversation.website

    held = Held(host.page, "/reply")  # a slow network: the reply is on its way when the visitor leaves
    messenger.locator("textarea").fill("Size 42, please")
    with host.page.expect_request(lambda request: request.url.endswith("/reply")):
        host.page.keyboard.press("Enter")
    expect(messenger.locator(".m.pd")).to_have_text("Size 42, please")
    host.page.goto(host.snippet_page("/checkout", website.app_id))
    held.release()

    wait_until(lambda: _bodies(conversation) == ["Is the blue one in stock?", "Size 42, please"], what="the reply stored")
    host.wait_booted()
    host.launcher().click()
    row = messenger.locator("li").filter(has_text="Size 42, please")
    expect(row).to_have_count(1)  # the list: its last message, the one sent while leaving
    row.locator("button").click()
    expect(messenger.locator(".m.me .bu")).to_have_text(["Is the blue one in stock?", "Size 42, please"])
    host.screenshot(path=str(artifacts / "messenger-sent-while-leaving.png"))

    agent_admin.open(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
    expect(agent_admin.page.locator(".parley-thread")).to_contain_text("Size 42, please")
    assert not host.problems
