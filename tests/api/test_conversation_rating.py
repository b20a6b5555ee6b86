"""The API side of CSAT: `conversation_rating` in Intercom's conversation object (the official SDK reads it),
a close through the API asks for a rating like any other close, lists stay at a fixed query count, and the
`conversation.rating.added` webhook."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from api import services as api_services
from api.models import WebhookDelivery, WebhookSubscription
from conversations import services
from conversations.models import ConversationRating
from tests.contacts.factories import UserContactFactory
from tests.tracking.factories import WebsiteFactory

pytestmark = pytest.mark.django_db


def _answered(teammate, *, contact=None, website=None):
    website = website or WebsiteFactory(conversation_ratings_enabled=True)
    contact = contact or UserContactFactory(external_id="cust-7")
    conversation = services.conversation_start_by_contact(contact=contact, body="Help!", website=website)
    services.conversation_reply_as_teammate(conversation=conversation, teammate=teammate, body="Here you go")
    return conversation


def _rated(teammate, *, rating=4, remark="Quick, thanks", **options):
    conversation = _answered(teammate, **options)
    services.conversation_close(conversation=conversation, teammate=teammate)
    request = ConversationRating.objects.get(conversation=conversation)
    return conversation, services.conversation_rating_give(request=request, rating=rating, remark=remark)


def test_conversation_rating_is_null_until_rated_then_in_intercoms_shape(api, teammate):
    conversation = _answered(teammate)
    assert api.get(f"/api/conversations/{conversation.pk}").json()["conversation_rating"] is None

    closed = api.post(f"/api/conversations/{conversation.pk}/parts",
                      {"message_type": "close", "type": "admin", "admin_id": str(teammate.pk)}, format="json")  # fmt: skip
    assert closed.status_code == 200, closed.json()
    request = ConversationRating.objects.get(conversation=conversation)  # a close through the API asks too
    assert closed.json()["conversation_rating"] is None  # asked, not answered
    given = services.conversation_rating_give(request=request, rating=4, remark="Quick, thanks")

    body = api.get(f"/api/conversations/{conversation.pk}").json()
    assert body["conversation_rating"] == {
        "rating": 4,
        "remark": "Quick, thanks",
        "created_at": int(request.requested_at.timestamp()),
        "updated_at": int(given.updated_at.timestamp()),
        "contact": {"type": "contact", "id": str(conversation.contact_id), "external_id": "cust-7"},
        "teammate": {"type": "admin", "id": str(teammate.pk)},
    }


def test_the_latest_rated_closure_is_the_conversations_rating(api, teammate):
    conversation, _first = _rated(teammate, rating=2, remark="Slow")
    services.conversation_reopen(conversation=conversation, teammate=teammate)
    services.conversation_close(conversation=conversation, teammate=teammate)
    assert api.get(f"/api/conversations/{conversation.pk}").json()["conversation_rating"]["rating"] == 2
    second = ConversationRating.objects.filter(conversation=conversation, rating__isnull=True).get()
    services.conversation_rating_give(request=second, rating=5)
    assert api.get(f"/api/conversations/{conversation.pk}").json()["conversation_rating"]["rating"] == 5


def test_list_and_search_show_ratings_with_a_fixed_number_of_queries(api, teammate):
    api.get("/api/me")

    def queries(path="/api/conversations?per_page=20"):
        with CaptureQueriesContext(connection) as captured:
            response = api.get(path)
        assert response.status_code == 200
        return len(captured), response.json()

    _rated(teammate, contact=UserContactFactory())
    small, _ = queries()
    for score in (1, 2, 3, 5, 5, 4):
        _rated(teammate, rating=score, contact=UserContactFactory())
    count, body = queries()
    assert count == small
    assert sorted(c["conversation_rating"]["rating"] for c in body["conversations"]) == [1, 2, 3, 4, 4, 5, 5]


def test_a_rating_sends_the_conversation_rating_added_webhook_once_per_answer(teammate, settings):
    settings.PARLEY_WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True
    api_services.webhook_subscription_save(
        subscription=WebhookSubscription(), url="http://127.0.0.1:9/hook", topics=["conversation.rating.added"]
    )
    conversation = _answered(teammate)
    services.conversation_close(conversation=conversation, teammate=teammate)
    request = ConversationRating.objects.get()
    assert not WebhookDelivery.objects.exists()  # asking is not rating

    services.conversation_rating_give(request=request, rating=3, remark="OK")
    services.conversation_rating_give(request=request, rating=3, remark="OK")  # the same answer again: nothing new
    services.conversation_rating_give(request=request, rating=5)  # a change is a new answer

    deliveries = list(WebhookDelivery.objects.order_by("id"))
    assert [d.topic for d in deliveries] == ["conversation.rating.added"] * 2
    items = [d.payload["data"]["item"] for d in deliveries]
    assert (items[0]["type"], items[0]["id"]) == ("conversation", str(conversation.pk))
    assert [(i["conversation_rating"]["rating"], i["conversation_rating"]["remark"]) for i in items] == [
        (3, "OK"), (5, "OK")
    ]  # fmt: skip


def test_the_official_sdk_reads_the_conversation_rating(intercom, teammate):
    conversation, given = _rated(teammate, rating=5, remark="Brilliant")
    found = intercom.conversations.find(conversation_id=str(conversation.pk))
    rating = found.conversation_rating
    assert (rating.rating, rating.remark, rating.created_at) == (5, "Brilliant", int(given.requested_at.timestamp()))
    assert (rating.contact.id, rating.contact.external_id, rating.teammate.id) == (
        str(conversation.contact_id), "cust-7", str(teammate.pk)
    )  # fmt: skip
