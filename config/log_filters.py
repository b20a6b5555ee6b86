"""Logging filter that keeps IP addresses (Parley's privacy promise), the tokens of emailed links (each one
opens a rating, an unsubscribe or a click for whoever holds it) and widget tokens in query strings (the
messenger's GETs carry one: it opens the contact's conversations) out of every log line."""

import ipaddress
import logging
import re
from typing import Any

# Candidates are checked by `ipaddress`, so times like 16:37:05 or versions like 1.2.3 stay as they are.
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![0-9A-Fa-f:])")
REDACTED = "[ip]"


def _replace_if_address(match: re.Match[str]) -> str:
    try:
        ipaddress.ip_address(match.group(0))
    except ValueError:
        return match.group(0)
    return REDACTED


# The emailed links' paths (conversations/urls.py: /e/o/, /e/c/, /e/u/, /e/r/): their last segment is a token.
_EMAIL_LINK_TOKEN = re.compile(r"(/e/[ocur]/)[^\s\"'?)]+")
HIDDEN_LINK_PART = "[token]"
# The admin's password links (/admin/reset/<uid>/<token>/, /admin/welcome/<uid>/<token>/): their token signs in.
# By position: Django reads a uid with a space or a quote in it (base64 skips them), so the uid may hold anything.
_PASSWORD_LINK_TOKEN = re.compile(r"(/admin/(?:reset|welcome)/[^/]*/)(?!set-password/)[^/\s\"'?)]+")
# The messenger's GET requests (`conversations?token=…`, docs/widget-protocol.md) carry its token.
_QUERY_TOKEN = re.compile(r"([?&]token=)[^\s\"'&#]+")


def redact(text: str) -> str:
    """`text` with every IP address replaced by [ip] and every emailed link's or query string's token by [token]."""
    text = _EMAIL_LINK_TOKEN.sub(lambda match: match.group(1) + HIDDEN_LINK_PART, text)
    text = _PASSWORD_LINK_TOKEN.sub(lambda match: match.group(1) + HIDDEN_LINK_PART, text)
    text = _QUERY_TOKEN.sub(lambda match: match.group(1) + HIDDEN_LINK_PART, text)
    return _IPV6.sub(_replace_if_address, _IPV4.sub(_replace_if_address, text))


# Lines that name the server's own bind address (gunicorn's "Listening at: http://127.0.0.1:8000"),
# never a client's: kept as they are, so an operator can see where the server listens.
SERVER_ADDRESS_LINES = ("Listening at: ",)


# Line breaks and other control characters (a tab aside): from a request's path or headers, one would start a
# forged line of its own, or make the log a binary file to grep.
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def _escape_controls(value: Any) -> Any:
    return _CONTROLS.sub(lambda match: repr(match.group(0))[1:-1], value) if isinstance(value, str) else value


class RedactIPAddresses(logging.Filter):
    """Rewrites a record's message with every IP address replaced by [ip] and emailed links' tokens by [token]."""

    def filter(self, record: logging.LogRecord) -> bool:
        # A value from the request (a path with %0D%0A) must not start a forged line of its own: Django's records
        # carry their values in a tuple, gunicorn's access lines in a dict.
        if isinstance(record.args, tuple):
            record.args = tuple(_escape_controls(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _escape_controls(value) for key, value in record.args.items()}
        message = record.getMessage()
        if message.startswith(SERVER_ADDRESS_LINES):
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class NoTracebackForRefusals(logging.Filter):
    """A refusal Django logs (403, 404 and other 4xx answers: a role without the right, a mistyped address, a Host
    it does not serve) is one line, not a traceback: it is the answer working, and tracebacks are kept for errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        django_answer = record.name == "django.request" or record.name.startswith("django.security.")
        if django_answer and isinstance(status, int) and 400 <= status < 500:
            record.exc_info, record.exc_text = None, None
        return True
