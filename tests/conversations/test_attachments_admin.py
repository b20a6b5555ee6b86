"""Attachments in the admin: the website's limits, the conversation page's composer and thread, the file door."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from contacts.models import Contact
from conversations import services
from conversations.admin.attachments import attachment_admin_url
from conversations.models import Attachment
from tests.contacts.factories import ContactFactory
from tests.conversations.attachment_samples import HTML_PAGE, METADATA_WORDS, PDF, photo, pixels, png_bytes, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(website):
    return services.conversation_start_by_contact(
        contact=ContactFactory(role=Contact.Role.LEAD), body="Hello", website=website,
        files=[upload("screenshot.png", png_bytes())],
    )  # fmt: skip


def _page(conversation):
    return reverse("admin:conversations_conversation_change", args=[conversation.pk])


def test_the_page_shows_the_visitors_image_inline_and_the_composer_takes_files(admin_client, conversation):
    page = admin_client.get(_page(conversation)).content.decode()
    attachment = Attachment.objects.get()
    assert f"/admin/conversations/attachment/{attachment.public_id}/file?v=thumb" in page
    assert 'alt="screenshot.png"' in page
    assert 'enctype="multipart/form-data"' in page and 'name="files"' in page
    assert "10 MB each" in page


def test_a_teammate_replies_with_a_pdf_and_notes_with_a_file(admin_client, conversation):
    response = admin_client.post(
        _page(conversation), {"do": "reply", "body": "The guide", "files": upload("guide.pdf", PDF)}
    )
    assert response.status_code == 302
    reply = conversation.parts.exclude(author_teammate=None).get(part_type="comment")
    assert reply.attachments.get().name == "guide.pdf"
    admin_client.post(_page(conversation), {"do": "note", "body": "", "files": upload("log.txt", b"trace\n")})
    assert conversation.parts.get(part_type="note").attachments.get().content_type == "text/plain"
    page = admin_client.get(_page(conversation)).content.decode()
    assert 'download="guide.pdf"' in page


def test_a_refused_file_is_said_on_the_page_and_the_text_kept(admin_client, conversation):
    response = admin_client.post(
        _page(conversation), {"do": "reply", "body": "Look", "files": upload("cat.png", HTML_PAGE)}, follow=True
    )
    said = " ".join(str(m) for m in response.context["messages"])
    assert "cat.png" in said and "cannot be sent here" in said
    assert ">Look</textarea>" in response.content.decode()
    assert Attachment.objects.count() == 1


def test_the_page_runs_a_fixed_number_of_queries_whatever_the_files(admin_client, conversation, teammate):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(_page(conversation)).status_code == 200
        return len(queries)

    count()
    before = count()
    for _ in range(3):
        services.conversation_reply_as_teammate(conversation=conversation, teammate=teammate, body="x",
                                                files=[upload("a.pdf", PDF), upload("b.png", png_bytes())])  # fmt: skip
    assert count() == before


def test_the_poll_carries_new_files(admin_client, conversation, teammate):
    last = conversation.parts.order_by("-id").first().pk
    services.conversation_reply_as_contact(conversation=conversation, body="", files=[upload("more.pdf", PDF)])
    url = reverse("admin:conversations_conversation_poll", args=[conversation.pk])
    parts = admin_client.get(url, {"after": last}).json()["parts"]
    assert parts[-1]["attachments"][0]["name"] == "more.pdf"
    assert parts[-1]["attachments"][0]["url"].startswith("/admin/conversations/attachment/")


def test_the_file_door_wants_a_teammate_who_may_read_and_a_valid_link(admin_client, conversation):
    from django.test import Client

    attachment = Attachment.objects.get()
    url = attachment_admin_url(attachment)
    response = admin_client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert "sandbox" in response["Content-Security-Policy"]
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"
    assert Client().get(url).status_code == 403  # no session: never the file, nor a login page
    assert admin_client.get(url.replace("sig=", "sig=a")).status_code == 403
    assert admin_client.get(url.split("?")[0]).status_code == 403
    assert admin_client.post(url).status_code == 405
    assert admin_client.get(reverse("admin:conversations_attachment_changelist")).status_code == 403


def test_the_page_names_an_image_with_its_size_and_a_link_that_saves_it_under_its_name(admin_client, conversation):
    """The thumbnail opens the image; under it the name and size, saving the original under its name."""
    attachment = Attachment.objects.get()
    page = admin_client.get(_page(conversation)).content.decode()
    save = attachment_admin_url(attachment, Attachment.Variant.DOWNLOAD).replace("&", "&amp;")
    assert (
        f'<a href="{save}" class="parley-file-link" download="screenshot.png">screenshot.png</a> <small>1 kB</small>'
        in page
    )
    saved = admin_client.get(attachment_admin_url(attachment, Attachment.Variant.DOWNLOAD))
    assert saved.status_code == 200 and saved["Content-Type"] == "image/png"
    assert saved["Content-Disposition"] == "attachment; filename=\"screenshot.png\"; filename*=UTF-8''screenshot.png"
    assert b"".join(saved.streaming_content) == b"".join(
        admin_client.get(attachment_admin_url(attachment)).streaming_content
    )
    url = reverse("admin:conversations_conversation_poll", args=[conversation.pk])
    [shown] = admin_client.get(url, {"after": 0}).json()["parts"][0]["attachments"]
    assert "v=download" in shown["download_url"] and (shown["name"], shown["size"]) == ("screenshot.png", "1 kB")


def test_the_website_page_sets_the_limits_from_the_catalog_only(admin_client, website):
    url = reverse("admin:tracking_website_change", args=[website.pk])
    form = admin_client.get(url).content.decode()
    assert 'value="image/svg+xml"' in form and 'value="text/html"' not in form
    data = {
        "name": website.name, "allowed_origins": "https://shop.example", "identity_verification": "enforced",
        "tracking_mode": "full", "marketing_basis": "consent", "support_basis": "", "analytics_basis": "consent",
        "ask_email_after_seconds": "120", "email_unread_replies_after_minutes": "5", "attachment_max_mb": "3",
        "attachment_types": ["application/pdf", "image/png"],
    }  # fmt: skip
    assert admin_client.post(url, data).status_code == 302
    website.refresh_from_db()
    assert (website.attachment_max_mb, website.attachment_types) == (3, ["application/pdf", "image/png"])
    refused = admin_client.post(url, {**data, "attachment_types": ["text/html"], "attachment_max_mb": "500"})
    assert refused.status_code == 200
    assert "text/html is not one of the available choices" in refused.content.decode()
    assert "less than or equal to 50" in refused.content.decode()


def test_a_file_name_with_markup_is_shown_as_text(admin_client, website):
    hostile = "<img src=x onerror=alert(1)>.pdf"
    conversation = services.conversation_start_by_contact(
        contact=ContactFactory(), body="", website=website, files=[upload(hostile, PDF)]
    )
    page = admin_client.get(_page(conversation)).content.decode()
    assert "<img src=x onerror" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;.pdf" in page


@pytest.mark.parametrize(("name", "pillow_format"), [("holiday.jpg", "JPEG"), ("scan.png", "PNG")])
def test_a_teammates_photo_is_sent_without_its_metadata(admin_client, conversation, name, pillow_format):
    sent = photo(pillow_format)
    response = admin_client.post(_page(conversation), {"do": "reply", "body": "Here", "files": upload(name, sent)})
    assert response.status_code == 302
    reply = conversation.parts.exclude(author_teammate=None).get(part_type="comment").attachments.get()
    opened = b"".join(admin_client.get(attachment_admin_url(reply)).streaming_content)
    assert reply.size == len(opened) < len(sent)
    assert not [word for word in METADATA_WORDS if word in opened]
    assert pixels(opened) == pixels(sent)
