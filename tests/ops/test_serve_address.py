"""`manage.py serve` (what `make run` runs) on an address another server holds stops at once and says so: it
used to start a second Celery worker and beat on the same data, and print "Parley is ready." because the other
server answered its check."""

import socket

import pytest
from django.core.management import CommandError, call_command


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
