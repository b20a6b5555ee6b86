"""Writers of a contact's messages racing each other and its erasure or merge: one idempotency key sent at once as a
new conversation's first message and as a reply (only a forged messenger does it), a message written while its contact
is erased or merged. Each is written or refused, never a deadlock (a 503) nor a 500. PostgreSQL only: SQLite serialises
every writer, so it could not show the race."""

import threading
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from contacts import services as contact_services
from contacts.models import Contact, PrivacyAuditEntry
from conversations import services
from conversations.models import Conversation, ConversationPart
from conversations.services.threads import IDEMPOTENCY_KEY_FIELD
from tests.contacts.factories import LeadFactory, UserContactFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]

ROUNDS = 20


def _at_once(*works):
    """Each work in its own thread and database connection, started together: what each returned or raised."""
    outcomes = [None] * len(works)
    barrier = threading.Barrier(len(works))

    def run(index):
        barrier.wait()
        try:
            outcomes[index] = works[index]()
        except Exception as error:  # the outcome under test
            outcomes[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(works))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_a_key_sent_at_once_as_a_new_conversation_and_as_a_reply_is_written_once_the_other_refused():
    contact = LeadFactory()
    earlier = services.conversation_start_by_contact(contact=contact, body="Hello")
    for _ in range(ROUNDS):
        key = uuid.uuid4()
        outcomes = _at_once(
            lambda key=key: services.conversation_start_by_contact(
                contact=contact, body="Me again", idempotency_key=key
            ),
            lambda key=key: services.conversation_reply_as_contact(
                conversation=earlier, body="Me again", idempotency_key=key
            ),
        )
        refused = [o for o in outcomes if isinstance(o, ValidationError)]
        assert len(refused) == 1, outcomes  # not an OperationalError: "deadlock detected"
        assert IDEMPOTENCY_KEY_FIELD in refused[0].message_dict
        assert ConversationPart.objects.filter(idempotency_key=key).count() == 1


def _written_or_gone(outcome) -> bool:
    """A message either written, or refused because its contact went meanwhile: never a deadlock, a foreign key failing
    at the commit or an update that found no row (each a 5xx)."""
    return isinstance(outcome, (Conversation, ConversationPart, services.ContactGone))


@pytest.mark.parametrize("writes", ["start", "reply"])
@pytest.mark.parametrize("goes", ["erased", "merged"])
def test_a_message_written_while_its_contact_is_erased_or_merged_is_written_or_refused_never_a_5xx(writes, goes):
    """A reply locked the conversation, then the contact; an erasure and a merge take the contact first: they
    deadlocked (a 503). A start wrote for a contact gone meanwhile: a 500 at the commit."""
    for _ in range(ROUNDS // 2):
        contact, user = LeadFactory(), UserContactFactory()
        earlier = services.conversation_start_by_contact(contact=contact, body="Hello")
        write = {
            "start": lambda contact=contact: services.conversation_start_by_contact(contact=contact, body="Me again"),
            "reply": lambda earlier=earlier: services.conversation_reply_as_contact(conversation=earlier, body="Again"),
        }[writes]
        go = {
            "erased": lambda contact=contact: contact_services.contact_erase(
                contact=contact, actor=None, source=PrivacyAuditEntry.Source.ADMIN
            ),
            "merged": lambda contact=contact, user=user: contact_services.contact_merge(source=contact, into=user),
        }[goes]
        written, gone = _at_once(write, go)
        assert _written_or_gone(written), written
        assert not isinstance(gone, Exception), gone
        assert not Contact.objects.filter(pk=contact.pk).exists()
