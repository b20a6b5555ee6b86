import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from config.log_filters import NoTracebackForRefusals, RedactIPAddresses

ROOT = Path(__file__).resolve().parent.parent.parent


def _record(message, *args):
    return logging.LogRecord("test", logging.WARNING, __file__, 1, message, args, None)


def test_filter_replaces_ip_addresses_and_keeps_times_and_versions():
    record = _record("Invalid request from ip=%s at 16:37:05 (v1.2.3) via %s", "81.2.69.142", "2001:db8::1")
    RedactIPAddresses().filter(record)
    assert record.getMessage() == "Invalid request from ip=[ip] at 16:37:05 (v1.2.3) via [ip]"


def test_a_password_links_token_is_hidden_whatever_its_uid_holds():
    # Django reads "NA " or 'NA"' as the uid NA (base64 skips them): the link works, so its token must not show.
    for uid in ("NA ", 'NA"', "NA'", ""):
        record = _record('"GET %s" 302', f"/admin/reset/{uid}/dj3x6v-81f8a1b2c3d4e5f60718/")
        RedactIPAddresses().filter(record)
        assert record.getMessage() == f'"GET /admin/reset/{uid}/[token]/" 302'


def test_gunicorns_access_lines_escape_control_characters_too():
    # gunicorn hands its access line's values as a dict; a decoded path may hold a line break, an ESC or a NUL.
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, '"%(m)s %(U)s" %(s)s', None, None)
    record.args = {"m": "GET", "U": '/admin/x\n2026-12-05 INFO "POST /admin/forged/" 200\x1b[2J\x00', "s": "404"}
    RedactIPAddresses().filter(record)
    line = record.getMessage()
    assert "\n" not in line and "\x1b" not in line and "\x00" not in line
    assert line == '"GET /admin/x\\n2026-12-05 INFO "POST /admin/forged/" 200\\x1b[2J\\x00" 404'


def _filtered_record_with_traceback(logger: str, status: int) -> logging.LogRecord:
    """A record as Django logs an answer of `status` with its exception, through NoTracebackForRefusals."""
    try:
        raise ValueError("what went wrong")
    except ValueError:
        record = logging.LogRecord(logger, logging.ERROR, __file__, 1, "An answer", (), sys.exc_info())
    record.status_code = status
    NoTracebackForRefusals().filter(record)
    return record


def test_a_host_django_refuses_is_one_line_too():
    assert _filtered_record_with_traceback("django.security.DisallowedHost", 400).exc_info is None


def test_a_refusal_is_logged_as_one_line_and_an_error_keeps_its_traceback(client, teammate, caplog):
    client.force_login(teammate)  # staff without a role: may not add teammates
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get("/admin/auth/user/add/").status_code == 403
    [record] = [r for r in caplog.records if r.name == "django.request"]
    console = next(handler for handler in logging.getLogger().handlers if handler.get_name() == "console")
    # Django's record carried the PermissionDenied's traceback; the console handler, which saw it first, took it off.
    assert record.status_code == 403 and record.exc_info is None
    line = console.format(record)
    assert "Forbidden (Permission denied): /admin/auth/user/add/" in line and "Traceback" not in line
    assert _filtered_record_with_traceback("django.request", 500).exc_info is not None  # an error keeps it


def test_filter_replaces_the_tokens_of_emailed_links():
    record = _record("Gone: %s", "/e/r/117:1xVCGX:gaddJq9 (then GET /e/u/abc.def?x=1 and /e/o/tok.gif)")
    RedactIPAddresses().filter(record)
    assert record.getMessage() == "Gone: /e/r/[token] (then GET /e/u/[token]?x=1 and /e/o/[token])"


def test_filter_replaces_the_tokens_of_password_links_that_would_sign_in():
    record = _record(
        '"GET %s" 302 / "GET %s" 302 / "POST %s" 302',
        "/admin/welcome/Nw/dj3dqe-d20597bbb3abdc62a5eeef0bb7215a61/",
        "/admin/reset/MQ/dj3egp-eafabc4077996692ce2cb3daee31daf1/",
        "/admin/reset/MQ/set-password/",
    )
    RedactIPAddresses().filter(record)
    assert record.getMessage() == (
        '"GET /admin/welcome/Nw/[token]/" 302 / "GET /admin/reset/MQ/[token]/" 302 / "POST /admin/reset/MQ/set-password/" 302'
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


MALFORMED = b"NOT HTTP AT ALL\r\n\r\n"


def _gunicorn_output(
    tmp_path, *, raw: tuple[bytes, ...] = (MALFORMED,), answers: list | None = None, **extra_env
) -> str:
    """Start the real server with config/gunicorn.py, send one good request and each of `raw` (by default one
    malformed request) on its own connection, stop it; each raw request's answer goes to `answers`."""
    port = _free_port()
    log_path = tmp_path / "gunicorn.log"
    env = {**os.environ, "VAR_DIR": str(tmp_path), "WEB_CONCURRENCY": "1", "HTTPS_ONLY": "false", **extra_env}
    env.pop("DATABASE_URL", None)
    with log_path.open("w") as log:
        server = subprocess.Popen(  # noqa: S603 - fixed command line
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "config/gunicorn.py",
                "--bind",
                f"127.0.0.1:{port}",
                "config.wsgi",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz?token=secret-widget-token", timeout=2)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            for request in raw:
                with socket.create_connection(("127.0.0.1", port)) as connection:
                    connection.sendall(request)
                    answer = b""
                    while chunk := connection.recv(65536):  # gunicorn closes the connection after a refusal
                        answer += chunk
                if answers is not None:
                    answers.append(answer)
            time.sleep(0.5)
        finally:
            server.terminate()
            server.wait(timeout=20)
    return log_path.read_text()


def _client_lines(output: str) -> str:
    """The log without gunicorn's "Listening at" line: the server's own address, which stays on purpose."""
    listening = [line for line in output.splitlines() if "Listening at: http://127.0.0.1:" in line]
    assert len(listening) == 1  # the operator sees where the server listens
    return "\n".join(line for line in output.splitlines() if line not in listening)


def test_filter_replaces_widget_tokens_in_query_strings():
    line = '"GET /widget-api/app/conversations?token=eyJ.abc:1x-Y&since=5 HTTP/1.1" and /x?a=1&token=t0k#f'
    record = _record("Not Found: %s", line)
    assert RedactIPAddresses().filter(record) is True
    assert record.getMessage() == (
        'Not Found: "GET /widget-api/app/conversations?token=[token]&since=5 HTTP/1.1" and /x?a=1&token=[token]#f'
    )


def test_a_line_break_in_a_logged_value_never_starts_a_line_of_its_own():
    record = _record("Not Found: %s", '/x\r\n[01/Dec/2026 10:00:00] "GET /admin/ HTTP/1.1" 200 from 10.0.0.1')
    RedactIPAddresses().filter(record)
    assert record.getMessage() == 'Not Found: /x\\r\\n[01/Dec/2026 10:00:00] "GET /admin/ HTTP/1.1" 200 from [ip]'
    assert "\n" not in record.getMessage()


def test_gunicorn_logs_hold_no_client_address_and_no_query_string(tmp_path):
    output = _client_lines(_gunicorn_output(tmp_path))
    assert '"GET /healthz" 200' in output
    assert "Invalid request" in output
    assert "127.0.0.1" not in output
    assert "secret-widget-token" not in output


def test_access_log_off_logs_no_requests_but_still_errors(tmp_path):
    output = _client_lines(_gunicorn_output(tmp_path, ACCESS_LOG="0"))
    assert "/healthz" not in output
    assert "Invalid request" in output
    assert "127.0.0.1" not in output


def test_what_gunicorn_refuses_itself_is_answered_in_json_naming_the_part(tmp_path):
    """A request gunicorn refuses before Parley sees it got gunicorn's HTML page: a widget or API client reads JSON."""
    long_url = b"GET /widget-api/app/poll?token=" + b"x" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n"
    many_headers = b"GET /healthz HTTP/1.1\r\nHost: a\r\n" + b"X-A: b\r\n" * 200 + b"\r\n"
    answers: list[bytes] = []
    _gunicorn_output(tmp_path, raw=(long_url, many_headers, MALFORMED), answers=answers)
    for answer, status, field in zip(answers, (414, 431, 400), ("url", "headers", "request"), strict=True):
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(f"HTTP/1.1 {status} ".encode())
        assert b"Content-Type: application/json" in head
        error = json.loads(body)["error"]
        assert error["field"] == field
        assert error["code"] and error["message"]
        assert b"<html" not in body


def test_the_servers_own_listening_address_stays_in_the_log():
    import logging

    from config.log_filters import RedactIPAddresses

    record = logging.LogRecord("gunicorn.error", logging.INFO, __file__, 1, "Listening at: %s (%s)",
                               ("http://127.0.0.1:8010", 4242), None)  # fmt: skip
    RedactIPAddresses().filter(record)
    assert record.getMessage() == "Listening at: http://127.0.0.1:8010 (4242)"
