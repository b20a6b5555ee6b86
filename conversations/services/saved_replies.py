"""Saved replies (canned responses); their placeholders are conversations.services.placeholders."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from conversations.models import SavedReply
from conversations.services.placeholders import placeholders_check
from conversations.services.threads import clean_body


def saved_reply_validate(*, name: Any, body: Any) -> tuple[str, str]:
    """The name and body a saved reply would be stored with; ValidationError naming the field if not allowed."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": "A saved reply needs a name."})
    if len(name.strip()) > 100:
        raise ValidationError({"name": "Must be at most 100 characters."})
    body = clean_body(body)
    placeholders_check(body, field="body")
    return name.strip(), body


@transaction.atomic
def saved_reply_create(*, name: str, body: str, actor: AbstractBaseUser | None = None) -> SavedReply:
    """Create a saved reply; a name another one has (in any case) is refused."""
    name, body = saved_reply_validate(name=name, body=body)
    if SavedReply.objects.filter(name__iexact=name).exists():
        raise ValidationError({"name": "A saved reply with this name already exists."})
    return SavedReply.objects.create(name=name, body=body, created_by=actor)


@transaction.atomic
def saved_reply_update(*, saved_reply: SavedReply, name: str, body: str) -> SavedReply:
    """Change a saved reply's name and body; a name another one has is refused."""
    name, body = saved_reply_validate(name=name, body=body)
    if SavedReply.objects.filter(name__iexact=name).exclude(pk=saved_reply.pk).exists():
        raise ValidationError({"name": "A saved reply with this name already exists."})
    saved_reply.name, saved_reply.body = name, body
    saved_reply.save()
    return saved_reply
