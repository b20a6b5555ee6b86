"""make backup / make restore: a seeded install survives the round trip, every row and its values.

Runs on whichever database the suite runs on: SQLite's online backup in the embedded run,
pg_dump / pg_restore in the PostgreSQL run."""

import io
import os
import stat
from pathlib import Path

import pytest
import redis
from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connections

from contacts.models import Contact, Tag
from conversations.models import Conversation, ConversationPart
from ops import backup
from tracking.models import PageView, WebSession

pytestmark = pytest.mark.django_db(transaction=True)
SAMPLE_SIZE = 25


def _snapshot() -> tuple[dict[str, int], dict[str, list[dict]]]:
    counts = {model._meta.label: model.objects.count() for model in apps.get_models()}
    samples = {
        "contacts": list(
            Contact.objects.order_by("pk").values(
                "pk", "role", "email", "name", "external_id", "anonymous_id", "last_seen_at", "custom_attributes"
            )[:SAMPLE_SIZE]
        ),
        "sessions": list(WebSession.objects.order_by("-pk").values()[:SAMPLE_SIZE]),
        "page_views": list(PageView.objects.order_by("-pk").values()[:SAMPLE_SIZE]),
        "conversations": list(Conversation.objects.order_by("pk").values()[:SAMPLE_SIZE]),
        "parts": list(ConversationPart.objects.order_by("-pk").values()[:SAMPLE_SIZE]),
        "tags": list(Contact.tags.through.objects.order_by("pk").values()[:SAMPLE_SIZE]),
    }
    return counts, samples


def _backup(path: Path) -> str:
    out = io.StringIO()
    call_command("backup", str(path), stdout=out)
    return out.getvalue().strip().splitlines()[-1]


def _backup_default() -> str:
    out = io.StringIO()
    call_command("backup", stdout=out)
    return out.getvalue().strip().splitlines()[-1]


def test_a_seeded_install_round_trips_through_backup_and_restore(tmp_path):
    call_command("seed_demo", "--contacts", "40", "--seed", "7", stdout=io.StringIO())
    backup = tmp_path / "parley.backup"
    assert _backup(backup) == str(backup)  # the file is the last line, for scripts
    # (after: a backup first flushes page views queued in Redis into the database)
    before_counts, before_samples = _snapshot()
    for label in ("contacts.Contact", "tracking.PageView", "tracking.WebSession", "conversations.ConversationPart"):
        assert before_counts[label] > 0, label
    # After the backup: lose some, change some, add some.
    Contact.objects.filter(pk__in=[row["pk"] for row in before_samples["contacts"][:10]]).delete()
    Contact.objects.update(name="changed")
    Tag.objects.create(name="made after the backup")
    assert _snapshot()[0] != before_counts

    # Cached after the backup: a hot-path entry under an id the restored sequences hand out again.
    cache.set("tracking:visit:999999", {"sessions": {"1": [123, 0.0, 0.0]}}, 600)
    buffer = (
        redis.Redis.from_url(settings.PARLEY_PAGE_VIEW_BUFFER_URL) if settings.PARLEY_PAGE_VIEW_BUFFER_URL else None
    )
    if buffer is not None:  # and a page view queued since, for a session the restore removes
        buffer.xadd(
            settings.PARLEY_PAGE_VIEW_BUFFER_KEY, {"s": 123, "u": "https://shop.example/", "t": "", "r": "", "at": 0}
        )

    call_command("restore", str(backup), "--yes", stdout=io.StringIO())
    connections.close_all()
    assert cache.get("tracking:visit:999999") is None  # what the cache held described the replaced database
    assert buffer is None or buffer.xlen(settings.PARLEY_PAGE_VIEW_BUFFER_KEY) == 0

    after_counts, after_samples = _snapshot()
    assert after_counts == before_counts
    assert after_samples == before_samples
    # The install goes on: new rows get fresh ids (PostgreSQL's sequences came back with the data).
    newest = Contact.objects.order_by("-pk").values_list("pk", flat=True).first()
    assert Contact.objects.create(role=Contact.Role.VISITOR).pk > newest


def test_backup_refuses_to_overwrite_and_restore_refuses_a_missing_file(tmp_path):
    existing = tmp_path / "taken.backup"
    existing.write_text("keep me")
    with pytest.raises(CommandError, match="exists"):
        _backup(existing)
    assert existing.read_text() == "keep me"
    with pytest.raises(CommandError, match="is not a file"):
        call_command("restore", str(tmp_path / "missing.backup"), "--yes")


def test_restore_asks_first_and_does_nothing_without_the_word(tmp_path, monkeypatch):
    backup = tmp_path / "parley.backup"
    _backup(backup)
    Tag.objects.create(name="kept")
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    with pytest.raises(CommandError, match="Nothing restored"):
        call_command("restore", str(backup))
    assert Tag.objects.filter(name="kept").exists()


@pytest.fixture
def lax_umask():
    """The common umask (022), which gives a file made with the default mode 0644: readable by every user."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_backup_and_the_folders_parley_makes_for_it_are_private(tmp_path, settings, lax_umask):
    call_command("seed_demo", "--contacts", "3", "--seed", "7", stdout=io.StringIO())
    settings.VAR_DIR = tmp_path / "var"  # a fresh install: no backups folder yet
    written = Path(_backup_default())
    assert written.parent == tmp_path / "var" / "backups"
    assert written.stat().st_size > 0
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    for folder in (tmp_path / "var", tmp_path / "var" / "backups"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder

    # A file named in a folder that exists: the file is private, the folder is left as the operator made it.
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    assert stat.S_IMODE(Path(_backup(shared / "parley.backup")).stat().st_mode) == 0o600
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755


def test_a_backup_is_private_before_any_data_goes_into_it(tmp_path, monkeypatch, lax_umask):
    """No window where another user could open it: the file exists 0600 before the dump starts writing."""
    modes_when_writing_began = []
    real_subprocess_run, real_sqlite_connect = backup.subprocess.run, backup.sqlite3.connect
    target = tmp_path / "parley.backup"

    def note_mode():
        if target.exists():
            modes_when_writing_began.append(stat.S_IMODE(target.stat().st_mode))

    def subprocess_run(*args, **kwargs):  # pg_dump
        note_mode()
        return real_subprocess_run(*args, **kwargs)

    def sqlite_connect(database, *args, **kwargs):  # SQLite's online backup opens the target
        if str(database) == str(target):
            note_mode()
        return real_sqlite_connect(database, *args, **kwargs)

    monkeypatch.setattr(backup.subprocess, "run", subprocess_run)
    monkeypatch.setattr(backup.sqlite3, "connect", sqlite_connect)
    _backup(target)
    assert modes_when_writing_began == [0o600]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_failed_backup_leaves_no_file(tmp_path, monkeypatch):
    def failing_copy(*, source, target):
        target.write_bytes(b"half")
        raise OSError("disk full")

    def failing_run(command, tool, *, stdout):
        stdout.write(b"half")
        raise backup.BackupError("pg_dump failed (exit 1): disk full")

    monkeypatch.setattr(backup, "_sqlite_copy", failing_copy)
    monkeypatch.setattr(backup, "_run", failing_run)
    target = tmp_path / "parley.backup"
    with pytest.raises((CommandError, OSError)):
        _backup(target)
    assert not target.exists()
