"""Read replicas against a real streaming replica: the admin's lists and exports read from it, writes go
to the primary, and a teammate's own change is never hidden by the replica's lag (common/read_replica.py).

The test runs its own primary (initdb on a spare port, so the shared server's configuration is left
alone), makes the replica with pg_basebackup, and starts the production shape's web server on them with
DATABASE_REPLICA_URL. Pausing the replica's WAL replay makes every change on the primary visible on the
primary only, so what a page shows tells which server it read."""

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.production_shape import AdminSession, ProductionShape, free_port, skip_unless_production_backends

pytestmark = [pytest.mark.postgres]

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
DATABASE = "parley_replica_test"
START_TIMEOUT_SECONDS = 60
USERNAME, PASSWORD = "replica-agent", "replica-pass-4242"
CONTACT_LIST = "/admin/contacts/contact/"
SEED = f"""
from django.contrib.auth import get_user_model
from contacts.models import Contact, Tag
get_user_model().objects.create_superuser("{USERNAME}", "agent@example.org", "{PASSWORD}")
for number, name in enumerate(["Ada Lovelace", "Grace Hopper"]):
    Contact.objects.create(role="user", external_id=f"u-{{number}}", name=name, email=f"p{{number}}@example.org")
Tag.objects.create(name="vip")
"""


class StreamingReplica:
    """A primary (initdb) and its hot standby (pg_basebackup -R) on spare ports, under one temporary folder.

    As root (CI), the servers run as the `postgres` system user, since PostgreSQL refuses to run as root."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="parley-replica-"))
        self.primary_port, self.replica_port = free_port(), free_port()
        self._as_postgres: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.folder, account.pw_uid, account.pw_gid)
            self._as_postgres = ["runuser", "-u", "postgres", "--"]

    def _run(self, program: str, *args: str) -> None:
        subprocess.run([*self._as_postgres, str(POSTGRES_BIN / program), *args], check=True, capture_output=True)  # noqa: S603

    def url(self, port: int) -> str:
        return f"postgres://postgres@127.0.0.1:{port}/{DATABASE}"

    def start(self) -> "StreamingReplica":
        primary, replica = self.folder / "primary", self.folder / "replica"
        self._run("initdb", "-D", str(primary), "-U", "postgres", "-A", "trust", "--no-sync")
        with (primary / "postgresql.conf").open("a") as conf:
            # initdb's pg_hba.conf already lets 127.0.0.1 replicate with trust.
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {self.primary_port}\n"
                f"unix_socket_directories = '{self.folder}'\nwal_level = replica\nmax_wal_senders = 4\n"
                "fsync = off\nsynchronous_commit = off\nshared_buffers = 32MB\nmax_connections = 60\n"
            )
        self._run("pg_ctl", "-D", str(primary), "-l", str(self.folder / "primary.log"), "-w", "-t", "60", "start")
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.primary_port), "-U", "postgres", DATABASE)
        self._run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary_port), "-U", "postgres",
            "-D", str(replica), "-R", "-X", "stream", "-c", "fast", "--no-sync",
        )  # fmt: skip
        with (replica / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {self.replica_port}\nhot_standby = on\n")
        self._run("pg_ctl", "-D", str(replica), "-l", str(self.folder / "replica.log"), "-w", "-t", "60", "start")
        with self.connect(self.replica_port) as standby:
            assert standby.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        return self

    def connect(self, port: int) -> psycopg.Connection:
        return psycopg.connect(self.url(port), autocommit=True)

    def on_replica(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self.connect(self.replica_port) as replica:
            return replica.execute(sql, params).fetchall()

    def on_primary(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self.connect(self.primary_port) as primary:
            cursor = primary.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def wait_for_replica(self, sql: str, expected: object, params: tuple = ()) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while (found := self.on_replica(sql, params)) != expected:
            if time.monotonic() > deadline:
                raise AssertionError(f"the replica answered {found!r} to {sql!r}, not {expected!r}")
            time.sleep(0.1)

    def pause_replay(self) -> None:
        self.on_replica("SELECT pg_wal_replay_pause()")
        self.wait_for_replica("SELECT pg_get_wal_replay_pause_state()", [("paused",)])

    def resume_replay(self) -> None:
        self.on_replica("SELECT pg_wal_replay_resume()")

    def stop(self) -> None:
        """Stop both servers (immediate: nothing to keep), kill what pg_ctl could not, remove the folder."""
        for name in ("replica", "primary"):
            data = self.folder / name
            if not (data / "postmaster.pid").exists():
                continue
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "-t", "30", "stop")
            with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
                pid = int((data / "postmaster.pid").read_text().split()[0])
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def replica() -> Iterator[StreamingReplica]:
    skip_unless_production_backends()
    if not (POSTGRES_BIN / "pg_basebackup").exists():
        pytest.skip(f"needs PostgreSQL 15's server programs in {POSTGRES_BIN}")
    cluster = StreamingReplica()
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture
def web_on_replica(replica, tmp_path) -> Iterator[ProductionShape]:
    """The production shape's web server on the test's primary, reading through DATABASE_REPLICA_URL."""
    shape = ProductionShape(
        tmp_path,
        processes="web",
        extra_env={
            "DATABASE_URL": replica.url(replica.primary_port),
            "DATABASE_REPLICA_URL": replica.url(replica.replica_port),
        },
    )
    try:
        shape.start()  # migrates the primary; the replica replays it
        shape.manage("shell", "-c", SEED)
        yield shape
        shape.stop()
    finally:
        shape.kill_leftovers()


def _names_listed(page: str) -> set[str]:
    return {name for name in ("Ada Lovelace", "Ada Byron", "Grace Hopper") if name in page}


def test_admin_lists_and_exports_read_the_replica_writes_go_to_the_primary_and_a_writer_reads_its_writes(
    replica, web_on_replica
):
    replica.wait_for_replica("SELECT count(*) FROM contacts_contact", [(2,)])
    teammate = AdminSession(web_on_replica.base_url).log_in(USERNAME, PASSWORD)
    replica.wait_for_replica("SELECT count(*) FROM auth_user WHERE username = %s", [(1,)], (USERNAME,))
    ada_id, grace_id = (row[0] for row in replica.on_primary("SELECT id FROM contacts_contact ORDER BY id"))
    (vip_id,) = replica.on_primary("SELECT id FROM contacts_tag")[0]
    teammate.cookies.pop("parley_read_primary", None)  # the login was a write; pretend its pin ran out

    # From now on the replica lags: whatever changes on the primary is on the primary only.
    replica.pause_replay()
    replica.on_primary("UPDATE contacts_contact SET name = 'Ada Byron' WHERE id = %s", (ada_id,))  # another teammate

    status, page = teammate.get(CONTACT_LIST)
    assert status == 200
    assert _names_listed(page) == {"Ada Lovelace", "Grace Hopper"}  # the replica's rows: the list read there

    # An admin action that writes (tag Grace) goes to the primary, and pins this teammate to it.
    status, _ = teammate.post(
        CONTACT_LIST, [("action", "tag_selected"), ("tag", str(vip_id)), ("_selected_action", str(grace_id))]
    )
    assert status == 302
    tagged = "SELECT count(*) FROM contacts_contacttag WHERE contact_id = %s AND tag_id = %s"
    assert replica.on_primary(tagged, (grace_id, vip_id)) == [(1,)]
    assert replica.on_replica(tagged, (grace_id, vip_id)) == [(0,)]
    pin = next(header for header in teammate.set_cookie_headers if header.startswith("parley_read_primary="))
    assert "Max-Age=10" in pin and "HttpOnly" in pin

    # Pinned: the teammate's next pages read the primary, so their own change (and every other) shows.
    status, page = teammate.get(CONTACT_LIST)
    assert status == 200 and _names_listed(page) == {"Ada Byron", "Grace Hopper"}

    # Once the pin has run out (or for any other teammate), lists and exports read the replica again.
    teammate.cookies.pop("parley_read_primary")
    status, page = teammate.get(CONTACT_LIST)
    assert _names_listed(page) == {"Ada Lovelace", "Grace Hopper"}
    status, csv_text = teammate.post(
        CONTACT_LIST, [("action", "export_csv"), ("_selected_action", str(ada_id)), ("_selected_action", str(grace_id))]
    )
    assert status == 200 and "Ada Lovelace" in csv_text and "Ada Byron" not in csv_text
    teammate.cookies.pop("parley_read_primary", None)
    status, export = teammate.post(CONTACT_LIST, [("action", "export_gdpr"), ("_selected_action", str(ada_id))])
    assert status == 200 and '"name": "Ada Lovelace"' in export
    # The export's audit row is a write: on the primary.
    audited = "SELECT count(*) FROM contacts_privacyauditentry WHERE action = 'export' AND contact_id = %s"
    assert replica.on_primary(audited, (ada_id,)) == [(1,)]
    assert replica.on_replica(audited, (ada_id,)) == [(0,)]

    # The contact's own page (where teammates edit) reads the primary, pinned or not.
    teammate.cookies.pop("parley_read_primary", None)
    status, page = teammate.get(f"{CONTACT_LIST}{ada_id}/change/")
    assert status == 200 and "Ada Byron" in page

    # Replication catches up: the list shows the change without any pin.
    replica.resume_replay()
    replica.wait_for_replica("SELECT name FROM contacts_contact WHERE id = %s", [("Ada Byron",)], (ada_id,))
    status, page = teammate.get(CONTACT_LIST)
    assert _names_listed(page) == {"Ada Byron", "Grace Hopper"}
    assert re.search(r"Traceback|Internal Server Error", web_on_replica.log) is None
