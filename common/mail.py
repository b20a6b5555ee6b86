"""The email backend Parley sends through: the configured one (PARLEY_EMAIL_BACKEND), counted; and the one
rule for header text built from anyone's words (`email_header_line`).

Every email Parley sends (outbound messages, reply notifications, teammate alerts) goes through
Django's backend, so this one place counts them for /metrics whichever code path sent them.
"""

import re
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage

from common.metrics import EMAILS
from common.parsing import without_direction_controls

# C0 controls (line feed and carriage return among them), DEL and C1 controls (NEL): never in a header.
_HEADER_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def email_header_line(text: str) -> str:
    """Header text built from anyone's words (a contact's name in a subject) as one line: line breaks, other
    control characters and the spaces around them become one space. Every email builder passes its subject
    through here: Django refuses a header with a line break (BadHeaderError), so a visitor named
    "Evil\\nBcc: a@b" would otherwise stop the email (and a mention already marked emailed is never sent).
    Direction controls are dropped: a U+202E in a visitor's first words turned the rest of a subject around in the
    recipient's inbox ("Re: Invoice exe.pdf" read backwards)."""
    return " ".join(without_direction_controls(_HEADER_CONTROLS.sub(" ", text)).split())


class MeteredEmailBackend(BaseEmailBackend):
    """Delegates to settings.PARLEY_EMAIL_BACKEND; counts what it sent and what raised."""

    def __init__(self, fail_silently: bool = False, **kwargs: Any) -> None:
        super().__init__(fail_silently=fail_silently)
        self.inner = get_connection(settings.PARLEY_EMAIL_BACKEND, fail_silently=fail_silently, **kwargs)

    def open(self) -> bool | None:
        return self.inner.open()

    def close(self) -> None:
        self.inner.close()

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        try:
            sent = self.inner.send_messages(email_messages) or 0
        except Exception:
            EMAILS.labels(outcome="failed").inc(len(email_messages))
            raise
        EMAILS.labels(outcome="sent").inc(sent)
        if len(email_messages) > sent:  # a backend that fails silently reports fewer
            EMAILS.labels(outcome="failed").inc(len(email_messages) - sent)
        return sent
