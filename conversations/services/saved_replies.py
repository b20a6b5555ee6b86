"""Saved replies (canned responses) and macros, which are saved replies with actions; their placeholders
are conversations.services.placeholders, running a macro is conversations.services.macros."""

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from common.parsing import text_problem
from contacts.models import Tag
from contacts.services import tag_gone_error, tags_hold
from conversations import selectors
from conversations.models import Conversation, SavedReply, Team
from conversations.services.placeholders import placeholders_check
from conversations.services.threads import clean_body

NAME_MAX_LENGTH = 100
# A macro snoozes for at most this long (a quarter): past it, closing is what the teammate means.
MAX_SNOOZE_MINUTES = 90 * 24 * 60


@dataclass(frozen=True)
class MacroActions:
    """What a saved reply does besides its text; all empty: a plain saved reply."""

    tags: tuple[Tag, ...] = ()
    assign: str = SavedReply.Assign.KEEP
    assignee: Any = None  # the teammate, when assign is TEAMMATE
    team: Team | None = None
    priority: str = ""
    snooze_minutes: int | None = None
    close: bool = False

    @property
    def any(self) -> bool:
        return bool(self.tags or self.assign or self.team or self.priority or self.snooze_minutes or self.close)


NO_ACTIONS = MacroActions()


def macro_actions_clean(actions: MacroActions) -> MacroActions:
    """The actions as they would be stored; ValidationError naming the field when they do not hold together."""
    if actions.assign not in SavedReply.Assign.values:
        raise ValidationError({"assign": "Choose whom the macro assigns to."})
    assignee = actions.assignee if actions.assign == SavedReply.Assign.TEAMMATE else None
    if actions.assign == SavedReply.Assign.TEAMMATE and (
        assignee is None or not (assignee.is_active and assignee.is_staff)
    ):
        raise ValidationError({"assignee": "Choose the active teammate the macro assigns to."})
    if assignee is not None and not selectors.teammate_answers(assignee):
        raise ValidationError({"assignee": selectors.not_answering(assignee)})
    if actions.priority not in ("", *Conversation.Priority.values):
        raise ValidationError({"priority": f"Must be one of: {', '.join(Conversation.Priority.values)}."})
    minutes = actions.snooze_minutes
    if minutes is not None and (
        isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_SNOOZE_MINUTES
    ):
        raise ValidationError({"snooze_minutes": f"Must be a whole number of minutes from 1 to {MAX_SNOOZE_MINUTES}."})
    if minutes and actions.close:
        raise ValidationError({"close": "A macro either snoozes or closes the conversation, not both."})
    held = tags_hold(tag.pk for tag in actions.tags)  # until saved: a tag deleted meanwhile is refused here
    for tag in actions.tags:
        if tag.pk not in held:
            raise tag_gone_error(tag, field="tags")
    return MacroActions(
        tags=tuple(dict.fromkeys(actions.tags)), assign=actions.assign, assignee=assignee, team=actions.team,
        priority=actions.priority, snooze_minutes=minutes or None, close=bool(actions.close),
    )  # fmt: skip


def saved_reply_validate(*, name: Any, body: Any, actions: MacroActions = NO_ACTIONS) -> tuple[str, str]:
    """The name and body a saved reply would be stored with; ValidationError naming the field if not allowed.

    The body may be empty only for a macro with actions (it then replies nothing)."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": "A saved reply needs a name."})
    problem = text_problem(name)
    if problem:
        raise ValidationError({"name": problem})
    name = " ".join(name.split())
    if len(name) > NAME_MAX_LENGTH:
        raise ValidationError({"name": f"Must be at most {NAME_MAX_LENGTH} characters."})
    body = clean_body(body, allow_empty=actions.any)
    placeholders_check(body, field="body")
    macro_actions_clean(actions)
    return name, body


def _save(saved_reply: SavedReply, *, name: str, body: str, actions: MacroActions) -> SavedReply:
    actions = macro_actions_clean(actions)
    if SavedReply.objects.filter(name__iexact=name).exclude(pk=saved_reply.pk).exists():
        raise ValidationError({"name": "A saved reply with this name already exists."})
    saved_reply.name, saved_reply.body = name, body
    saved_reply.assign, saved_reply.assignee, saved_reply.team = actions.assign, actions.assignee, actions.team
    saved_reply.priority, saved_reply.snooze_minutes, saved_reply.close = (
        actions.priority, actions.snooze_minutes, actions.close,
    )  # fmt: skip
    saved_reply.save()
    saved_reply.tags.set(actions.tags)
    return saved_reply


@transaction.atomic
def saved_reply_create(
    *, name: str, body: str, actor: AbstractBaseUser | None = None, actions: MacroActions = NO_ACTIONS
) -> SavedReply:
    """Create a saved reply (a macro when it has actions); a name another one has (in any case) is refused."""
    name, body = saved_reply_validate(name=name, body=body, actions=actions)
    return _save(SavedReply(created_by=actor), name=name, body=body, actions=actions)


@transaction.atomic
def saved_reply_update(
    *, saved_reply: SavedReply, name: str, body: str, actions: MacroActions = NO_ACTIONS
) -> SavedReply:
    """Change a saved reply's name, body and actions; a name another one has is refused."""
    name, body = saved_reply_validate(name=name, body=body, actions=actions)
    return _save(saved_reply, name=name, body=body, actions=actions)


def macro_actions_of(saved_reply: SavedReply) -> MacroActions:
    """A stored saved reply's actions (its tags read through the prefetch, when there is one)."""
    return MacroActions(
        tags=tuple(saved_reply.tags.all()), assign=saved_reply.assign, assignee=saved_reply.assignee,
        team=saved_reply.team, priority=saved_reply.priority, snooze_minutes=saved_reply.snooze_minutes,
        close=saved_reply.close,
    )  # fmt: skip
