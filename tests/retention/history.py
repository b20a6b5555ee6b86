"""Build a contact's whole history across apps, and scan the database for what is left of it."""

import datetime as dt
from collections import Counter

from django.apps import apps
from django.db import models
from django.utils import timezone

from contacts.models import Contact, ContactTag, Tag
from conversations.models import Conversation, ConversationPart, Message, MessageDelivery
from tests.contacts.factories import ContactFactory
from tracking.models import Event, EventSummary, PageView, WebSession


def days_ago(days: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


def give_history(contact: Contact, *, at: dt.datetime | None = None, tag: Tag | None = None) -> Contact:
    """Two sessions, three page views, two events and their summary, a tag, a conversation with two
    parts, and an outbound message delivery: one row in every table that reaches a contact."""
    at = at or contact.last_seen_at or timezone.now()
    sessions = [
        WebSession.objects.create(contact=contact, started_at=at, last_activity_at=at, page_views_count=2),
        WebSession.objects.create(contact=contact, started_at=at, last_activity_at=at, page_views_count=1),
    ]
    for session, path in ((sessions[0], "/"), (sessions[0], "/pricing"), (sessions[1], "/docs")):
        PageView.objects.create(contact=contact, session=session, url=f"https://example.com{path}", created_at=at)
    for _ in range(2):
        Event.objects.create(contact=contact, name="opened-docs", metadata={"page": 1}, created_at=at)
    EventSummary.objects.create(contact=contact, name="opened-docs", count=2, first_at=at, last_at=at)
    if tag is not None:
        ContactTag.objects.create(contact=contact, tag=tag)
    conversation = Conversation.objects.create(contact=contact, state=Conversation.State.CLOSED)
    ConversationPart.objects.create(conversation=conversation, author_contact=contact, body="Hello?")
    ConversationPart.objects.create(conversation=conversation, body="Hi, how can we help?")
    message = Message.objects.create(channel=Message.Channel.IN_APP, body="Welcome back")
    MessageDelivery.objects.create(message=message, contact=contact, conversation=conversation)
    return contact


def visitor(*, last_seen_days_ago: float, history: bool = True, tag: Tag | None = None, **fields: object) -> Contact:
    seen = days_ago(last_seen_days_ago)
    contact = ContactFactory(last_seen_at=seen, first_seen_at=seen, **fields)
    return give_history(contact, at=seen, tag=tag) if history else contact


def _relations_to(model: type[models.Model]) -> list[models.ForeignObjectRel]:
    return [
        rel
        for rel in model._meta.get_fields(include_hidden=True)
        if rel.auto_created and not rel.concrete and (rel.one_to_many or rel.one_to_one)
    ]


def history_rows(contact_id: int) -> Counter:
    """Rows per model label that reach `contact_id` through any foreign key, directly or not."""
    counts: Counter = Counter()

    def walk(model: type[models.Model], rows: models.QuerySet, depth: int) -> None:
        if depth > 4:
            return
        for rel in _relations_to(model):
            children = rel.related_model._base_manager.filter(**{f"{rel.field.name}__in": rows.values("pk")})
            if rel.on_delete is models.CASCADE:
                counts[rel.related_model._meta.label] += children.count()
                walk(rel.related_model, children, depth + 1)

    walk(Contact, Contact._base_manager.filter(pk=contact_id), 0)
    counts[Contact._meta.label] = Contact._base_manager.filter(pk=contact_id).count()
    return +counts


def orphan_rows() -> dict[str, int]:
    """Rows in any table whose foreign key points at a row that no longer exists."""
    orphans: dict[str, int] = {}
    for model in apps.get_models(include_auto_created=True):
        for field in model._meta.concrete_fields:
            if not field.many_to_one and not field.one_to_one:
                continue
            target = field.related_model
            dangling = (
                model._base_manager.exclude(**{f"{field.attname}__isnull": True})
                .exclude(**{f"{field.attname}__in": target._base_manager.values(field.target_field.attname)})
                .count()
            )
            if dangling:
                orphans[f"{model._meta.label}.{field.name}"] = dangling
    return orphans
