"""Attachments through the REST API: parts list them in Intercom's shape, replies carry attachment_files
(base64), attachment_urls is refused by name, and the file link opens only with a token that may read."""

import base64

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from api.services import api_token_create
from contacts.permissions import ensure_teammate_groups
from conversations import services
from conversations.models import Attachment
from tests.contacts.factories import ContactFactory
from tests.conversations.attachment_samples import EXECUTABLE, METADATA_WORDS, PDF, photo, pixels, png_bytes, upload
from tests.conversations.factories import TeammateFactory

pytestmark = pytest.mark.django_db


def _b64(content: bytes) -> str:
    return base64.b64encode(content).decode()


@pytest.fixture
def conversation(website):
    return services.conversation_start_by_contact(contact=ContactFactory(), body="Hi", website=website)


def _reply(api, conversation, **extra):
    payload = {"message_type": "comment", "type": "admin", "body": "See attached", **extra}
    return api.post(f"/api/conversations/{conversation.pk}/reply", payload, format="json")


def test_an_admin_reply_carries_attachment_files_and_parts_show_them(api, conversation):
    response = _reply(api, conversation, attachment_files=[
        {"name": "guide.pdf", "content_type": "text/html", "data": _b64(PDF)},
        {"name": "shot.png", "content_type": "application/pdf", "data": _b64(png_bytes(30, 20))},
    ])  # fmt: skip
    assert response.status_code == 200, response.content
    part = response.json()["conversation_parts"]["conversation_parts"][-1]
    assert [(a["type"], a["name"], a["content_type"], a["width"], a["height"]) for a in part["attachments"]] == [
        ("upload", "guide.pdf", "application/pdf", None, None),
        ("upload", "shot.png", "image/png", 30, 20),
    ]
    assert part["attachments"][0]["filesize"] == len(PDF)
    url = part["attachments"][0]["url"]
    assert url.startswith(settings.PUBLIC_URL + "/api/attachments/")
    download = api.get(url.removeprefix(settings.PUBLIC_URL))
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PDF
    assert download["Content-Disposition"].startswith("attachment;")


def test_a_contact_reply_and_a_file_only_note(api, conversation):
    contact = conversation.contact
    response = api.post(f"/api/conversations/{conversation.pk}/reply", {
        "message_type": "comment", "type": "user", "intercom_user_id": str(contact.pk),
        "attachment_files": [{"name": "a.pdf", "content_type": "application/pdf", "data": _b64(PDF)}],
    }, format="json")  # fmt: skip
    assert response.status_code == 200, response.content
    note = _reply(api, conversation, message_type="note", body="",
                  attachment_files=[{"name": "n.txt", "content_type": "text/plain", "data": _b64(b"note\n")}])  # fmt: skip
    assert note.status_code == 200
    assert Attachment.objects.filter(part__conversation=conversation).count() == 2


def test_attachment_urls_is_refused_naming_the_field(api, conversation):
    response = _reply(api, conversation, attachment_urls=["http://169.254.169.254/latest/meta-data/"])
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["field"] == "attachment_urls" and "attachment_files" in error["message"]
    assert not Attachment.objects.exists()


@pytest.mark.parametrize(
    ("files", "field", "words"),
    [
        (
            [{"name": "a.pdf", "content_type": "application/pdf", "data": "not base64!"}],
            "attachment_files[0].data",
            "base64",
        ),
        (
            [{"name": "invoice.pdf", "content_type": "application/pdf", "data": _b64(EXECUTABLE)}],
            "attachment_files[0]",
            "cannot be sent here",
        ),
        ([{"name": "a.pdf", "content_type": "application/pdf", "data": _b64(PDF)}] * 11, "attachment_files", ""),
        ([{"name": "a\x00.pdf", "content_type": "application/pdf", "data": _b64(PDF)}], "attachment_files[0].name", ""),
        # Each field a file lacks is named with the file's index, whichever file it is (docs/api.md).
        ([{"content_type": "application/pdf", "data": _b64(PDF)}], "attachment_files[0].name", "required"),
        ([{"name": "a.pdf", "data": _b64(PDF)}], "attachment_files[0].content_type", "required"),
        ([{"name": "a.pdf", "content_type": "application/pdf"}], "attachment_files[0].data", "required"),
        ([{"name": "a.pdf", "content_type": "x" * 300, "data": _b64(PDF)}], "attachment_files[0].content_type", ""),
        (
            [
                {"name": "a.pdf", "content_type": "application/pdf", "data": _b64(PDF)},
                {"name": "b.pdf", "data": "eA=="},
            ],
            "attachment_files[1].content_type",
            "required",
        ),
        (["a.pdf"], "attachment_files[0]", ""),
    ],
)
def test_bad_attachment_files_are_4xx_json_naming_the_field(api, conversation, files, field, words):
    response = _reply(api, conversation, attachment_files=files)
    assert response.status_code == 400, response.content
    error = response.json()["errors"][0]
    assert error["field"] == field and words in error["message"]
    assert not Attachment.objects.exists()


def test_a_lone_surrogate_in_a_file_name_is_refused_naming_it(api, conversation):
    import json

    body = json.dumps({"message_type": "comment", "type": "admin", "body": "x", "attachment_files": [
        {"name": "a\ud800.pdf", "content_type": "application/pdf", "data": _b64(PDF)}]})  # fmt: skip
    response = api.post(f"/api/conversations/{conversation.pk}/reply", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "attachment_files[0].name"
    assert not Attachment.objects.exists()


def test_a_refused_file_is_named_by_its_index(api, conversation):
    files = [{"name": "a.pdf", "content_type": "application/pdf", "data": _b64(PDF)}] * 2
    files.append({"name": "setup.pdf", "content_type": "application/pdf", "data": _b64(EXECUTABLE)})
    response = _reply(api, conversation, attachment_files=files)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["field"] == "attachment_files[2]" and "“setup.pdf”" in error["message"]
    assert not Attachment.objects.exists()


def test_an_oversized_file_is_refused_by_the_websites_limit(api, conversation, website):
    website.attachment_max_mb = 1
    website.save()
    big = PDF + b"0" * (1024 * 1024)
    response = _reply(api, conversation, attachment_files=[{"name": "big.pdf", "content_type": "x", "data": _b64(big)}])
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["field"] == "attachment_files[0]" and "at most 1.0 MB" in error["message"]


def test_a_conversation_with_many_files_reads_in_a_fixed_number_of_queries(api, conversation):
    teammate = TeammateFactory()

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert api.get(f"/api/conversations/{conversation.pk}").status_code == 200
        return len(queries)

    services.conversation_reply_as_teammate(conversation=conversation, teammate=teammate, body="1",
                                            files=[upload("a.pdf", PDF)])  # fmt: skip
    count()  # the token's first use of the minute writes once
    before = count()
    for _ in range(3):
        services.conversation_reply_as_teammate(conversation=conversation, teammate=teammate, body="n",
                                                files=[upload("a.pdf", PDF), upload("b.png", png_bytes())])  # fmt: skip
    assert count() == before


def test_the_file_link_needs_a_token_that_may_read_and_a_valid_signature(api, conversation, teammate):
    services.conversation_reply_as_teammate(conversation=conversation, teammate=teammate, body="x",
                                            files=[upload("a.pdf", PDF)])  # fmt: skip
    part = api.get(f"/api/conversations/{conversation.pk}").json()["conversation_parts"]["conversation_parts"][-1]
    path = part["attachments"][0]["url"].removeprefix(settings.PUBLIC_URL)
    assert APIClient().get(path).status_code == 401
    ensure_teammate_groups()
    nobody = TeammateFactory(agent_group=False)  # a teammate in no group: may not read conversations
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=nobody, name='x')[1]}")
    assert stranger.get(path).status_code == 403
    viewer = TeammateFactory(agent_group=False)
    viewer.groups.add(Group.objects.get(name="viewer"))
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=viewer, name='v')[1]}")
    assert reader.get(path).status_code == 200
    assert reader.get(path.replace("sig=", "sig=f")).status_code == 403
    assert reader.get(path.split("?")[0]).status_code == 403
    assert reader.get(path.replace(path.split("/")[3].split("?")[0], "x" * 22)).status_code == 403


# --- the reply's body may be as large as the website's files allow (in base64) --------------------------


def test_a_file_over_the_global_body_limit_reaches_the_reply(api, conversation, settings):
    big = PDF + b"0" * (3 * 1024 * 1024)  # 4.2 MB in base64: over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB)
    assert len(_b64(big)) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = _reply(api, conversation, attachment_files=[{"name": "big.pdf", "content_type": "x", "data": _b64(big)}])
    assert response.status_code == 200, response.content[:300]
    assert Attachment.objects.get().size == len(big)


def test_a_reply_body_over_what_the_websites_limits_allow_is_a_413_naming_body(api, conversation, website, settings):
    settings.PARLEY_ATTACHMENT_MAX_FILES = 2
    website.attachment_max_mb = 1
    website.save()
    # 2 files of 1 MB in base64, and room for the rest of the JSON: 2.9 MB.
    one_mb = PDF + b"0" * (1024 * 1024 - len(PDF))
    files = [{"name": f"{n}.pdf", "content_type": "x", "data": _b64(one_mb)} for n in "ab"]
    fits = _reply(api, conversation, attachment_files=files)
    assert fits.status_code == 200, fits.content[:300]
    too_large = _reply(api, conversation, attachment_files=files, body="x" * 400_000)
    assert too_large.status_code == 413
    error = too_large.json()["errors"][0]
    assert error["field"] == "body" and "larger than the API accepts (2.9 MB)" in error["message"]
    assert Attachment.objects.count() == 2


def test_the_reply_body_limit_stops_at_the_memory_cap_whatever_the_websites_limits(api, conversation, settings):
    # The default limits (10 files of 10 MB) would take a 134 MB body; the cap holds it at 3 MB here.
    settings.PARLEY_API_ATTACHMENTS_BODY_MAX_MB = 3
    files = [{"name": "a.pdf", "content_type": "x", "data": _b64(PDF)}]
    assert _reply(api, conversation, attachment_files=files).status_code == 200
    too_large = _reply(api, conversation, attachment_files=files, body="x" * (3 * 1_048_576))
    assert too_large.status_code == 413
    assert "larger than the API accepts (3.0 MB)" in too_large.json()["errors"][0]["message"]


def test_a_declared_length_past_the_limit_is_refused_before_the_body_is_read(api, conversation):
    response = api.post(f"/api/conversations/{conversation.pk}/reply", {"message_type": "comment", "type": "admin",
                        "body": "hi"}, format="json", CONTENT_LENGTH="9" * 40)  # fmt: skip
    assert response.status_code == 413 and response.json()["errors"][0]["field"] == "body"


def test_other_calls_keep_the_global_body_limit(api, settings):
    response = api.post("/api/contacts", {"role": "lead", "name": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)},
                        format="json")  # fmt: skip
    assert response.status_code == 413 and response.json()["errors"][0]["field"] == "body"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "field"),
    [(b"{not json", "application/json", 400, "body"), (b"[1, 2]", "application/json", 400, "body"),
     (b"message_type=comment", "application/x-www-form-urlencoded", 415, "Content-Type"),
     # A re-check: the reply, read on its own larger cap, took any charset (a note was written under "latin-1").
     (b'{"message_type": "note", "type": "admin", "body": "n"}', "application/json; charset=latin-1", 415,
      "Content-Type")],
)  # fmt: skip
def test_a_bad_reply_body_is_still_a_4xx_in_the_envelope(api, conversation, body, content_type, status, field):
    response = api.post(f"/api/conversations/{conversation.pk}/reply", body, content_type=content_type)
    assert response.status_code == status, response.content
    assert response.json()["type"] == "error.list"
    assert response.json()["errors"][0].get("field") == field


def test_a_photo_sent_through_the_api_is_stored_without_its_metadata(api, conversation):
    sent = photo("WEBP", orientation=6)
    response = _reply(api, conversation, attachment_files=[
        {"name": "site.webp", "content_type": "image/webp", "data": _b64(sent)},
        {"name": "site.jpg", "content_type": "image/jpeg", "data": _b64(photo("JPEG"))},
    ])  # fmt: skip
    assert response.status_code == 200, response.content
    shown = response.json()["conversation_parts"]["conversation_parts"][-1]["attachments"]
    opened = [b"".join(api.get(a["url"].removeprefix(settings.PUBLIC_URL)).streaming_content) for a in shown]
    assert [a["filesize"] for a in shown] == [len(content) for content in opened]
    assert not [word for content in opened for word in METADATA_WORDS if word in content]
    assert pixels(opened[0]) == pixels(sent)
    assert (shown[0]["width"], shown[0]["height"]) == (48, 64)  # turned, as the orientation kept says


def test_a_broken_image_through_the_api_is_a_download_not_an_error(api, conversation):
    broken = b"\xff\xd8\xff\xe1\x00\x01" + b"\x00" * 64  # a JPEG whose first segment length is impossible
    response = _reply(api, conversation, attachment_files=[{"name": "x.jpg", "content_type": "image/jpeg",
                                                            "data": _b64(broken)}])  # fmt: skip
    assert response.status_code == 200, response.content
    [shown] = response.json()["conversation_parts"]["conversation_parts"][-1]["attachments"]
    assert (shown["content_type"], shown["width"]) == ("image/jpeg", None)
    download = api.get(shown["url"].removeprefix(settings.PUBLIC_URL))
    assert download["Content-Disposition"].startswith("attachment;")
