"""`manage.py serve` (what `make run` runs) on an address another server holds stops at once and says so: it
used to start a second Celery worker and beat on the same data, and print "Parley is ready." because the other
server answered its check."""

import os
import socket
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from config.production import EXIT_CONFIG


def test_serve_refuses_an_address_another_server_listens_on():
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(CommandError, match=rf"127\.0\.0\.1:{port} is already in use \(another Parley\?\)"):
            call_command("serve", "--bind", f"127.0.0.1:{port}")


def test_a_closed_servers_address_is_free_again_for_the_check():
    from ops.management.commands.serve import _refuse_a_taken_address

    with socket.socket() as before:
        before.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        before.bind(("127.0.0.1", 0))
        port = before.getsockname()[1]
    _refuse_a_taken_address(f"127.0.0.1:{port}")  # no error: nothing listens there now
    _refuse_a_taken_address("unix:/tmp/parley.sock")  # not a port: left to gunicorn


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("WEB_CONCURRENCY", "four", "WEB_CONCURRENCY must be a whole number from 1 to 1024, not 'four'."),
        ("WEB_CONCURRENCY", "\u0664", "WEB_CONCURRENCY must be a whole number from 1 to 1024, not '\u0664'."),
        ("WEB_THREADS", "0", "WEB_THREADS must be a whole number from 1 to 1024, not '0'."),
    ],
)  # fmt: skip
def test_serve_refuses_a_worker_count_it_cannot_use_in_one_line_before_starting_anything(
    tmp_path, variable, value, said
):
    """gunicorn reads WEB_CONCURRENCY itself, before Parley's config: "four" stopped it with a traceback, and serve
    started it again, five times over, before giving up."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY", "DEBUG")}
    env.update(VAR_DIR=str(tmp_path), HTTPS_ONLY="false", **{variable: value})
    result = subprocess.run(
        [sys.executable, "manage.py", "serve", "--bind", "127.0.0.1:0"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == EXIT_CONFIG, result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"Parley refuses to start: {said}"
    assert "Traceback" not in result.stderr and "The web server" not in result.stdout + result.stderr
