"""The messenger's multipart messages as bytes on the wire: a part Django's parser skips without a word (a file
name that is not UTF-8, an empty or over-long one) refuses the message instead of sending it without the
file, and a declared length no body can have is a 413."""

import pytest

from conversations.models import Attachment, Conversation, ConversationPart
from tests.contacts.factories import ContactFactory
from tests.conversations.attachment_samples import PDF, png_bytes
from tracking.widget_auth import widget_token_sign

pytestmark = pytest.mark.django_db
ORIGIN = "https://shop.example"
BOUNDARY = b"----ParleyTestBoundary7MA4YWxk"


def _part(headers: bytes, content: bytes) -> bytes:
    return b"--" + BOUNDARY + b"\r\n" + headers + b"\r\n\r\n" + content + b"\r\n"


def _field(name: str, value: str) -> bytes:
    return _part(f'Content-Disposition: form-data; name="{name}"'.encode(), value.encode())


def _file(filename: bytes, content: bytes, mime: bytes = b"application/pdf") -> bytes:
    disposition = b'Content-Disposition: form-data; name="files"; filename="' + filename + b'"'
    return _part(disposition + b"\r\nContent-Type: " + mime, content)


def _body(*parts: bytes) -> bytes:
    return b"".join(parts) + b"--" + BOUNDARY + b"--\r\n"


def _post(client, path: str, body: bytes, **extra):
    return client.post(path, data=body, content_type="multipart/form-data; boundary=" + BOUNDARY.decode(),
                       HTTP_ORIGIN=ORIGIN, **extra)  # fmt: skip


@pytest.fixture
def sender(website):
    contact = ContactFactory()
    return contact, widget_token_sign(contact_id=contact.pk, website_id=website.pk)


def _nothing_written() -> bool:
    return not Conversation.objects.exists() and not Attachment.objects.exists()


@pytest.mark.parametrize(
    "filename",
    [
        "r\u00e9sum\u00e9.pdf".encode("latin-1"),  # Windows-1252 / Latin-1, as an old client sends it
        "\u5831\u544a.pdf".encode("shift_jis"),
        b"",  # an empty name: Django reads the part as a field
        b"..",  # a name Django drops as unsafe
        ("\u00e9" * 600).encode() + b".pdf",  # a header past the 1 KB Django reads of it
    ],
    ids=["latin-1", "shift-jis", "empty", "dot-dot", "too-long"],
)
def test_a_file_the_parser_cannot_read_refuses_the_message_naming_files(client, website, sender, filename):
    _, token = sender
    body = _body(_field("token", token), _field("body", "see the file"), _file(filename, PDF))
    response = _post(client, f"/widget-api/{website.app_id}/conversations", body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["field"] == "files" and "could not be read" in error["message"]
    assert _nothing_written()


def test_a_file_name_in_rfc_8187_whose_bytes_are_not_utf8_is_refused_too(client, website, sender):
    _, token = sender
    disposition = b"Content-Disposition: form-data; name=\"files\"; filename*=UTF-8''%ff%fe.pdf"
    body = _body(_field("token", token), _field("body", "see the file"), _part(disposition, PDF))
    response = _post(client, f"/widget-api/{website.app_id}/conversations", body)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["field"] == "files"
    assert _nothing_written()


def test_a_reply_that_lost_its_file_is_refused_and_writes_nothing(client, website, sender):
    contact, token = sender
    from conversations import services

    conversation = services.conversation_start_by_contact(contact=contact, body="Hi", website=website)
    body = _body(_field("token", token), _field("body", "here"), _file(b"ok.png", png_bytes(), b"image/png"),
                 _file("caf\u00e9.pdf".encode("cp1252"), PDF))  # fmt: skip
    response = _post(client, f"/widget-api/{website.app_id}/conversations/{conversation.public_id}/reply", body)
    assert response.status_code == 400 and response.json()["error"]["field"] == "files"
    assert ConversationPart.objects.filter(conversation=conversation).count() == 1
    assert not Attachment.objects.exists()


def test_a_field_the_parser_cannot_read_is_refused_too(client, website, sender):
    _, token = sender
    unreadable = _part(b'Content-Disposition: form-data; name="b\xf6dy"', b"hello")
    body = _body(_field("token", token), unreadable, _file(b"a.pdf", PDF))
    response = _post(client, f"/widget-api/{website.app_id}/conversations", body)
    assert response.status_code == 400 and response.json()["error"]["field"] == "body"
    assert _nothing_written()


def test_utf8_names_still_send(client, website, sender):
    _, token = sender
    name = "r\u00e9sum\u00e9 \u5831\u544a.pdf"
    body = _body(_field("token", token), _field("body", ""), _file(name.encode(), PDF), _file(b"b.pdf", PDF))
    response = _post(client, f"/widget-api/{website.app_id}/conversations", body)
    assert response.status_code == 201, response.content
    assert [a.name for a in Attachment.objects.order_by("id")] == [name, "b.pdf"]


def test_a_file_cut_short_by_the_boundary_in_its_bytes_is_refused(client, website, sender):
    """The parser splits on the boundary wherever it is: the file would arrive cut, the rest read as a part it
    cannot read (which the count sees)."""
    _, token = sender
    content = PDF + b"--" + BOUNDARY + b" and then the rest of the file\n"
    body = _body(_field("token", token), _field("body", ""), _file(b"a.pdf", content))
    response = _post(client, f"/widget-api/{website.app_id}/conversations", body)
    assert response.status_code == 400 and response.json()["error"]["field"] == "body"
    assert _nothing_written()


@pytest.mark.parametrize(
    ("declared", "status", "field"),
    [("9" * 30, 413, "files"), ("99999999999999999", 413, "files"), ("12abc", 400, "Content-Length")],
)
def test_a_declared_length_no_body_can_have_is_a_413(client, website, sender, declared, status, field):
    _, token = sender
    body = _body(_field("token", token), _file(b"a.pdf", PDF))
    response = _post(client, f"/widget-api/{website.app_id}/conversations", body, CONTENT_LENGTH=declared)
    assert response.status_code == status, response.content
    assert response.json()["error"]["field"] == field
    assert _nothing_written()


def test_a_json_message_with_a_huge_declared_length_is_a_413_too(client, website, sender):
    _, token = sender
    response = client.post(f"/widget-api/{website.app_id}/conversations", data=f'{{"token": "{token}", "body": "x"}}',
                           content_type="text/plain", HTTP_ORIGIN=ORIGIN, CONTENT_LENGTH="9" * 30)  # fmt: skip
    assert response.status_code == 413 and response.json()["error"]["field"] == "body"
