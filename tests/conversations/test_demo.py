import io
import random

import pytest
from django.core.management import call_command
from django.utils import timezone

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


def test_seeded_contacts_last_heard_from_and_last_contacted_follow_their_threads():
    call_command("seed_demo", contacts=300, seed=7, stdout=io.StringIO())
    for conversation in Conversation.objects.select_related("contact"):
        contact = conversation.contact
        said = ConversationPart.objects.filter(conversation__contact=contact, part_type="comment")
        last_said = said.filter(author_contact__isnull=False).order_by("-created_at").first()
        answered = said.filter(author_teammate__isnull=False).order_by("-created_at").first()
        assert contact.last_replied_at == (last_said.created_at if last_said else None)
        assert contact.last_contacted_at == (answered.created_at if answered else None)


def test_the_demo_colleagues_are_agents_who_may_work_what_they_are_given():
    from django.contrib.auth import get_user_model

    from conversations.demo import DEMO_COLLEAGUES

    call_command("seed_demo", contacts=100, seed=7, stdout=io.StringIO())
    for username, _ in DEMO_COLLEAGUES:
        colleague = get_user_model().objects.get(username=username)
        assert colleague.has_perm("conversations.change_conversation"), username
        assert colleague.has_perm("conversations.view_conversation"), username


def test_seed_for_contacts_is_repeatable_with_a_seed():
    from contacts import demo as contact_demo
    from conversations import demo

    ids = contact_demo.seed(contacts=200, rng=random.Random(1))
    made = demo.seed_for_contacts(contact_ids=ids, rng=random.Random(1))
    assert made == Conversation.objects.count() > 0


def test_seed_demo_rates_most_closed_conversations_a_teammate_answered():
    from conversations import selectors
    from conversations.models import ConversationRating

    call_command("seed_demo", contacts=2000, seed=42, stdout=io.StringIO())  # what setup_demo seeds
    ratings = ConversationRating.objects.select_related("conversation", "closure")
    assert ratings.exists()
    for rating in ratings:
        assert rating.closure.part_type == "close" and rating.closure.conversation_id == rating.conversation_id
        assert rating.conversation.state == "closed" and rating.conversation.first_response_at is not None
        assert rating.contact_id == rating.conversation.contact_id and rating.requested_at == rating.closure.created_at
        assert (rating.rating is None) == (rating.rated_at is None)
    given = selectors.ratings_given(since=min(r.requested_at for r in ratings), until=max(
        r.rated_at or r.requested_at for r in ratings) + timezone.timedelta(days=1))  # fmt: skip
    summary = selectors.ratings_summary(given)
    # Enough for the reports' charts: most requests answered, a spread of scores, mostly satisfied.
    assert summary.count > ratings.count() / 2
    assert sum(1 for n in summary.distribution.values() if n) >= 4 and summary.count >= 20, summary
    assert summary.csat_percent > 50
