"""Attachments through the messenger's endpoints: sending, opening, and every way to be refused."""

import io
import re
from urllib.parse import unquote

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.http import HttpResponse
from django.test.utils import CaptureQueriesContext
from PIL import Image

from contacts import services as contact_services
from contacts.models import PrivacyAuditEntry
from contacts.permissions import ensure_teammate_groups
from conversations import services
from conversations.attachment_responses import content_disposition
from conversations.models import Attachment, Conversation
from tests.contacts.factories import ContactFactory
from tests.conversations.attachment_samples import (
    HTML_PAGE,
    METADATA_WORDS,
    ORIENTATION,
    PDF,
    SVG_WITH_SCRIPT,
    photo,
    pixels,
    png_bytes,
    upload,
)
from tests.conversations.factories import TeammateFactory
from tests.tracking.factories import WebsiteFactory
from tracking.widget_auth import widget_token_sign

pytestmark = pytest.mark.django_db
ORIGIN = "https://shop.example"


def _token(contact, website):
    return widget_token_sign(contact_id=contact.pk, website_id=website.pk)


def _send(client, website, path, *, files, **fields):
    data = {**fields, "files": files}
    return client.post(f"/widget-api/{website.app_id}/{path}", data=data, HTTP_ORIGIN=ORIGIN)


def _open(client, url, **headers):
    return client.get(url, **headers)


@pytest.fixture
def visitor_conversation(client, website):
    visitor = ContactFactory()
    token = _token(visitor, website)
    response = _send(client, website, "conversations", token=token, body="", files=[upload("shot.png", png_bytes())])
    assert response.status_code == 201, response.content
    return visitor, token, response.json()["conversation"]


def test_a_visitor_starts_a_conversation_with_only_an_image_and_opens_it(client, website, visitor_conversation):
    __visitor, token, conversation = visitor_conversation
    [part] = conversation["parts"]
    [shown] = part["attachments"]
    assert (shown["name"], shown["content_type"], shown["inline"], shown["width"]) == (
        "shot.png",
        "image/png",
        True,
        64,
    )
    assert shown["url"].startswith(f"http://testserver/widget-api/{website.app_id}/attachments/")
    # No credential in a link: it may be copied, kept in history or logged.
    assert token not in shown["url"] and "token" not in shown["url"] and "token" not in shown["thumbnail_url"]
    image = _open(client, shown["url"])
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert image["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in image["Content-Security-Policy"]
    assert image["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert b"".join(image.streaming_content) == png_bytes()
    thumbnail = _open(client, shown["thumbnail_url"])
    assert thumbnail.status_code == 200 and thumbnail["Content-Type"] == "image/webp"
    assert 'filename="shot-thumb.webp"' in thumbnail["Content-Disposition"]


def test_a_reply_with_a_pdf_is_a_download(client, website, visitor_conversation):
    __visitor, token, conversation = visitor_conversation
    response = _send(client, website, f"conversations/{conversation['id']}/reply", token=token, body="and the invoice",
                     files=[upload("invoice.pdf", PDF, "application/pdf")])  # fmt: skip
    assert response.status_code == 201
    [shown] = response.json()["part"]["attachments"]
    assert shown["inline"] is False and shown["thumbnail_url"] is None
    download = _open(client, shown["url"])
    assert download["Content-Disposition"].startswith("attachment;")
    assert 'filename="invoice.pdf"' in download["Content-Disposition"]


def test_an_image_has_a_link_that_saves_it_under_its_name(client, website, visitor_conversation):
    """Its `url` shows it (inline); `download_url` saves it: a page of another origin cannot name a download."""
    __visitor, __token, conversation = visitor_conversation
    [shown] = conversation["parts"][0]["attachments"]
    assert "v=download" in shown["download_url"] and shown["download_url"] != shown["url"]
    saved = _open(client, shown["download_url"])
    assert saved.status_code == 200 and saved["Content-Type"] == "image/png"
    assert saved["Content-Disposition"] == "attachment; filename=\"shot.png\"; filename*=UTF-8''shot.png"
    assert saved["Cross-Origin-Resource-Policy"] == "cross-origin" and saved["X-Content-Type-Options"] == "nosniff"
    assert b"".join(saved.streaming_content) == png_bytes()
    assert _open(client, shown["url"])["Content-Disposition"].startswith("inline;")
    # The variant is signed: a link to see the file does not become one to save it, nor the other way round.
    assert _open(client, shown["url"].replace("v=file", "v=download")).status_code == 403
    assert _open(client, shown["download_url"].replace("v=download", "v=file")).status_code == 403


@pytest.mark.parametrize(
    ("given", "header"),
    [
        (
            "Reçu d'été; 2024.pdf",
            "filename=\"Recu d'ete_ 2024.pdf\"; filename*=UTF-8''Re%C3%A7u%20d%27%C3%A9t%C3%A9%3B%202024.pdf",
        ),
        ("фото.pdf", "filename=\"____.pdf\"; filename*=UTF-8''%D1%84%D0%BE%D1%82%D0%BE.pdf"),
        ('say "hi".pdf', "filename=\"say _hi_.pdf\"; filename*=UTF-8''say%20%22hi%22.pdf"),
        (
            "100%25 =?utf-8?q?evil.exe?=.pdf",
            "filename=\"100%25 =?utf-8?q?evil.exe?=.pdf\"; filename*=UTF-8''100%2525%20%3D%3Futf-8%3Fq%3Fevil.exe%3F%3D.pdf",
        ),
    ],
)
def test_a_file_is_saved_under_its_name_whatever_the_name_holds(client, website, given, header):
    """RFC 6266: an ASCII `filename` for old clients and the exact name in `filename*` (RFC 8187), which browsers
    take (Chromium would decode `%25` or an encoded word in a plain `filename`)."""
    visitor = ContactFactory()
    token = _token(visitor, website)
    response = _send(client, website, "conversations", token=token, body="", files=[upload(given, PDF)])
    [shown] = response.json()["conversation"]["parts"][0]["attachments"]
    assert shown["name"] == given
    assert _open(client, shown["download_url"])["Content-Disposition"] == f"attachment; {header}"


@pytest.mark.parametrize(
    "name", ["x\r\nSet-Cookie: a=b.pdf", 'a"; filename="evil.exe', "back\\slash\x00.pdf", "\u202egpj.exe"]
)
def test_no_name_can_break_the_header_line_or_add_a_parameter(name):
    """Names are cleaned before they are stored (attachment_name_clean); the header holds even for a raw one:
    printable ASCII without `"`, `\\` or `;` between the quotes, nothing but attr-chars and %XX after `''`."""
    header = content_disposition(inline=False, name=name)
    parsed = re.fullmatch(
        r"attachment; filename=\"[ !#-:<-\[\]-~]*\"; filename\*=UTF-8''((?:[A-Za-z0-9._~-]|%[0-9A-F]{2})+)", header
    )
    assert parsed, header
    assert unquote(parsed[1]) == name
    HttpResponse()["Content-Disposition"] = header  # Django refuses a header with a line break: none here


def test_the_teammates_file_reaches_the_visitor(client, website, visitor_conversation):
    _visitor, token, conversation = visitor_conversation
    from conversations.models import Conversation

    row = Conversation.objects.get(public_id=conversation["id"])
    services.conversation_reply_as_teammate(conversation=row, teammate=TeammateFactory(), body="Here",
                                            files=[upload("guide.pdf", PDF)])  # fmt: skip
    url = f"/widget-api/{website.app_id}/conversations/{conversation['id']}"
    with CaptureQueriesContext(connection) as queries:
        shown = client.get(url, {"token": token}, HTTP_ORIGIN=ORIGIN).json()["conversation"]
    files = [a["name"] for p in shown["parts"] for a in p["attachments"]]
    assert files == ["shot.png", "guide.pdf"]
    assert len(queries) <= 8  # fixed: the parts' files come in one prefetch, whatever their number
    assert _open(client, shown["parts"][1]["attachments"][0]["url"]).status_code == 200


def _link(website, attachment, *, holder):
    from conversations.attachment_links import attachment_link_query

    query = attachment_link_query(attachment=attachment, holder=holder)
    return f"/widget-api/{website.app_id}/attachments/{attachment.public_id}{query}"


def test_a_notes_file_is_never_shown_nor_served_to_the_contact(client, website, visitor_conversation):
    visitor, token, conversation = visitor_conversation
    from conversations.attachment_links import contact_holder
    from conversations.models import Conversation

    row = Conversation.objects.get(public_id=conversation["id"])
    note = services.conversation_add_note(conversation=row, teammate=TeammateFactory(), body="",
                                          files=[upload("internal.pdf", PDF)])  # fmt: skip
    attachment = note.attachments.get()
    assert (
        _open(
            client, _link(website, attachment, holder=contact_holder(contact_id=visitor.pk, website_id=website.pk))
        ).status_code
        == 403
    )
    shown = client.get(f"/widget-api/{website.app_id}/conversations/{conversation['id']}", {"token": token}).json()
    assert "internal.pdf" not in str(shown)


def test_a_link_made_for_another_contact_or_for_teammates_opens_nothing(client, website, visitor_conversation):
    from conversations.attachment_links import contact_holder

    assert visitor_conversation  # the visitor sent shot.png
    attachment = Attachment.objects.get(name="shot.png")
    stranger = ContactFactory()
    # A stranger's own messenger never gets a link to this file; one signed for them (or for teammates, whose
    # doors ask for a session) is refused like a forged one, and a token in the URL changes nothing.
    for holder in (contact_holder(contact_id=stranger.pk, website_id=website.pk), ""):
        response = _open(client, _link(website, attachment, holder=holder) + "&token=" + _token(stranger, website))
        assert response.status_code == 403
        assert response.json()["error"]["field"] == "sig"


def test_a_link_opens_only_through_the_website_whose_messenger_showed_it(client, website, visitor_conversation):
    url = visitor_conversation[2]["parts"][0]["attachments"][0]["url"]
    other_site = WebsiteFactory(allowed_origins=["https://other.example"])
    # Another website's door (whose origins may read the answer) refuses it, whatever Origin says.
    moved = url.replace(f"/widget-api/{website.app_id}/", f"/widget-api/{other_site.app_id}/")
    assert _open(client, moved, HTTP_ORIGIN="https://other.example").status_code == 403
    assert _open(client, url, HTTP_ORIGIN=ORIGIN).status_code == 200


def test_a_link_stops_working_when_the_conversation_is_no_longer_the_contacts(client, website, visitor_conversation):
    visitor, _, conversation = visitor_conversation
    url = conversation["parts"][0]["attachments"][0]["url"]
    Conversation.objects.filter(public_id=conversation["id"]).update(contact=ContactFactory())
    assert _open(client, url).status_code == 403
    Conversation.objects.filter(public_id=conversation["id"]).update(contact=visitor)
    assert _open(client, url).status_code == 200
    contact_services.contact_erase(contact=visitor, actor=None, source=PrivacyAuditEntry.Source.ADMIN)
    assert _open(client, url).status_code == 403


def test_forged_tampered_and_expired_links_are_refused(client, website, visitor_conversation, settings):
    url = visitor_conversation[2]["parts"][0]["attachments"][0]["url"]
    assert _open(client, url.replace("sig=", "sig=0")).status_code == 403
    assert _open(client, url.replace("v=file", "v=thumb")).status_code == 403
    assert _open(client, url.split("?")[0] + "?v=file").status_code == 403
    assert _open(client, url.replace("/attachments/", "/attachments/x")).status_code == 403
    settings.PARLEY_ATTACHMENT_URL_MAX_AGE = -7200  # every link made so far is now past its time
    response = _open(client, url)
    assert response.status_code == 403 and response.json()["error"]["field"] == "sig"


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [("cat.png", HTML_PAGE, "text/html"), ("logo.svg", SVG_WITH_SCRIPT, "SVG drawing")],
)
def test_disguised_files_are_refused_with_a_message_naming_the_field(client, website, name, content, expected):
    token = _token(ContactFactory(), website)
    response = _send(
        client, website, "conversations", token=token, body="hi", files=[upload(name, content, "image/png")]
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "files" and name in error["message"] and expected in error["message"]
    assert not Attachment.objects.exists()


def test_an_oversized_upload_is_refused_by_its_length_before_it_is_read(client, website):
    website.attachment_max_mb = 1
    website.save()
    token = _token(ContactFactory(), website)
    big = upload("big.pdf", PDF + b"0" * (11 * 1024 * 1024))
    response = _send(client, website, "conversations", token=token, body="", files=[big])
    assert response.status_code == 413
    assert response.json()["error"]["field"] == "files"
    one_too_big = _send(
        client, website, "conversations", token=token, body="", files=[upload("b.pdf", PDF + b"0" * (1024 * 1024 + 1))]
    )
    assert one_too_big.status_code == 400
    assert "at most 1.0 MB" in one_too_big.json()["error"]["message"]


def test_unknown_and_repeated_multipart_fields_are_refused(client, website):
    token = _token(ContactFactory(), website)
    url = f"/widget-api/{website.app_id}/conversations"
    response = client.post(url, {"token": token, "body": "x", "admin": "1"}, HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 400 and response.json()["error"]["field"] == "admin"
    response = client.post(url, {"token": token, "body": ["a", "b"]}, HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 400 and response.json()["error"]["field"] == "body"
    response = client.post(url, {"token": token, "body": "x", "file": upload("a.pdf", PDF)}, HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 400 and response.json()["error"]["field"] == "file"
    response = client.post(url, {"token": token, "body": "a\x00b"}, HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 400 and response.json()["error"]["field"] == "body"


def test_hostile_file_names_are_stored_safe(client, website):
    token = _token(ContactFactory(), website)
    for given, stored in [("../../../etc/passwd.png", "passwd.png"), ("a\u202egnp.exe.png", "agnp.exe.png")]:
        response = _send(client, website, "conversations", token=token, body="", files=[upload(given, png_bytes())])
        assert response.status_code == 201, response.content
        assert response.json()["conversation"]["parts"][0]["attachments"][0]["name"] == stored


def test_file_uploads_are_rate_limited_per_contact(client, website, monkeypatch):
    from widget import attachment_http

    monkeypatch.setattr(attachment_http, "FILES_PER_HOUR", 2)
    token = _token(ContactFactory(), website)
    statuses = [
        _send(client, website, "conversations", token=token, body="", files=[upload("a.pdf", PDF)]).status_code
        for _ in range(3)
    ]
    assert statuses == [201, 201, 429]


def test_the_limits_endpoint_tells_the_messenger_what_it_may_send(client, website):
    website.attachment_max_mb = 5
    website.attachment_types = ["application/pdf", "image/png"]
    website.save()
    response = client.get(f"/widget-api/{website.app_id}/attachments/limits", HTTP_ORIGIN=ORIGIN)
    assert response.json() == {
        "max_bytes": 5 * 1024 * 1024, "max_files": 10, "types": ["image/png", "application/pdf"],
        "extensions": [".png", ".pdf"], "upload_base": f"http://testserver/widget-api/{website.app_id}/",
    }  # fmt: skip


def test_a_viewer_teammate_opens_files_but_cannot_send_them(client, website, visitor_conversation):
    ensure_teammate_groups()
    viewer = TeammateFactory(agent_group=False)
    viewer.groups.add(Group.objects.get(name="viewer"))
    client.force_login(viewer)
    _visitor, _, conversation = visitor_conversation
    from conversations.admin.attachments import attachment_admin_url
    from conversations.models import Conversation

    row = Conversation.objects.get(public_id=conversation["id"])
    attachment = Attachment.objects.get(part__conversation=row)
    assert client.get(attachment_admin_url(attachment)).status_code == 200
    page = f"/admin/conversations/conversation/{row.pk}/change/"
    response = client.post(page, {"do": "reply", "body": "x", "files": upload("a.pdf", PDF)})
    assert response.status_code == 403
    assert Attachment.objects.filter(part__conversation=row).count() == 1


def test_an_svg_a_website_allows_is_served_as_an_inert_download(client, website):
    from common.attachment_types import DEFAULT_ATTACHMENT_TYPES

    website.attachment_types = [*DEFAULT_ATTACHMENT_TYPES, "image/svg+xml"]
    website.save()
    token = _token(ContactFactory(), website)
    response = _send(
        client, website, "conversations", token=token, body="", files=[upload("logo.svg", SVG_WITH_SCRIPT)]
    )
    [shown] = response.json()["conversation"]["parts"][0]["attachments"]
    assert shown["inline"] is False and shown["content_type"] == "image/svg+xml"
    served = _open(client, shown["url"])
    assert served["Content-Type"] == "application/octet-stream"  # never image/svg+xml, which a browser would run
    assert served["Content-Disposition"].startswith("attachment;")
    assert served["X-Content-Type-Options"] == "nosniff" and "sandbox" in served["Content-Security-Policy"]


def test_a_visitors_phone_photo_reaches_the_team_without_its_gps_position(client, website):
    visitor = ContactFactory()
    sent = photo("JPEG", orientation=6)
    response = _send(client, website, "conversations", token=_token(visitor, website), body="",
                     files=[upload("IMG_0042.jpg", sent, "image/jpeg")])  # fmt: skip
    assert response.status_code == 201, response.content
    [shown] = response.json()["conversation"]["parts"][0]["attachments"]
    opened = b"".join(_open(client, shown["url"]).streaming_content)
    assert shown["size"] == len(opened) < len(sent)
    assert not [word for word in METADATA_WORDS if word in opened]
    with Image.open(io.BytesIO(opened)) as image:
        assert dict(image.getexif()) == {ORIENTATION: 6}
    assert pixels(opened) == pixels(sent)
