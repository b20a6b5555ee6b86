"""How the reports plug into the conversations app: its domain events (seam 2) refresh the "now" counts."""

from typing import Any

from django.db import transaction

# A note changes nothing the "now" counts show (state, waiting, website, team).
TOPICS_WITHOUT_COUNT_CHANGE = {"conversation.admin.noted"}


def _conversation_changed(sender: Any, *, topic: str, **kwargs: Any) -> None:
    from reports.services import now_counts_changed

    if topic not in TOPICS_WITHOUT_COUNT_CHANGE:
        transaction.on_commit(now_counts_changed)


def connect() -> None:
    from conversations.signals import conversation_changed

    conversation_changed.connect(_conversation_changed, dispatch_uid="reports.now_counts")
