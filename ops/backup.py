"""Backups of Parley's database with the database's own tools.

PostgreSQL: `pg_dump --format=custom` (a consistent snapshot while Parley runs) and `pg_restore
--clean`'s SQL run by psql in one transaction (all or nothing). Embedded SQLite: SQLite's online backup API, both
ways, which is consistent under WAL while the web and the worker write.

Page views queued in the Redis page-view buffer are flushed into the database before a backup, so
the backup holds what the install had taken. Redis, the broker and SECRET_KEY are not in it: queues
and cache are rebuilt by use, and the key lives in your environment (embedded: var/secret_key).
"""

import os
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.utils import timezone

from tracking import page_view_buffer

POSTGRESQL = "django.db.backends.postgresql"
SQLITE = "django.db.backends.sqlite3"
PRIVATE_FILE_MODE = 0o600  # backups hold personal data: the owner only
PRIVATE_DIRECTORY_MODE = 0o700


class BackupError(Exception):
    """A backup or restore that could not be done, with the reason."""


def backup_default_path() -> Path:
    """var/backups/parley-<UTC time>.<dump|sqlite3>, by the kind of database."""
    suffix = "dump" if _engine() == POSTGRESQL else "sqlite3"
    return settings.VAR_DIR / "backups" / f"parley-{timezone.now():%Y%m%d-%H%M%S}.{suffix}"


def database_backup(*, path: Path) -> Path:
    """Write a backup of the default database to `path` (refusing to overwrite a file); returns it.

    The file holds personal data: it is created 0600 (its new folders 0700) before a byte goes into it,
    whatever the umask, so no other user can open it even while it is written."""
    if path.exists():
        raise BackupError(f"{path} exists; choose another file.")
    engine = _engine()
    if engine not in (POSTGRESQL, SQLITE):
        raise BackupError(f"No backup for the {engine} backend.")
    if engine == POSTGRESQL:
        _require("pg_dump")
    _private_directories_make(path.parent)
    if settings.PARLEY_PAGE_VIEW_BUFFER_URL:
        page_view_buffer.page_views_flush()
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError as error:  # made since the check above: still never overwritten
        raise BackupError(f"{path} exists; choose another file.") from error
    try:
        with os.fdopen(descriptor, "wb") as target:
            if engine == POSTGRESQL:
                # To the open file rather than --file: pg_dump would create a file with the umask's mode.
                _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges"], "pg_dump", stdout=target)
        if engine == SQLITE:  # into the empty private file: SQLite keeps its mode (and gives it to its journal)
            _sqlite_copy(source=Path(settings.DATABASES["default"]["NAME"]), target=path)
    except BaseException:
        path.unlink(missing_ok=True)  # half a backup is no backup; the name stays free for the next try
        raise
    return path


def _private_directories_make(directory: Path) -> None:
    """Create the missing folders of `directory` 0700 (folders that exist are left as they are)."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for folder in reversed(missing):
        folder.mkdir(mode=PRIVATE_DIRECTORY_MODE, exist_ok=True)


def database_restore(*, path: Path) -> None:
    """Replace the default database's contents with the backup at `path` (stop web, workers and beat first)."""
    if not path.is_file():
        raise BackupError(f"{path} is not a file.")
    connections.close_all()
    engine = _engine()
    if engine == POSTGRESQL:
        _restore_postgresql(path)
    elif engine == SQLITE:
        _sqlite_copy(source=path, target=Path(settings.DATABASES["default"]["NAME"]))
    else:
        raise BackupError(f"No restore for the {engine} backend.")
    _cached_state_forget()


def _cached_state_forget() -> None:
    """What Redis (or the embedded cache) holds describes the database as it was before the restore: the hot
    path's contact snapshots and current sessions, page views queued since the backup, marks and rate-limit
    windows. Under ids the restored sequences hand out again, a new visitor would inherit another's cached
    session and its page views be dropped: all of it goes (it is rebuilt by use). Only Parley's own cache
    entries: a broker sharing that Redis database keeps its queues."""
    if settings.PARLEY_PAGE_VIEW_BUFFER_URL:
        page_view_buffer.page_view_buffer_forget()
    delete_own_entries = getattr(cache, "delete_own_entries", None)
    if delete_own_entries is None:  # the embedded file cache (or local memory): all of it is Parley's
        cache.clear()
    else:
        delete_own_entries()


def _engine() -> str:
    return settings.DATABASES["default"]["ENGINE"]


def _sqlite_copy(*, source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy page by page, while other connections write."""
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as origin, sqlite3.connect(target) as copy:
        origin.backup(copy)
    origin.close()
    copy.close()


def _restore_postgresql(path: Path) -> None:
    """The dump's SQL (pg_restore --clean) run by psql in one transaction: all or nothing.

    The partitioned tables (page views and events, docs/partitioning.md) are dropped first, in that
    same transaction: pg_restore --clean would drop a partition's primary key before its parent's,
    which PostgreSQL refuses ("cannot drop inherited constraint").
    """
    for tool in ("pg_restore", "psql"):
        _require(tool)
    connection = connections["default"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'p' AND NOT c.relispartition AND n.nspname = current_schema() ORDER BY 1"
        )
        partitioned = [name for (name,) in cursor.fetchall()]
    connections.close_all()
    first = f"DROP TABLE IF EXISTS {', '.join(partitioned)}" if partitioned else "SELECT 1"
    with tempfile.TemporaryFile() as script_errors:
        script = subprocess.Popen(  # noqa: S603 - fixed arguments
            ["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges", "--file=-", str(path)],  # noqa: S607
            stdout=subprocess.PIPE, stderr=script_errors, env=_libpq_env(),
        )  # fmt: skip
        result = subprocess.run(  # noqa: S603 - fixed arguments
            ["psql", "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--single-transaction",  # noqa: S607
             f"--command={first}", "--file=-"],
            stdin=script.stdout, capture_output=True, text=True, env=_libpq_env(),
        )  # fmt: skip
        script.stdout.close()  # type: ignore[union-attr]
        if script.wait() != 0:
            script_errors.seek(0)
            message = script_errors.read().decode(errors="replace").strip()[-2000:]
            raise BackupError(f"pg_restore failed (exit {script.returncode}): {message}")
    if result.returncode != 0:
        raise BackupError(f"pg_restore failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")


def _require(tool: str) -> None:
    if shutil.which(tool) is None:
        raise BackupError(f"{tool} is not installed (Debian: apt-get install postgresql-client).")


def _libpq_env() -> dict[str, str]:
    """The default database for libpq's variables (no password in argv)."""
    database = settings.DATABASES["default"]
    env = {**os.environ, "PGDATABASE": database["NAME"], "PGHOST": database.get("HOST") or "",
           "PGPORT": str(database.get("PORT") or ""), "PGUSER": database.get("USER") or "",
           "PGPASSWORD": database.get("PASSWORD") or ""}  # fmt: skip
    if sslmode := database.get("OPTIONS", {}).get("sslmode"):
        env["PGSSLMODE"] = sslmode
    return {k: v for k, v in env.items() if v}


def _run(command: list[str], tool: str, *, stdout: BinaryIO) -> None:
    """Run a PostgreSQL client tool against the default database, its output into `stdout`."""
    _require(tool)
    result = subprocess.run(command, env=_libpq_env(), stdout=stdout, stderr=subprocess.PIPE, text=True)  # noqa: S603
    if result.returncode != 0:
        raise BackupError(f"{tool} failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
