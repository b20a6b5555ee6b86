"""Logging filter that keeps IP addresses (Parley's privacy promise), the tokens of emailed links (each one
opens a rating, an unsubscribe or a click for whoever holds it) and widget tokens in query strings (the
messenger's GETs carry one: it opens the contact's conversations) out of every log line."""

import ipaddress
import logging
import re

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
_PASSWORD_LINK_TOKEN = re.compile(r"(/admin/(?:reset|welcome)/[^/\s\"']+/)(?!set-password/)[^/\s\"'?)]+")
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


_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x85]")


def _escape_line_breaks(value: str) -> str:
    return _LINE_BREAKS.sub(lambda match: repr(match.group(0))[1:-1], value)


class RedactIPAddresses(logging.Filter):
    """Rewrites a record's message with every IP address replaced by [ip] and emailed links' tokens by [token]."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(arg, str) and _LINE_BREAKS.search(arg) for arg in record.args
        ):
            # A value from the request (a path with %0D%0A) must not start a forged line of its own.
            record.args = tuple(_escape_line_breaks(arg) if isinstance(arg, str) else arg for arg in record.args)
        message = record.getMessage()
        if message.startswith(SERVER_ADDRESS_LINES):
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class NoTracebackForRefusals(logging.Filter):
    """A refusal Django logs (403, 404 and other 4xx answers: a role without the right, a mistyped address) is one
    line, not a traceback: it is the answer working, and tracebacks are kept for errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if record.name == "django.request" and isinstance(status, int) and 400 <= status < 500:
            record.exc_info, record.exc_text = None, None
        return True
