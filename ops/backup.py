"""Backups of Parley's database with the database's own tools.

PostgreSQL: `pg_dump --format=custom` (a consistent snapshot while Parley runs) and `pg_restore
--clean --single-transaction` (all or nothing). Embedded SQLite: SQLite's online backup API, both
ways, which is consistent under WAL while the web and the worker write.

Page views queued in the Redis page-view buffer are flushed into the database before a backup, so
the backup holds what the install had taken. Redis, the broker and SECRET_KEY are not in it: queues
and cache are rebuilt by use, and the key lives in your environment (embedded: var/secret_key).
"""

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from django.conf import settings
from django.db import connections
from django.utils import timezone

from tracking import page_view_buffer

POSTGRESQL = "django.db.backends.postgresql"
SQLITE = "django.db.backends.sqlite3"


class BackupError(Exception):
    """A backup or restore that could not be done, with the reason."""


def backup_default_path() -> Path:
    """var/backups/parley-<UTC time>.<dump|sqlite3>, by the kind of database."""
    suffix = "dump" if _engine() == POSTGRESQL else "sqlite3"
    return settings.VAR_DIR / "backups" / f"parley-{timezone.now():%Y%m%d-%H%M%S}.{suffix}"


def database_backup(*, path: Path) -> Path:
    """Write a backup of the default database to `path` (refusing to overwrite a file); returns it."""
    if path.exists():
        raise BackupError(f"{path} exists; choose another file.")
    path.parent.mkdir(parents=True, exist_ok=True)
    if settings.PARLEY_PAGE_VIEW_BUFFER_URL:
        page_view_buffer.page_views_flush()
    engine = _engine()
    if engine == POSTGRESQL:
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={path}"], "pg_dump")
    elif engine == SQLITE:
        _sqlite_copy(source=Path(settings.DATABASES["default"]["NAME"]), target=path)
    else:
        raise BackupError(f"No backup for the {engine} backend.")
    return path


def database_restore(*, path: Path) -> None:
    """Replace the default database's contents with the backup at `path` (stop web, workers and beat first)."""
    if not path.is_file():
        raise BackupError(f"{path} is not a file.")
    connections.close_all()
    engine = _engine()
    if engine == POSTGRESQL:
        _run(
            ["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
             "--exit-on-error", f"--dbname={settings.DATABASES['default']['NAME']}", str(path)],
            "pg_restore",
        )  # fmt: skip
    elif engine == SQLITE:
        _sqlite_copy(source=path, target=Path(settings.DATABASES["default"]["NAME"]))
    else:
        raise BackupError(f"No restore for the {engine} backend.")


def _engine() -> str:
    return settings.DATABASES["default"]["ENGINE"]


def _sqlite_copy(*, source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy page by page, while other connections write."""
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as origin, sqlite3.connect(target) as copy:
        origin.backup(copy)
    origin.close()
    copy.close()


def _run(command: list[str], tool: str) -> None:
    """Run a PostgreSQL client tool against the default database (libpq variables, no password in argv)."""
    if shutil.which(tool) is None:
        raise BackupError(f"{tool} is not installed (Debian: apt-get install postgresql-client).")
    database = settings.DATABASES["default"]
    env = {**os.environ, "PGDATABASE": database["NAME"], "PGHOST": database.get("HOST") or "",
           "PGPORT": str(database.get("PORT") or ""), "PGUSER": database.get("USER") or "",
           "PGPASSWORD": database.get("PASSWORD") or ""}  # fmt: skip
    if sslmode := database.get("OPTIONS", {}).get("sslmode"):
        env["PGSSLMODE"] = sslmode
    result = subprocess.run(command, env={k: v for k, v in env.items() if v}, capture_output=True, text=True)  # noqa: S603
    if result.returncode != 0:
        raise BackupError(f"{tool} failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
