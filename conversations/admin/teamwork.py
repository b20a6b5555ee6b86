"""Working faster on the conversation page and in the inbox: macros (saved replies with actions: the page puts
the text in the composer and lists the actions, sending runs them), the teammates a note can mention, and who
else is on the conversation (its poll).

The conversation page (thread.py) and the inbox (inbox.py) call these; the keyboard shortcuts and the
note box's autocomplete are static scripts (static/parley/admin/).
"""

import json
from typing import Any

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import ngettext

from common.parsing import int_or_none
from common.uploads import request_files
from conversations import selectors, services
from conversations.models import Conversation, ConversationPart, SavedReply
from conversations.services.macros import macro_summary
from conversations.services.presence import GONE, STATES
from conversations.services.saved_replies import macro_actions_of
from conversations.services.threads import SEEN_PART_FIELD, teammate_display_name


def pending_macro(request: HttpRequest) -> SavedReply | None:
    """The macro the composer carries (`macro`): its text was put in the reply, its actions run when it is sent."""
    raw = request.POST.get("macro", "")
    if not raw:
        return None
    saved_reply = selectors.saved_reply_list().filter(pk=int_or_none(raw)).first()
    if saved_reply is None:
        raise ValidationError({"macro": "This macro no longer exists: remove it from the reply, or choose another."})
    return saved_reply


def seen_part(request: HttpRequest) -> int | None:
    """The last part the page showed when the reply was written (the composer's hidden `seen_part`); absent
    (an older page, a script): no check for messages written since."""
    raw = request.POST.get(SEEN_PART_FIELD)
    if raw is None:
        return None
    seen = int_or_none(raw, minimum=0)
    if seen is None:
        raise ValidationError({SEEN_PART_FIELD: "Reload the page: it sent no valid last message id."})
    return seen


def thread_send_with_macro(
    request: HttpRequest, conversation: Conversation, saved_reply: SavedReply, body: str, *, and_close: bool
) -> str:
    """Send the reply as the teammate edited it and run the macro's actions, in one transaction."""
    files = request_files(request, "files")
    services.macro_run(
        saved_reply=saved_reply, conversation=conversation, teammate=request.user, body=body, files=files,
        and_close=and_close, seen_part_id=seen_part(request),
    )  # fmt: skip
    done = macro_summary(saved_reply, with_reply=False)
    if and_close and "close" not in done:
        done = [word for word in done if not word.startswith("snooze")] + ["close"]
    sent = "Reply sent" if body.strip() or files else "No reply sent"
    return f"{sent}; the macro “{saved_reply.name}” did: {', '.join(done) or 'nothing else'}."


# The confirmation names the conversations when there are this few, else counts them (up to the cap).
CONFIRM_NAMED = 10
CONFIRM_COUNT_CAP = 1000


def macro_bulk_confirmation(
    request: HttpRequest, model_admin: Any, queryset: QuerySet[Conversation], saved_reply: SavedReply
) -> TemplateResponse:
    """The inbox's "Run the chosen macro": what it will do to how many conversations, before it does it.
    "Yes, run it" posts the same selection back with `confirm=yes` (the action then runs at once)."""
    found = list(queryset.select_related("contact").order_by()[: CONFIRM_COUNT_CAP + 1])
    count = min(len(found), CONFIRM_COUNT_CAP)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": "Run the macro on the selected conversations?",
        "macro": saved_reply,
        "actions": macro_summary(saved_reply, with_reply=False),
        "count": count,
        "count_capped": len(found) > CONFIRM_COUNT_CAP,
        "named": found[:CONFIRM_NAMED] if count <= CONFIRM_NAMED else [],
        "conversations_word": ngettext("conversation", "conversations", count),
        "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "ask_ratings": bool(request.POST.get("ask_ratings")),  # the inbox's "Ask for ratings", carried through
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/conversations/conversation/macro_confirmation.html", context)


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
            # What sending does besides the reply (a JSON list: a tag's name may hold a comma).
            "actions": json.dumps(macro_summary(reply, with_reply=False), ensure_ascii=False) if is_macro else "[]",
        })  # fmt: skip
    return {
        "saved_replies": saved_replies,
        "has_macros": any(reply["is_macro"] for reply in saved_replies),
        # The note box's @ autocomplete: every teammate the assignee list offers (the server decides who is told).
        "mention_teammates": [
            {"username": teammate.get_username(), "name": teammate_display_name(teammate)}
            for teammate in teammates
            if teammate.pk != request.user.pk
        ],
    }


def poll_presence(
    request: HttpRequest, conversation: Conversation, *, can_change: bool, parts: list[ConversationPart]
) -> list[dict[str, str]]:
    """The poll's `presence` (viewing, typing, noting or gone) recorded; the others on the conversation answered.
    `parts`: those the poll brings, newer than the page's last."""
    state = request.GET.get("presence", "")
    if state not in STATES and state != GONE:
        return []
    if state != GONE and not can_change:
        state = "viewing"  # a teammate who may only read has no composer to type in
    comment = ConversationPart.Type.COMMENT
    if state == "typing" and any(p.part_type == comment and p.author_teammate_id == request.user.pk for p in parts):
        state = "viewing"  # a page that has not shown its teammate's own reply was polling before it went
    return services.conversation_presence(
        conversation=conversation,
        teammate=request.user,
        state=state,
        display_name=lambda: teammate_display_name(request.user),
        visit=request.GET.get("visit", ""),
    )
