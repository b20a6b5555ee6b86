"""Saved replies (canned responses) and their placeholders."""

import re
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from contacts.models import Contact
from conversations.models import SavedReply
from conversations.services.threads import clean_body, teammate_display_name

PLACEHOLDER_RE = re.compile(r"\{\{\s*(contact|teammate)\.(name|first_name|email)\s*\}\}")
ANY_PLACEHOLDER_RE = re.compile(r"\{\{\s*([^}]*?)\s*\}\}")
KNOWN_PLACEHOLDERS = ("contact.name", "contact.first_name", "contact.email", "teammate.name")


def saved_reply_validate(*, name: Any, body: Any) -> tuple[str, str]:
    """The name and body a saved reply would be stored with; ValidationError naming the field if not allowed."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": "A saved reply needs a name."})
    if len(name.strip()) > 100:
        raise ValidationError({"name": "Must be at most 100 characters."})
    body = clean_body(body)
    unknown = [p for p in ANY_PLACEHOLDER_RE.findall(body) if p not in KNOWN_PLACEHOLDERS]
    if unknown:
        raise ValidationError(
            {"body": f"Unknown placeholder {{{{{unknown[0]}}}}}; use one of: {', '.join(KNOWN_PLACEHOLDERS)}."}
        )
    return name.strip(), body


@transaction.atomic
def saved_reply_create(*, name: str, body: str, actor: AbstractBaseUser | None = None) -> SavedReply:
    name, body = saved_reply_validate(name=name, body=body)
    if SavedReply.objects.filter(name__iexact=name).exists():
        raise ValidationError({"name": "A saved reply with this name already exists."})
    return SavedReply.objects.create(name=name, body=body, created_by=actor)


@transaction.atomic
def saved_reply_update(*, saved_reply: SavedReply, name: str, body: str) -> SavedReply:
    name, body = saved_reply_validate(name=name, body=body)
    if SavedReply.objects.filter(name__iexact=name).exclude(pk=saved_reply.pk).exists():
        raise ValidationError({"name": "A saved reply with this name already exists."})
    saved_reply.name, saved_reply.body = name, body
    saved_reply.save()
    return saved_reply


def saved_reply_render(*, body: str, contact: Contact, teammate: AbstractBaseUser | None) -> str:
    """Fill {{contact.name}}, {{contact.first_name}}, {{contact.email}} and {{teammate.name}} (plain text)."""
    full_name = contact.name.strip()
    values = {
        ("contact", "name"): full_name or "there",
        ("contact", "first_name"): full_name.split()[0] if full_name else "there",
        ("contact", "email"): contact.email,
        ("teammate", "name"): teammate_display_name(teammate),
        ("teammate", "first_name"): teammate_display_name(teammate),
        ("teammate", "email"): "",
    }
    return PLACEHOLDER_RE.sub(lambda m: values[(m.group(1), m.group(2))], body)
