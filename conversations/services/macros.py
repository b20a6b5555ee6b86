"""Macros: a saved reply with actions. On the conversation page the macro's text goes into the composer
and its actions are listed; the teammate edits and sends, which runs the reply as sent and the actions
(`macro_run` with `body`). The inbox runs a macro on many conversations at once, after a confirmation.

Each action goes through the service that does it by hand (reply, tag, priority, assign, snooze,
close), so a macro follows the same rules, and all of them run in one transaction: one refusal (an
assignee who left, a snooze in the past) changes nothing.
"""

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from conversations.models import Conversation, SavedReply
from conversations.services import threads
from conversations.services.placeholders import placeholders_render
from conversations.services.saved_replies import macro_actions_of
from conversations.services.threads import teammate_display_name


@transaction.atomic
def macro_run(
    *,
    saved_reply: SavedReply,
    conversation: Conversation,
    teammate: Any,
    body: str | None = None,
    files: Sequence[File] = (),
    and_close: bool = False,
    ask_for_rating: bool = True,
    seen_part_id: int | None = None,
) -> Conversation:
    """Run the macro as `teammate`: its reply, tags, priority, assignment, then snooze or close, in that order;
    returns the conversation as it is afterwards.

    `body` is the reply as the teammate sent it from the composer (edited, placeholders already filled; empty:
    no reply), with `files`; None sends the macro's own text, filled for this contact. `and_close` is "Reply
    and close": the conversation ends closed, whatever the macro would snooze. `ask_for_rating` False: run on
    several conversations at once, where a close asks no rating unless asked to. `seen_part_id`: the reply's
    check for messages the teammate has not seen (conversation_reply_as_teammate)."""
    actions = macro_actions_of(saved_reply)
    if body is None:
        body = placeholders_render(saved_reply.body, contact=conversation.contact, teammate=teammate)
    if body.strip() or files:
        threads.conversation_reply_as_teammate(
            conversation=conversation, teammate=teammate, body=body, files=files, seen_part_id=seen_part_id
        )
    for tag in actions.tags:
        threads.conversation_tag(conversation=conversation, tag=tag, teammate=teammate)
    if actions.priority:
        # Each service is given the row as the previous one left it (the SLA clocks read it).
        threads.conversation_set_priority(conversation=_fresh(conversation), priority=actions.priority)
    if actions.assign or actions.team:
        current = _fresh(conversation)
        assignee = {
            SavedReply.Assign.RUNNER: teammate,
            SavedReply.Assign.TEAMMATE: actions.assignee,
            SavedReply.Assign.NOBODY: None,
        }.get(actions.assign, current.assignee)
        if actions.assign == SavedReply.Assign.TEAMMATE and assignee is None:
            raise ValidationError(
                {"assignee": f"The macro “{saved_reply.name}” assigns to a teammate who is gone: edit it."}
            )
        threads.conversation_assign(conversation=current, teammate=teammate, assignee=assignee, team=actions.team)
    if and_close:
        threads.conversation_close(conversation=conversation, teammate=teammate, ask_for_rating=ask_for_rating)
    elif actions.snooze_minutes:
        until = timezone.now() + dt.timedelta(minutes=actions.snooze_minutes)
        threads.conversation_snooze(conversation=conversation, teammate=teammate, until=until)
    elif actions.close:
        threads.conversation_close(conversation=conversation, teammate=teammate, ask_for_rating=ask_for_rating)
    return _fresh(conversation)


def _fresh(conversation: Conversation) -> Conversation:
    return Conversation.objects.select_related("contact", "assignee", "team").get(pk=conversation.pk)


def duration_words(minutes: int) -> str:
    """90 → "90 minutes", 240 → "4 hours", 1440 → "1 day", 10080 → "1 week"."""
    for size, unit in ((7 * 24 * 60, "week"), (24 * 60, "day"), (60, "hour")):
        if minutes % size == 0:
            count = minutes // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def macro_summary(saved_reply: SavedReply, *, with_reply: bool = True) -> list[str]:
    """What running it does, in the order it does it ("reply", "tag “vip”", "close"…): shown before one runs it.
    Without `with_reply`, only the actions (the composer shows the reply itself)."""
    actions = macro_actions_of(saved_reply)
    words = ["reply"] if saved_reply.body and with_reply else []
    words += [f"tag “{tag.name}”" for tag in actions.tags]
    if actions.priority:
        words.append("mark as priority" if actions.priority == Conversation.Priority.PRIORITY else "remove priority")
    if actions.assign == SavedReply.Assign.RUNNER:
        words.append("assign to you")
    elif actions.assign == SavedReply.Assign.TEAMMATE:
        words.append(
            f"assign to {teammate_display_name(actions.assignee)}" if actions.assignee else "assign (teammate gone)"
        )
    elif actions.assign == SavedReply.Assign.NOBODY:
        words.append("unassign")
    if actions.team:
        words.append(f"team {actions.team.name}")
    if actions.snooze_minutes:
        words.append(f"snooze {duration_words(actions.snooze_minutes)}")
    elif actions.close:
        words.append("close")
    return words
