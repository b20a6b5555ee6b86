"""Journey: a visitor on a shop of another origin sends a screenshot (paperclip, paste, drop); the agent sees
it inline in the admin and answers with a PDF, which the visitor downloads. Refusals are shown to each."""

import io
import random
from pathlib import Path

import pytest
from django.urls import reverse
from PIL import Image
from playwright.sync_api import expect

from conversations.models import Attachment, Conversation
from tests.conversations.attachment_samples import HTML_PAGE, PDF, png_bytes
from tests.e2e.conftest import NEWEST_IN_VIEW, parley_outage, visitor_writes_then_has_more

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
# The photos of the thread still loading (not decoded yet): the box each takes meanwhile.
LOADING_BOXES = """() => [...document.querySelector('parley-messenger').shadowRoot.querySelectorAll('.fs img')]
  .filter((img) => !img.complete).map((img) => ({
    width: img.getBoundingClientRect().width, height: img.getBoundingClientRect().height,
    grey: getComputedStyle(img).backgroundColor !== 'rgba(0, 0, 0, 0)',
  }))"""
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
    expect(messenger.locator(".m.me .fs a.f").last).to_have_text("dropped.pdf · 1 kB", timeout=15_000)
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
    expect(link).to_have_text("payment-guide.pdf · 1 kB", timeout=15_000)
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


ALL_IMAGES_SHOWN = """(selector) => {
  const images = document.querySelector('parley-messenger').shadowRoot.querySelectorAll(selector);
  return images.length > 0 && Array.from(images).every((img) => img.complete && img.naturalWidth > 0);
}"""


def test_a_thread_of_photos_opens_at_its_newest_message(host, make_website, artifacts):
    """Images have no height until they load: the thread scrolled to the bottom before they did, then they pushed
    the newest message out of view (a new-user walk found the messenger opening at the top of such a thread)."""
    website = make_website()
    host.page.goto(host.snippet_page("/photos", website.app_id))
    host.wait_booted()
    host.launcher().click()
    messenger = host.page.locator("parley-messenger")
    for index in range(3):
        messenger.locator("input[type=file]").set_input_files(
            {"name": f"photo-{index}.png", "mimeType": "image/png", "buffer": _photo_png(300, 900, seed=index)}
        )
        expect(messenger.locator(".ch")).to_contain_text(f"photo-{index}.png")
        messenger.locator("textarea").fill(f"Photo {index}")
        host.page.keyboard.press("Enter")
        expect(messenger.locator(".m.me .fs img")).to_have_count(index + 1, timeout=15_000)
    messenger.locator("textarea").fill("And that's all of them")
    host.page.keyboard.press("Enter")
    expect(messenger.locator(".m.me").last).to_contain_text("And that's all of them")

    # Later the visitor comes back, on a slow network, and opens the conversation: the photos come from the network,
    # not the cache that would give them their height at once. Each takes its height when its first bytes come, well
    # before it has loaded: the thread grows under the messenger's own scroll, which must not count as the visitor's.
    network = host.context.new_cdp_session(host.page)
    network.send("Network.enable")
    network.send("Network.setCacheDisabled", {"cacheDisabled": True})
    network.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 40, "downloadThroughput": 64 * 1024, "uploadThroughput": 64 * 1024},
    )
    host.page.reload()
    host.wait_booted()
    host.launcher().click()  # it opens in the conversation the visitor left the page in
    expect(messenger.locator(".m.me .fs img")).to_have_count(3)
    # A photo still on its way is a grey box of its own, not a blank gap (a walk found the thread full of holes).
    loading = host.page.evaluate(LOADING_BOXES)
    assert loading and all(box["width"] >= 160 and box["height"] >= 120 and box["grey"] for box in loading), loading
    host.screenshot(path=str(artifacts / "messenger-photos-loading.png"))
    # Every photo loaded (in whatever order the network gave them: on a busy machine, seconds apart), the newest
    # message is in view.
    host.page.wait_for_function(ALL_IMAGES_SHOWN, arg=".m.me .fs img", timeout=15_000)
    host.page.wait_for_function(NEWEST_IN_VIEW, timeout=15_000)  # the scroll after the last photo, under load
    host.screenshot(path=str(artifacts / "messenger-photo-thread-newest.png"))
    assert host.problems == []


def test_back_from_a_thread_shows_the_list_from_its_top(host, make_website, artifacts):
    """Keeping a thread at its newest message must not follow the visitor out of it: the list they go back to opens at
    its top, with its newest conversations and the button to start one in view."""
    website = make_website()
    more = [f"Where is order {number}?" for number in range(2, 16)]
    visitor_writes_then_has_more(host, website, "/orders", "Where is order 1?", more)
    host.page.reload()
    host.wait_booted()
    host.launcher().click()  # in the conversation the visitor left the page in, at its newest message
    messenger = host.page.locator("parley-messenger")
    expect(messenger.locator(".m.me .bu")).to_have_text(["Where is order 1?"])
    messenger.get_by_role("button", name="Back").click()
    expect(messenger.locator(".ls li")).to_have_count(15)
    expect(messenger.locator(".cta")).to_be_in_viewport()
    assert messenger.locator(".bd").evaluate("(body) => body.scrollTop") == 0
    host.screenshot(path=str(artifacts / "messenger-back-to-the-list.png"))
    # Scrolling the list past its end scrolls the list, never the shop's page behind it.
    host.page.evaluate("document.body.style.height = '4000px'")
    messenger.locator(".ls").hover()
    for _ in range(4):
        host.page.mouse.wheel(0, 1500)
    expect(messenger.locator(".ls li").last).to_be_in_viewport()
    assert host.page.evaluate("window.scrollY") == 0
    assert host.problems == []


def _photo_png(width: int, height: int, seed: int) -> bytes:
    """A photo-sized PNG (noise does not compress): about width * height * 3 bytes."""
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), random.Random(seed).randbytes(width * height * 3)).save(out, "PNG")
    return out.getvalue()


def _size_label(size: int) -> str:
    """What a person reads for a file's size: "1.4 MB", under a megabyte whole kilobytes (en-US's "kB")."""
    return f"{size / 1048576:.1f} MB" if size >= 1048576 else f"{max(1, round(size / 1024))} kB"


def test_images_show_their_name_and_size_and_save_under_their_name(host, make_website, agent_admin, artifacts):
    """A new user found an image in the thread with no name or size, and no way to save it under its name: the link
    to the full image opened it in a tab, and the messenger's `download` attribute does nothing across origins."""
    website = make_website()
    host.page.goto(host.snippet_page("/claims", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write("I'm sending the photo of the receipt")
    conversation = Conversation.objects.get()
    agent = agent_admin.page
    agent_admin.open(reverse("admin:conversations_conversation_change", args=[conversation.pk]))

    # A name with accents, an apostrophe and a semicolon: the header names it exactly, as one parameter. (Quotes
    # and line breaks never reach the header as such: browsers send them in a multipart name as %22, %0D, %0A.)
    name = "Reçu d'été; 2024.png"
    photo = _photo_png(800, 600, seed=7)
    messenger = host.page.locator("parley-messenger")
    messenger.locator("input[type=file]").set_input_files({"name": name, "mimeType": "image/png", "buffer": photo})
    expect(messenger.locator(".ch")).to_contain_text(name)
    host.page.keyboard.press("Enter")
    host.page.wait_for_function(IMAGE_SHOWN, arg=".m.me .fi img", timeout=15_000)
    stored = Attachment.objects.get()
    assert (stored.name, stored.size > 1048576) == (name, True)
    caption = messenger.locator(".m.me .fi a.f")
    expect(caption).to_have_text(f"{name} · {_size_label(stored.size)}")
    assert "v=file" in messenger.locator(".m.me .fi a:has(img)").get_attribute("href")  # the thumbnail shows it
    host.screenshot(path=str(artifacts / "attachments-image-caption-visitor.png"))
    with host.page.expect_download() as download:
        caption.click()
    assert download.value.suggested_filename == name
    assert Path(download.value.path()).stat().st_size == stored.size

    # The agent's open page gets the photo from its poll, then on a fresh load: the same caption either way.
    for fresh in (False, True):
        if fresh:
            agent.reload()
        figure = agent.locator(".parley-part.from-contact .parley-file-figure").last
        expect(figure.locator("img")).to_have_attribute("alt", name, timeout=15_000)
        expect(figure.locator(".parley-file-save")).to_have_text(f"{name} {_size_label(stored.size)}")
    agent.screenshot(path=str(artifacts / "attachments-image-caption-agent.png"), full_page=True)
    with agent.expect_download() as saved:
        figure.locator(".parley-file-link").click()
    assert saved.value.suggested_filename == name

    # The agent answers with a small picture; the visitor's messenger names it and its size too.
    agent.locator("#parley-body").fill("Thanks! Here is the map to our shop.")
    agent.locator("#parley-files").set_input_files(
        {"name": "plan d'accès.png", "mimeType": "image/png", "buffer": png_bytes(120, 90, (30, 160, 90))}
    )
    agent.get_by_role("button", name="Send reply").click()
    expect(agent.get_by_text("Reply sent.")).to_be_visible()
    answer = Attachment.objects.get(name="plan d'accès.png")
    theirs = messenger.locator(".m:not(.me) .fi a.f")
    expect(theirs).to_have_text(f"plan d'accès.png · {_size_label(answer.size)}", timeout=15_000)
    host.page.wait_for_function(IMAGE_SHOWN, arg=".m:not(.me) .fi img", timeout=15_000)
    host.screenshot(path=str(artifacts / "attachments-image-caption-reply.png"))
    with host.page.expect_download() as download:
        theirs.click()
    assert download.value.suggested_filename == "plan d'accès.png"
    assert agent_admin.problems == []
    assert host.problems == []


def test_a_file_name_with_quotes_keeps_them_for_the_visitor_and_the_agent(host, make_website, agent_admin, artifacts):
    """Chromium escapes `"` in a multipart part's file name as %22 (the HTML standard): both doors undo it
    (common.uploads), so each side reads the name as its sender wrote it."""
    website = make_website()
    host.page.goto(host.snippet_page("/quotes", website.app_id))
    host.wait_booted()
    host.launcher().click()
    messenger = host.page.locator("parley-messenger")
    sent = 'the "final" plan.pdf'
    messenger.locator("input[type=file]").set_input_files({"name": sent, "mimeType": "application/pdf", "buffer": PDF})
    expect(messenger.locator(".ch")).to_contain_text(sent)  # chosen: the file goes with the next message
    messenger.locator("textarea").fill("Here is the plan")
    host.page.keyboard.press("Enter")
    expect(messenger.locator(".m.me .fs a.f")).to_have_text(f"{sent} · 1 kB", timeout=15_000)
    stored = Attachment.objects.get().name

    agent = agent_admin.page
    agent_admin.open(reverse("admin:conversations_conversation_change", args=[Conversation.objects.get().pk]))
    expect(agent.locator(".parley-part.from-contact .parley-file-link")).to_have_text(stored)
    agent.locator("#parley-files").set_input_files(
        {"name": 'reply "v2".pdf', "mimeType": "application/pdf", "buffer": PDF}
    )
    agent.get_by_role("button", name="Send reply").click()
    expect(agent.get_by_text("Reply sent.")).to_be_visible()
    expect(agent.locator(".parley-part.from-teammate .parley-file-link")).to_have_text('reply "v2".pdf')
    expect(messenger.locator(".m:not(.me) .fs a.f")).to_have_text('reply "v2".pdf · 1 kB', timeout=15_000)
    host.screenshot(path=str(artifacts / "attachments-quoted-names.png"))
    assert stored == sent, "the visitor's file was stored under a name Chromium escaped"


def test_a_file_that_met_parleys_outage_goes_again_by_itself_once_parley_answers(host, make_website, artifacts):
    """The attack review: a message with a file answered 503 (sent by its own upload, not by the calls that learn
    Parley is back) showed "Not sent." and waited for a Retry, though the messenger said it would keep trying."""
    website = make_website()
    host.page.goto(host.snippet_page("/checkout", website.app_id))
    host.wait_booted()
    host.launcher().click()
    host.write("My receipt is wrong")
    messenger = host.page.locator("parley-messenger")
    host.page.route("**/reply", parley_outage)
    messenger.locator("input[type=file]").set_input_files(
        {"name": "receipt.png", "mimeType": "image/png", "buffer": png_bytes(120, 80, (20, 90, 200))}
    )
    expect(messenger.locator(".ch")).to_contain_text("receipt.png")
    messenger.locator("textarea").fill("Here it is")
    host.page.keyboard.press("Enter")
    expect(messenger.locator(".m.fail .fl")).to_have_text("Retry")
    host.page.unroute("**/reply")  # Parley is back: the next poll's answer sends it again

    expect(messenger.locator(".m.fail, .m.pd")).to_have_count(0, timeout=15_000)
    host.page.wait_for_function(IMAGE_SHOWN, arg=".m.me .fs img", timeout=15_000)
    host.screenshot(path=str(artifacts / "messenger-file-sent-after-outage.png"))
    conversation = Conversation.objects.get()
    assert list(conversation.parts.filter(part_type="comment").values_list("body", flat=True)) == [
        "My receipt is wrong",
        "Here it is",
    ]
    assert list(Attachment.objects.values_list("name", flat=True)) == ["receipt.png"]
