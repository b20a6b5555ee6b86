"""The live server's gate (tests/conftest.py): once a browser test is over, the database is emptied only after
the requests the server is still answering have ended, or it could deadlock with them."""

import socket
import struct

from tests.conftest import _live_server_gate


def test_a_request_whose_client_reset_the_connection_mid_body_does_not_hold_the_teardown(live_server):
    """The client announces a body, sends part of it, reads the answer and resets the connection: the server's
    handler then fails reading the rest of the body and never closes the response. The gate counted that
    request in flight for ever, and every such test's teardown waited out its whole limit."""
    gate = _live_server_gate(live_server)
    host, port = live_server.thread.host, live_server.thread.port
    with socket.create_connection((host, port), timeout=10) as client:
        client.sendall(
            f"GET /no-such-page/ HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1000\r\n\r\n".encode() + b"x" * 10
        )
        answer = client.recv(65536)
        assert answer.startswith(b"HTTP/1.1 404"), answer[:100]
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
    assert gate.close_and_drain(timeout=10)
