"""Attachments: checking (size, type from the bytes, names), thumbnails, storage, links, deletion."""

import io
import os
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from PIL import Image

from common.attachment_types import DEFAULT_ATTACHMENT_TYPES
from contacts import services as contact_services
from contacts.models import PrivacyAuditEntry
from conversations import email_links, services
from conversations.attachment_links import attachment_link_check, attachment_link_query
from conversations.models import Attachment, Conversation
from conversations.services.attachments import attachment_limits, attachment_name_clean
from retention.services import visitors_expire
from tests.contacts.factories import ContactFactory
from tests.conversations.attachment_samples import (
    EXECUTABLE,
    HTML_PAGE,
    PDF,
    SVG_WITH_SCRIPT,
    jpeg_bytes,
    png_bytes,
    png_claiming,
    upload,
    zip_bomb_bytes,
)
from tests.conversations.factories import TeammateFactory

pytestmark = pytest.mark.django_db


def _stored(name: str) -> bool:
    return storages["attachments"].exists(name)


def _conversation(website=None, **contact_fields):
    contact = ContactFactory(**contact_fields)
    return services.conversation_start_by_contact(contact=contact, body="Hello", website=website)


# --- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("report\x00.pdf", "report.pdf"),
        ("invoice\u202egpj.exe", "invoice gpj.exe"),
        ("bad\ud800name.png", "bad name.png"),
        ("   ...hidden.txt  ", "hidden.txt"),
        ("", "attachment"),
        ("CON.txt", "_CON.txt"),
        ("zero\u200bwidth.png", "zero width.png"),
        (None, "attachment"),
    ],
)
def test_file_names_are_made_safe(given, expected):
    assert attachment_name_clean(given) == expected


def test_a_very_long_name_keeps_its_extension():
    name = attachment_name_clean("a" * 5000 + ".pdf")
    assert len(name) <= 150
    assert name.endswith(".pdf")


# --- checks ---------------------------------------------------------------------------------------


def test_a_visitor_sends_an_image_with_a_thumbnail_stored_under_a_random_name(website):
    conversation = _conversation(website)
    part = services.conversation_reply_as_contact(
        conversation=conversation, body="", files=[upload("My photo.PNG", png_bytes(64, 48), "image/png")]
    )
    attachment = part.attachments.get()
    assert (attachment.name, attachment.content_type, attachment.width, attachment.height) == (
        "My photo.PNG", "image/png", 64, 48,
    )  # fmt: skip
    assert attachment.is_inline_image
    assert _stored(attachment.file.name) and _stored(attachment.thumbnail.name)
    assert "photo" not in attachment.file.name  # the stored name says nothing of the person or the file
    conversation.refresh_from_db()
    assert conversation.preview == "Attachment: My photo.PNG"


def test_a_large_photo_gets_a_small_thumbnail(website):
    conversation = _conversation(website)
    part = services.conversation_reply_as_contact(
        conversation=conversation, body="see", files=[upload("big.jpg", jpeg_bytes(3000, 2000))]
    )
    attachment = part.attachments.get()
    from PIL import Image

    with storages["attachments"].open(attachment.thumbnail.name) as thumb, Image.open(thumb) as image:
        assert image.format == "WEBP"
        assert max(image.size) <= 400


def test_a_message_without_text_needs_a_file(website):
    conversation = _conversation(website)
    with pytest.raises(ValidationError) as error:
        services.conversation_reply_as_contact(conversation=conversation, body="", files=[])
    assert "body" in error.value.message_dict


def test_an_oversized_file_is_refused_naming_the_file_and_the_limit(website):
    website.attachment_max_mb = 1
    website.save()
    conversation = _conversation(website)
    with pytest.raises(ValidationError) as error:
        services.conversation_reply_as_contact(
            conversation=conversation, body="", files=[upload("huge.pdf", PDF + b"0" * (2 * 1024 * 1024))]
        )
    message = error.value.message_dict["files"][0]
    assert "huge.pdf" in message and "at most 1.0 MB" in message
    assert not Attachment.objects.exists()


@pytest.mark.parametrize(
    ("name", "content", "what"),
    [
        ("holiday.png", HTML_PAGE, "text/html"),
        ("invoice.pdf", EXECUTABLE, "portable-executable"),
        ("logo.svg", SVG_WITH_SCRIPT, "SVG drawing"),
    ],
)
def test_a_type_disguised_by_its_name_is_refused_by_what_the_bytes_are(website, name, content, what):
    conversation = _conversation(website)
    with pytest.raises(ValidationError) as error:
        services.conversation_reply_as_contact(
            conversation=conversation, body="x", files=[upload(name, content, "image/png")]
        )
    message = error.value.message_dict["files"][0]
    assert name in message and what in message and "cannot be sent here" in message


def test_svg_allowed_by_a_website_is_stored_as_a_download_never_inline(website):
    website.attachment_types = [*DEFAULT_ATTACHMENT_TYPES, "image/svg+xml"]
    website.save()
    conversation = _conversation(website)
    part = services.conversation_reply_as_contact(
        conversation=conversation, body="", files=[upload("logo.svg", SVG_WITH_SCRIPT)]
    )
    attachment = part.attachments.get()
    assert attachment.content_type == "image/svg+xml"
    assert not attachment.is_inline_image and not attachment.thumbnail


def test_a_png_named_pdf_keeps_its_name_with_the_extension_of_what_it_is(website):
    conversation = _conversation(website)
    part = services.conversation_reply_as_contact(
        conversation=conversation, body="", files=[upload("invoice.pdf", png_bytes())]
    )
    assert part.attachments.get().name == "invoice.pdf.png"


def test_a_decompression_bomb_is_kept_as_a_download_and_never_decoded(website):
    conversation = _conversation(website)
    started = time.monotonic()
    part = services.conversation_reply_as_contact(
        conversation=conversation, body="", files=[upload("bomb.png", png_claiming(100_000, 100_000))]
    )
    assert time.monotonic() - started < 30  # a decoded bomb would take minutes and gigabytes (not a timing goal)
    attachment = part.attachments.get()
    assert attachment.content_type == "image/png"
    assert not attachment.thumbnail and not attachment.is_inline_image


def test_an_image_over_the_pixel_cap_keeps_its_size_but_gets_no_thumbnail(website, settings):
    settings.PARLEY_ATTACHMENT_MAX_IMAGE_PIXELS = 1000
    conversation = _conversation(website)
    part = services.conversation_reply_as_contact(
        conversation=conversation, body="", files=[upload("a.png", png_bytes(64, 48))]
    )
    attachment = part.attachments.get()
    assert (attachment.width, attachment.height, attachment.thumbnail.name) == (64, 48, "")


def test_a_zip_bomb_is_stored_as_the_small_file_it_is(website):
    conversation = _conversation(website)
    part = services.conversation_reply_as_contact(
        conversation=conversation, body="", files=[upload("data.zip", zip_bomb_bytes())]
    )
    attachment = part.attachments.get()
    assert attachment.content_type == "application/zip" and attachment.size < 1024 * 1024


def test_too_many_files_and_a_website_allowing_none_are_refused(website, settings):
    conversation = _conversation(website)
    settings.PARLEY_ATTACHMENT_MAX_FILES = 2
    with pytest.raises(ValidationError, match="At most 2 files"):
        services.conversation_reply_as_contact(
            conversation=conversation, body="", files=[upload(f"{i}.pdf", PDF) for i in range(3)]
        )
    website.attachment_types = []
    website.save()
    conversation.refresh_from_db()
    with pytest.raises(ValidationError, match="cannot be sent here"):
        services.conversation_reply_as_contact(conversation=conversation, body="", files=[upload("a.pdf", PDF)])


def test_types_outside_the_catalog_never_count_even_if_stored_on_the_website(website):
    website.attachment_types = ["text/html", "application/pdf"]
    assert attachment_limits(website).types == ("application/pdf",)


def test_a_teammate_replies_and_notes_with_files(website):
    conversation = _conversation(website)
    teammate = TeammateFactory()
    reply = services.conversation_reply_as_teammate(
        conversation=conversation, teammate=teammate, body="Here is the invoice", files=[upload("invoice.pdf", PDF)]
    )
    note = services.conversation_add_note(
        conversation=conversation, teammate=teammate, body="", files=[upload("n.txt", b"internal\n")]
    )
    assert reply.attachments.get().content_type == "application/pdf"
    assert note.attachments.get().name == "n.txt"


# --- links ----------------------------------------------------------------------------------------


def test_links_are_signed_per_file_and_variant_and_expire(website):
    conversation = _conversation(website)
    part = services.conversation_reply_as_contact(
        conversation=conversation, body="", files=[upload("a.png", png_bytes())]
    )
    attachment = part.attachments.get()
    query = dict(pair.split("=") for pair in attachment_link_query(attachment=attachment)[1:].split("&"))
    assert attachment_link_check(public_id=attachment.public_id, params=query).variant == "file"
    assert attachment_link_check(public_id="someone-else", params=query) is None
    assert attachment_link_check(public_id=attachment.public_id, params={**query, "v": "thumb"}) is None
    assert attachment_link_check(public_id=attachment.public_id, params={**query, "sig": "0" * 32}) is None
    later = time.time() + settings.PARLEY_ATTACHMENT_URL_MAX_AGE + 3600
    assert attachment_link_check(public_id=attachment.public_id, params=query, now=later) is None
    # A forged far-future expiry cannot be signed, and is refused before the signature is even compared.
    assert attachment_link_check(public_id=attachment.public_id, params={**query, "exp": "99999999999"}) is None


# --- privacy: export, erase, retention --------------------------------------------------------------


def test_the_gdpr_export_lists_the_files_of_messages_not_of_notes(website):
    conversation = _conversation(website)
    services.conversation_reply_as_contact(
        conversation=conversation, body="", files=[upload("passport.png", png_bytes())]
    )
    services.conversation_add_note(
        conversation=conversation, teammate=TeammateFactory(), body="", files=[upload("n.txt", b"x\n")]
    )
    document = contact_services.contact_export(
        contact=conversation.contact, actor=None, source=PrivacyAuditEntry.Source.ADMIN
    )
    files = [a for c in document["conversations"] for p in c["parts"] for a in p["attachments"]]
    assert [(f["name"], f["content_type"]) for f in files] == [("passport.png", "image/png")]
    assert files[0]["url"].startswith(settings.PUBLIC_URL + "/admin/conversations/attachment/")


def _files_of(conversation: Conversation) -> list[str]:
    names = []
    for attachment in Attachment.objects.filter(part__conversation=conversation):
        names += [attachment.file.name] + ([attachment.thumbnail.name] if attachment.thumbnail else [])
    return names


def test_erase_deletes_the_files_from_storage(website, django_capture_on_commit_callbacks):
    conversation = _conversation(website)
    services.conversation_reply_as_contact(conversation=conversation, body="", files=[upload("a.png", png_bytes())])
    services.conversation_reply_as_teammate(
        conversation=conversation, teammate=TeammateFactory(), body="", files=[upload("b.pdf", PDF)]
    )
    names = _files_of(conversation)
    assert len(names) == 3 and all(_stored(name) for name in names)
    location = Path(settings.STORAGES["attachments"]["OPTIONS"]["location"])
    assert all((location / name).is_file() for name in names)
    with django_capture_on_commit_callbacks(execute=True):
        contact_services.contact_erase(contact=conversation.contact, actor=None, source=PrivacyAuditEntry.Source.ADMIN)
    assert not Attachment.objects.exists()
    assert not any((location / name).exists() for name in names)


def test_a_rolled_back_erase_keeps_the_files(website, django_capture_on_commit_callbacks):
    conversation = _conversation(website)
    services.conversation_reply_as_contact(conversation=conversation, body="", files=[upload("a.png", png_bytes())])
    names = _files_of(conversation)
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        contact_services.contact_erase(contact=conversation.contact, actor=None, source=PrivacyAuditEntry.Source.ADMIN)
        transaction.set_rollback(True)  # the deletion's commit never comes, nor does the files' deletion
    assert Attachment.objects.count() == 1
    assert all(_stored(name) for name in names)


def test_retention_expiry_deletes_the_files_of_expired_visitors(website, django_capture_on_commit_callbacks):
    import datetime as dt

    from django.utils import timezone

    from contacts.models import Contact

    conversation = _conversation(website)
    services.conversation_reply_as_contact(conversation=conversation, body="", files=[upload("a.png", png_bytes())])
    names = _files_of(conversation)
    # Expiry applies to visitors: this one wrote, so it is a lead; make it a stale visitor again.
    Contact.objects.filter(pk=conversation.contact_id).update(
        role=Contact.Role.VISITOR,
        last_seen_at=timezone.now() - dt.timedelta(days=400),
        last_replied_at=timezone.now() - dt.timedelta(days=400),
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = visitors_expire()
    assert run.status == "done"
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert not any(_stored(name) for name in names)


def test_deleting_a_conversation_deletes_its_files(website, django_capture_on_commit_callbacks):
    conversation = _conversation(website)
    services.conversation_reply_as_contact(conversation=conversation, body="", files=[upload("a.pdf", PDF)])
    names = _files_of(conversation)
    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_delete(conversation=conversation)
    assert not any(_stored(name) for name in names)


def test_a_failed_message_leaves_no_file_behind(website, monkeypatch):
    conversation = _conversation(website)
    storage = storages["attachments"]
    before = set(_all_stored(storage))

    def broken_bulk_create(*args, **kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(Attachment.objects, "bulk_create", broken_bulk_create)
    with pytest.raises(RuntimeError):
        services.conversation_reply_as_contact(conversation=conversation, body="", files=[upload("a.png", png_bytes())])
    assert set(_all_stored(storage)) == before


def _all_stored(storage) -> list[str]:
    names = []
    if not storage.exists("attachments"):
        return names
    for shard in storage.listdir("attachments")[0]:
        names += [f"attachments/{shard}/{name}" for name in storage.listdir(f"attachments/{shard}")[1]]
    return names


def test_djangos_own_deletion_of_a_conversation_takes_the_files_too(website, django_capture_on_commit_callbacks):
    conversation = _conversation(website)
    services.conversation_reply_as_contact(conversation=conversation, body="", files=[upload("a.png", png_bytes())])
    names = _files_of(conversation)
    with django_capture_on_commit_callbacks(execute=True):
        Conversation.objects.filter(pk=conversation.pk).delete()  # what the admin's delete pages do
    assert names and not any(_stored(name) for name in names)


def test_the_sweep_deletes_old_files_no_row_names_and_keeps_the_rest(website):
    import datetime as dt
    import io

    from django.core.management import call_command
    from django.utils import timezone

    from conversations.services.attachments import attachment_orphans_delete

    conversation = _conversation(website)
    services.conversation_reply_as_contact(conversation=conversation, body="", files=[upload("a.png", png_bytes())])
    kept = _files_of(conversation)
    storage = storages["attachments"]
    later = timezone.now() + dt.timedelta(hours=2)
    # Earlier tests of this run leave files whose rows the test transactions rolled back: orphans too.
    already = attachment_orphans_delete(dry_run=True, now=later)
    orphan = storage.save("attachments/ab/abandoned", upload("x", b"left behind by a crash"))
    out = io.StringIO()
    call_command("attachments_sweep", "--dry-run", stdout=out)
    assert "Would delete 0" in out.getvalue()  # all too young: their messages may still be committing
    assert attachment_orphans_delete(dry_run=True, now=later) == already + 1 and storage.exists(orphan)
    assert attachment_orphans_delete(now=later) == already + 1
    assert not storage.exists(orphan)
    assert all(_stored(name) for name in kept)

    # Beat's daily task is the same sweep: a file left two hours ago goes, the message's files stay.
    from conversations.tasks import sweep_attachment_files

    stale = storage.save("attachments/ab/stale", upload("x", b"left behind two hours ago"))
    two_hours_ago = (timezone.now() - dt.timedelta(hours=2)).timestamp()
    os.utime(storage.path(stale), (two_hours_ago, two_hours_ago))
    assert sweep_attachment_files() >= 1
    assert not storage.exists(stale) and all(_stored(name) for name in kept)


def test_a_png_over_the_decoded_pixel_cap_is_never_decoded_but_a_jpeg_is_drafted(website, settings):
    settings.PARLEY_ATTACHMENT_MAX_DECODED_IMAGE_PIXELS = 1000
    conversation = _conversation(website)
    part = services.conversation_reply_as_contact(
        conversation=conversation,
        body="",
        files=[upload("a.png", png_bytes(64, 48)), upload("b.jpg", jpeg_bytes(64, 48))],
    )
    png, jpeg = part.attachments.order_by("id")
    assert (png.width, png.height, png.thumbnail.name) == (64, 48, "")
    assert jpeg.thumbnail.name and jpeg.is_inline_image


def test_a_progressive_jpeg_is_held_to_the_decoded_pixel_cap_and_a_common_one_is_shown(website, settings):
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(out, "JPEG", progressive=True)
    conversation = _conversation(website)
    shown = services.conversation_reply_as_contact(
        conversation=conversation, body="", files=[upload("a.jpg", out.getvalue())]
    )
    assert shown.attachments.get().is_inline_image
    settings.PARLEY_ATTACHMENT_MAX_DECODED_IMAGE_PIXELS = 1000
    part = services.conversation_reply_as_contact(
        conversation=conversation, body="", files=[upload("b.jpg", out.getvalue())]
    )
    jpeg = part.attachments.get()
    assert (jpeg.width, jpeg.height, jpeg.thumbnail.name) == (64, 48, "")


def test_the_decoded_pixel_cap_is_far_below_the_draftable_cap():
    assert (
        settings.PARLEY_ATTACHMENT_MAX_DECODED_IMAGE_PIXELS <= 12_000_000 < settings.PARLEY_ATTACHMENT_MAX_IMAGE_PIXELS
    )


# --- files are made ready before the message's transaction (SQLite: its write lock) -------------------


def _email_reply_with_image(conversation) -> None:
    from tests.conversations.test_attachments_email import _email_with_files

    raw = _email_with_files(to=email_links.reply_address(conversation_id=conversation.pk),
                            sender=conversation.contact.email, text="Here",
                            files=[("shot.png", png_bytes(), "image/png")])  # fmt: skip
    services.email_reply_receive(raw=raw)


FILE_SENDS = {
    "contact starts": lambda c, t: services.conversation_start_by_contact(
        contact=c.contact, body="", website=c.website, files=[upload("a.png", png_bytes())]
    ),
    "contact replies": lambda c, t: services.conversation_reply_as_contact(
        conversation=c, body="", files=[upload("a.png", png_bytes())]
    ),
    "teammate replies": lambda c, t: services.conversation_reply_as_teammate(
        conversation=c, teammate=t, body="", files=[upload("a.png", png_bytes())]
    ),
    "teammate notes": lambda c, t: services.conversation_add_note(
        conversation=c, teammate=t, body="", files=[upload("a.png", png_bytes())]
    ),
    "reply and close": lambda c, t: services.conversation_reply_and_close(
        conversation=c, teammate=t, body="", files=[upload("a.png", png_bytes())]
    ),
    "emailed reply": lambda c, t: _email_reply_with_image(c),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("send", FILE_SENDS.values(), ids=FILE_SENDS.keys())
def test_images_are_decoded_and_files_stored_before_the_messages_transaction_opens(website, monkeypatch, send):
    """On SQLite an open transaction holds the database's one write lock: decoding an image (Pillow) or writing
    files inside it would make every other writer wait that long."""
    from django.db import connection
    from PIL import Image

    conversation = _conversation(website, email="ada@example.com")
    teammate = TeammateFactory()
    storage = storages["attachments"]
    in_transaction: dict[str, list[bool]] = {"decode": [], "store": [], "rows": []}
    real_open, real_save, real_bulk_create = Image.open, storage.save, Attachment.objects.bulk_create

    def watched(kind, real):
        def call(*args, **kwargs):
            in_transaction[kind].append(connection.in_atomic_block)
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(Image, "open", watched("decode", real_open))
    monkeypatch.setattr(storage, "save", watched("store", real_save))
    monkeypatch.setattr(Attachment.objects, "bulk_create", watched("rows", real_bulk_create))
    send(conversation, teammate)
    assert in_transaction == {"decode": [False], "store": [False, False], "rows": [True]}  # the file, its thumbnail
    assert Attachment.objects.get().is_inline_image


def test_files_stored_for_a_message_whose_transaction_fails_are_removed(website):
    conversation = _conversation(website)
    storage = storages["attachments"]
    before = set(_all_stored(storage))
    Conversation.objects.filter(pk=conversation.pk).delete()  # deleted by a teammate while the file uploaded
    with pytest.raises(Conversation.DoesNotExist):
        services.conversation_reply_as_contact(
            conversation=conversation, body="", files=[upload("a.png", png_bytes()), upload("b.pdf", PDF)]
        )
    assert set(_all_stored(storage)) == before


def test_a_refused_file_stores_nothing_of_the_message(website):
    conversation = _conversation(website)
    storage = storages["attachments"]
    before = set(_all_stored(storage))
    with pytest.raises(ValidationError):
        services.conversation_add_note(conversation=conversation, teammate=TeammateFactory(), body="",
                                       files=[upload("a.png", png_bytes()), upload("x.pdf", EXECUTABLE)])  # fmt: skip
    with pytest.raises(ValidationError):  # the body refused after the files passed
        services.conversation_reply_as_contact(conversation=conversation, body="x" * 10_001,
                                               files=[upload("a.png", png_bytes())])  # fmt: skip
    assert set(_all_stored(storage)) == before and not Attachment.objects.exists()
