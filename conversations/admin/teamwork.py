"""Working faster on the conversation page and in the inbox: macros (saved replies with actions), the
teammates a note can mention, who else is on the conversation (its poll), and the bulk macro action.

The conversation page (thread.py) and the inbox (inbox.py) call these; the keyboard shortcuts and the
note box's autocomplete are static scripts (static/parley/admin/).
"""

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest

from common.parsing import int_or_none
from conversations import selectors, services
from conversations.models import Conversation, SavedReply
from conversations.services.macros import macro_summary
from conversations.services.presence import GONE, STATES
from conversations.services.saved_replies import macro_actions_of
from conversations.services.threads import teammate_display_name

DRAFT_MAX_LENGTH = 10_000


def thread_macro(request: HttpRequest, conversation: Conversation, body: str) -> str:
    """The conversation page's "Run macro": what was typed in the composer stays there as a draft."""
    saved_reply = (
        SavedReply.objects.select_related("assignee__parley_profile", "team")
        .prefetch_related("tags")
        .filter(pk=int_or_none(request.POST.get("macro", "")))
        .first()
    )
    if saved_reply is None:
        raise ValidationError({"macro": "Choose a macro."})
    if body.strip():
        request.session["parley_draft"] = {"conversation": conversation.pk, "body": body[:DRAFT_MAX_LENGTH]}
    services.macro_run(saved_reply=saved_reply, conversation=conversation, teammate=request.user)
    return f"Ran the macro “{saved_reply.name}”: {', '.join(macro_summary(saved_reply))}."


def thread_context(request: HttpRequest, conversation: Conversation, teammates: list[Any]) -> dict[str, Any]:
    """What the conversation page shows of saved replies and macros, and whom a note can mention."""
    saved_replies = []
    for reply in selectors.saved_reply_list():
        is_macro = macro_actions_of(reply).any
        saved_replies.append({
            "id": reply.pk,
            "name": reply.name,
            "body": services.placeholders_render(reply.body, contact=conversation.contact, teammate=request.user),
            "is_macro": is_macro,
            "summary": ", ".join(macro_summary(reply)) if is_macro else "",
        })  # fmt: skip
    return {
        "saved_replies": saved_replies,
        "has_macros": any(reply["is_macro"] for reply in saved_replies),
        # The note box's @ autocomplete: every teammate the assignee list offers (the server decides who is told).
        "mention_teammates": [
            {"username": teammate.get_username(), "name": teammate.get_full_name() or teammate_display_name(teammate)}
            for teammate in teammates
            if teammate.pk != request.user.pk
        ],
    }


def poll_presence(request: HttpRequest, conversation: Conversation, *, can_change: bool) -> list[dict[str, str]]:
    """The poll's `presence` (viewing, typing, noting or gone) recorded; the others on the conversation answered."""
    state = request.GET.get("presence", "")
    if state not in STATES and state != GONE:
        return []
    if state != GONE and not can_change:
        state = "viewing"  # a teammate who may only read has no composer to type in
    return services.conversation_presence(
        conversation_id=conversation.pk,
        teammate=request.user,
        state=state,
        display_name=lambda: teammate_display_name(request.user),
    )
