"""One idempotency key sent at once as a new conversation's first message and as a reply (only a forged messenger
does it): one of them is written, the other is refused on the key, never a deadlock (a 503). PostgreSQL only: SQLite
serialises every writer, so it could not show the race."""

import threading
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from conversations import services
from conversations.models import ConversationPart
from conversations.services.threads import IDEMPOTENCY_KEY_FIELD
from tests.contacts.factories import LeadFactory

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
