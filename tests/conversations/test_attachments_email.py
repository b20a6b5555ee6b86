"""Attachments by email: the contact's files are kept (within the limits, the rest named in a note), the
teammate's files travel with the reply email."""

from email.message import EmailMessage

import pytest
from django.core import mail
from django.test import override_settings

from conversations import email_links, services
from conversations.models import Attachment, Conversation, ConversationPart
from tests.contacts.factories import UserContactFactory
from tests.conversations.attachment_samples import EXECUTABLE, METADATA_WORDS, PDF, photo, pixels, png_bytes, upload
from tests.conversations.factories import TeammateFactory

pytestmark = pytest.mark.django_db


def _email_with_files(*, to: str, sender: str, text: str, files: list[tuple[str, bytes, str]]) -> bytes:
    email = EmailMessage()
    email["From"], email["To"], email["Subject"] = sender, to, "Re: your question"
    email.set_content(text)
    for name, content, mime in files:
        maintype, subtype = mime.split("/")
        email.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    return email.as_bytes()


def test_an_emailed_reply_keeps_its_files_and_notes_the_ones_left_out(client):
    user = UserContactFactory(email="ada@example.com")
    conversation = services.conversation_start_by_contact(contact=user, body="Hi", source=Conversation.Source.EMAIL)
    raw = _email_with_files(
        to=email_links.reply_address(conversation_id=conversation.pk), sender="ada@example.com", text="Here it is",
        files=[("screen.png", png_bytes(), "image/png"), ("../../setup.pdf", EXECUTABLE, "application/pdf"),
               ("scan.pdf", PDF, "application/pdf")],
    )  # fmt: skip
    response = client.post("/email/inbound", data=raw, content_type="message/rfc822")
    assert response.status_code == 201, response.content
    kept = Attachment.objects.filter(part__conversation=conversation).order_by("id")
    assert [(a.name, a.content_type, a.is_inline_image) for a in kept] == [
        ("screen.png", "image/png", True), ("scan.pdf", "application/pdf", False),
    ]  # fmt: skip
    assert any("setup.pdf" in w and "cannot be sent here" in w for w in response.json()["warnings"])
    note = conversation.parts.get(part_type=ConversationPart.Type.NOTE)
    assert "setup.pdf" in note.body


def test_an_email_with_only_a_file_opens_a_conversation_at_the_support_address(client):
    raw = _email_with_files(to="support@parley.localhost", sender="grace@example.com", text="",
                            files=[("invoice.pdf", PDF, "application/pdf")])  # fmt: skip
    response = client.post("/email/inbound", data=raw, content_type="message/rfc822")
    assert response.status_code == 201, response.content
    assert Attachment.objects.get().name == "invoice.pdf"


def test_a_large_emailed_file_is_read_beyond_the_form_data_limit(client):
    user = UserContactFactory(email="ada@example.com")
    conversation = services.conversation_start_by_contact(contact=user, body="Hi")
    big = PDF + b"0" * (4 * 1024 * 1024)  # the email is over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB)
    raw = _email_with_files(to=email_links.reply_address(conversation_id=conversation.pk), sender="ada@example.com",
                            text="big one", files=[("big.pdf", big, "application/pdf")])  # fmt: skip
    response = client.post("/email/inbound", data=raw, content_type="message/rfc822")
    assert response.status_code == 201, response.content
    assert Attachment.objects.get().size == len(big)


@override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
def test_a_teammates_reply_email_carries_the_files():
    user = UserContactFactory(email="ada@example.com")
    conversation = services.conversation_start_by_contact(contact=user, body="Hi", source=Conversation.Source.EMAIL)
    part = services.conversation_reply_as_teammate(
        conversation=conversation, teammate=TeammateFactory(), body="The guide and a photo",
        files=[upload("guide.pdf", PDF), upload("photo.png", png_bytes())],
    )  # fmt: skip
    assert services.conversation_reply_email_send(part_id=part.pk)  # what the task queued on commit runs
    [email] = mail.outbox
    assert [(name, mime) for name, _content, mime in email.attachments] == [
        ("guide.pdf", "application/pdf"), ("photo.png", "image/png"),
    ]  # fmt: skip
    assert email.attachments[0][1] == PDF


@override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
def test_files_too_large_for_one_email_are_named_in_it(monkeypatch):
    from conversations.services import attachments

    monkeypatch.setattr(attachments, "EMAIL_ATTACHMENTS_MAX_BYTES", len(PDF) + 10)
    user = UserContactFactory(email="ada@example.com")
    conversation = services.conversation_start_by_contact(contact=user, body="Hi", source=Conversation.Source.EMAIL)
    part = services.conversation_reply_as_teammate(
        conversation=conversation, teammate=TeammateFactory(), body="Two files",
        files=[upload("guide.pdf", PDF), upload("manual.pdf", PDF)],
    )  # fmt: skip
    assert services.conversation_reply_email_send(part_id=part.pk)
    [email] = mail.outbox
    assert [name for name, _c, _m in email.attachments] == ["guide.pdf"]
    assert "manual.pdf" in email.body


def _reply_with_many_files(client, count: int):
    user = UserContactFactory(email="ada@example.com")
    conversation = services.conversation_start_by_contact(contact=user, body="Hi", source=Conversation.Source.EMAIL)
    raw = _email_with_files(to=email_links.reply_address(conversation_id=conversation.pk), sender="ada@example.com",
                            text="many", files=[(f"{i}.pdf", PDF, "application/pdf") for i in range(count)])  # fmt: skip
    response = client.post("/email/inbound", data=raw, content_type="message/rfc822")
    assert response.status_code == 201, response.content
    return conversation, response.json()["warnings"]


def test_files_past_the_read_limit_of_one_email_are_counted_in_one_line_never_checked():
    from django.test import Client

    from conversations.services.inbound import EMAIL_MAX_FILES_READ

    conversation, warnings = _reply_with_many_files(Client(), EMAIL_MAX_FILES_READ + 7)
    assert Attachment.objects.filter(part__conversation=conversation).count() == 10  # PARLEY_ATTACHMENT_MAX_FILES
    assert sum("per message" in w for w in warnings) == EMAIL_MAX_FILES_READ - 10
    assert "Not kept: 7 more attachments" in "\n".join(warnings)
    note = conversation.parts.get(part_type=ConversationPart.Type.NOTE)
    assert "7 more attachments" in note.body


def test_parts_past_the_part_limit_of_one_email_are_not_read(client):
    from conversations.services.inbound import EMAIL_MAX_PARTS_READ

    _, warnings = _reply_with_many_files(client, EMAIL_MAX_PARTS_READ + 3)
    assert any(f"more than {EMAIL_MAX_PARTS_READ} attachments" in w for w in warnings)


def test_an_emailed_photo_is_kept_without_its_metadata(client):
    user = UserContactFactory(email="ada@example.com")
    conversation = services.conversation_start_by_contact(contact=user, body="Hi", source=Conversation.Source.EMAIL)
    sent = photo("JPEG", orientation=8)
    raw = _email_with_files(to=email_links.reply_address(conversation_id=conversation.pk), sender="ada@example.com",
                            text="The photo", files=[("IMG_1.jpg", sent, "image/jpeg")])  # fmt: skip
    assert client.post("/email/inbound", data=raw, content_type="message/rfc822").status_code == 201
    attachment = Attachment.objects.get(part__conversation=conversation)
    with attachment.file.open("rb") as stored:
        kept = stored.read()
    assert attachment.size == len(kept) < len(sent)
    assert not [word for word in METADATA_WORDS if word in kept]
    assert pixels(kept) == pixels(sent) and (attachment.width, attachment.height) == (48, 64)
