import io
import random

import pytest
from django.core.management import call_command

from contacts.models import Contact
from conversations.models import Conversation, ConversationPart

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_conversations_for_leads_and_users_only():
    call_command("seed_demo", contacts=300, seed=7, stdout=io.StringIO())
    conversations = Conversation.objects.select_related("contact")
    assert conversations.exists()
    assert all(c.contact.role != Contact.Role.VISITOR for c in conversations)
    assert ConversationPart.objects.count() >= 2 * conversations.count()
    for conversation in conversations:
        first = conversation.parts.order_by("created_at", "id").first()
        assert first.author_contact_id == conversation.contact_id
        assert conversation.preview


def test_seed_for_contacts_is_repeatable_with_a_seed():
    from contacts import demo as contact_demo
    from conversations import demo

    ids = contact_demo.seed(contacts=200, rng=random.Random(1))
    made = demo.seed_for_contacts(contact_ids=ids, rng=random.Random(1))
    assert made == Conversation.objects.count() > 0
