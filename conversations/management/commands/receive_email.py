"""`manage.py receive_email < message.eml`: append an emailed reply to its conversation (for an MTA pipe)."""

import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from conversations import services
from conversations.services.inbound import MAX_RAW_EMAIL_BYTES


class Command(BaseCommand):
    help = "Read one raw RFC 822 email from stdin and append it to the conversation its reply address names."
    stealth_options = ("stdin",)

    def handle(self, *args: Any, **options: Any) -> None:
        stdin = options.get("stdin") or sys.stdin.buffer
        raw = stdin.read(MAX_RAW_EMAIL_BYTES + 1)
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="replace")
        try:
            result = services.email_reply_receive(raw=raw)
        except ValidationError as error:
            field, messages = next(iter(error.message_dict.items()))
            raise CommandError(f"Refused ({field}): {messages[0]}") from None
        for warning in result.warnings:
            self.stderr.write(f"Warning: {warning}")
        # One line: the admin's number (its page, /admin/conversations/conversation/<pk>/) and the
        # id the REST API and the widget know the conversation by (it had printed that alone, unexplained).
        self.stdout.write(
            f"Appended part {result.part.pk} to conversation {result.conversation.pk}"
            f" (API id {result.conversation.public_id})"
        )
