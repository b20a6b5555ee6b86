"""Raw rows for the reports' tests, made through the real services, then placed in time.

`Story` writes conversations (started by contacts, answered, closed, breached), page views and emails
at given moments; the tests compare what the rollups say with what a direct reading of these raw rows says.
"""

import datetime as dt

from django.utils import timezone

from contacts.models import Contact
from conversations import services
from conversations.models import (
    Conversation,
    ConversationPart,
    Message,
    MessageDelivery,
    SlaBreach,
)
from tests.contacts.factories import ContactFactory, LeadFactory
from tracking.models import PageView, WebSession


def conversation_at(
    *, created_at: dt.datetime, website=None, team=None, teammate=None, priority: str = "not_priority",
    first_response_after: dt.timedelta | None = None, closed_after: dt.timedelta | None = None,
    responder=None,
) -> Conversation:  # fmt: skip
    """A conversation a contact started at `created_at`, answered and closed that much later (when given)."""
    conversation = services.conversation_start_by_contact(contact=LeadFactory(), body="Hello?", website=website)
    Conversation.objects.filter(pk=conversation.pk).update(team=team, assignee=teammate, priority=priority)
    conversation.refresh_from_db()
    if first_response_after is not None:
        services.conversation_reply_as_teammate(conversation=conversation, teammate=responder or teammate,
                                                body="On it.")  # fmt: skip
        Conversation.objects.filter(pk=conversation.pk).update(assignee=teammate)
    if closed_after is not None:
        services.conversation_close(conversation=conversation, teammate=teammate)
        ConversationPart.objects.filter(conversation=conversation, part_type="close").update(
            created_at=created_at + closed_after
        )
    Conversation.objects.filter(pk=conversation.pk).update(
        created_at=created_at,
        first_response_at=created_at + first_response_after if first_response_after is not None else None,
    )
    ConversationPart.objects.filter(conversation=conversation).exclude(part_type="close").update(created_at=created_at)
    conversation.refresh_from_db()
    return conversation


def breach(conversation: Conversation, *, due_at: dt.datetime, kind: str = SlaBreach.Kind.FIRST_RESPONSE) -> SlaBreach:
    return SlaBreach.objects.create(
        conversation=conversation, kind=kind, due_at=due_at, recorded_at=due_at + dt.timedelta(minutes=1),
        team=conversation.team, priority=conversation.priority, assignee=conversation.assignee,
    )  # fmt: skip


def page_view_at(*, created_at: dt.datetime, website=None, contact: Contact | None = None) -> PageView:
    contact = contact or ContactFactory()
    session = WebSession.objects.create(
        contact=contact, website=website, started_at=created_at, last_activity_at=created_at, page_views_count=1
    )
    return PageView.objects.create(contact=contact, session=session, url="https://shop.example/", created_at=created_at)


def email_at(*, created_at: dt.datetime, recipients: int, opened: int, clicked: int, is_test: bool = False) -> Message:
    """An email message written at `created_at`, sent to `recipients` leads, some of whom opened and clicked."""
    message = Message.objects.create(channel=Message.Channel.EMAIL, subject="News", body="Hi", state="sent",
                                     is_test=is_test, recipients_count=recipients)  # fmt: skip
    Message.objects.filter(pk=message.pk).update(created_at=created_at)
    for index in range(recipients):
        MessageDelivery.objects.create(
            message=message, contact=LeadFactory(), state=MessageDelivery.State.SENT, sent_at=created_at,
            opened_at=created_at + dt.timedelta(hours=1) if index < opened else None,
            clicked_at=created_at + dt.timedelta(hours=2) if index < clicked else None,
        )  # fmt: skip
    return message


def now() -> dt.datetime:
    return timezone.now()
