"""Journey: a visitor on a shop of another origin sends a screenshot (paperclip, paste, drop); the agent sees
it inline in the admin and answers with a PDF, which the visitor downloads. Refusals are shown to each."""

from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from conversations.models import Attachment, Conversation
from tests.conversations.attachment_samples import HTML_PAGE, PDF, png_bytes

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.urls("tests.e2e.urls"),
]

# An image in the messenger's shadow root that the browser actually decoded (not a broken-image icon).
IMAGE_SHOWN = """(selector) => {
  const host = document.querySelector('parley-messenger');
  const img = host && host.shadowRoot.querySelector(selector);
  return !!img && img.complete && img.naturalWidth > 0;
}"""
# A paste or a drop of one file, as the browser dispatches it from the clipboard or the desktop.
DISPATCH_FILE = """([selector, kind, name, type, bytes]) => {
  const target = document.querySelector('parley-messenger').shadowRoot.querySelector(selector);
  const data = new DataTransfer();
  data.items.add(new File([new Uint8Array(bytes)], name, {type}));
  const init = {bubbles: true, cancelable: true, composed: true};
  const event = kind === 'paste' ? new ClipboardEvent('paste', {...init, clipboardData: data})
                                 : new DragEvent('drop', {...init, dataTransfer: data});
  target.dispatchEvent(event);
}"""


def test_visitor_sends_a_screenshot_and_downloads_the_agents_pdf(host, make_website, agent_admin, artifacts):
    website = make_website()
    host.page.goto(host.snippet_page("/checkout", website.app_id))
    host.wait_booted()
    host.launcher().click()
    messenger = host.page.locator("parley-messenger")

    # The paperclip: a screenshot, then a caption; sent together, with an upload progress bar on the way.
    messenger.locator("input[type=file]").set_input_files(
        {"name": "error-screenshot.png", "mimeType": "image/png", "buffer": png_bytes(320, 200, (220, 40, 40))}
    )
    expect(messenger.locator(".ch")).to_contain_text("error-screenshot.png")
    messenger.locator("textarea").fill("The payment page shows this error")
    host.page.keyboard.press("Enter")
    host.page.wait_for_function(IMAGE_SHOWN, arg=".m.me .fs img", timeout=15_000)
    expect(messenger.locator("textarea")).to_have_attribute("aria-label", "Reply to the team")
    conversation = Conversation.objects.get()
    first = Attachment.objects.get()
    assert (first.name, first.content_type, first.width) == ("error-screenshot.png", "image/png", 320)

    # Paste and drop add files to the next message too.
    messenger.locator("textarea").click()
    host.page.evaluate(DISPATCH_FILE, ["textarea", "paste", "pasted.png", "image/png", list(png_bytes(40, 40))])
    expect(messenger.locator(".ch")).to_contain_text("pasted.png")
    host.page.evaluate(DISPATCH_FILE, [".bd", "drop", "dropped.pdf", "application/pdf", list(PDF)])
    expect(messenger.locator(".ch")).to_contain_text("dropped.pdf")
    host.page.keyboard.press("Enter")
    expect(messenger.locator(".m.me .fs a.f").last).to_have_text("dropped.pdf", timeout=15_000)
    assert Attachment.objects.count() == 3

    # A page disguised as an image: the server reads what it is and the visitor is told, where files are
    # chosen; nothing was sent, so no message stays in the thread.
    sent_before = messenger.locator(".m.me").count()
    messenger.locator("input[type=file]").set_input_files(
        {"name": "cat.png", "mimeType": "image/png", "buffer": HTML_PAGE}
    )
    host.page.keyboard.press("Enter")
    expect(messenger.locator(".ae")).to_contain_text("cannot be sent here", timeout=15_000)
    expect(messenger.locator(".m.me")).to_have_count(sent_before)
    assert Attachment.objects.count() == 3

    # The agent sees the screenshot inline, as a thumbnail, and answers with a PDF.
    agent = agent_admin.page
    agent_admin.open(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
    thumbnail = agent.locator(".parley-part.from-contact .parley-files img").first
    expect(thumbnail).to_have_attribute("alt", "error-screenshot.png")
    agent.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle())
    assert "v=thumb" in thumbnail.get_attribute("src")
    agent.locator("#parley-body").fill("Here is the payment guide, page 2 explains this error.")
    agent.locator("#parley-files").set_input_files(
        {"name": "payment-guide.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    expect(agent.locator("#parley-files-chosen")).to_have_text("payment-guide.pdf")
    agent.get_by_role("button", name="Send reply").click()
    expect(agent.get_by_text("Reply sent.")).to_be_visible()
    expect(agent.locator(".parley-part.from-teammate .parley-file-link")).to_have_text("payment-guide.pdf")
    agent.screenshot(path=str(artifacts / "attachments-agent-thread.png"), full_page=True)

    # The visitor's open messenger brings the reply; its PDF downloads through a link made for the visitor.
    link = messenger.locator(".m:not(.me) .fs a.f")
    expect(link).to_have_text("payment-guide.pdf", timeout=15_000)
    host.screenshot(path=str(artifacts / "attachments-visitor.png"))
    with host.page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == "payment-guide.pdf"
    assert Path(download.value.path()).read_bytes() == PDF

    # The link carries no credential (copied or kept in history it opens this one file for an hour); a
    # link tampered with, in another browser, is never the file.
    href = link.get_attribute("href")
    assert "token" not in href and "token" not in messenger.locator(".fs img").first.get_attribute("src")
    stranger = host.context.browser.new_context()
    try:
        answer = stranger.request.get(href.replace("v=file", "v=thumb"))
        assert answer.status == 403
    finally:
        stranger.close()
    assert agent_admin.problems == []
    assert [p for p in host.problems if "400" not in p] == []
