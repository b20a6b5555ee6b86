"""The messenger's side of CSAT: the rating request in the conversation the widget loads, and the public
rating endpoint with the widget's strict input rules, its scoping to the caller's own closures and its limits."""

import datetime as dt
import json

import pytest
import time_machine
from django.utils import timezone

from conversations import services
from conversations.models import ConversationRating
from tests.contacts.factories import LeadFactory
from tests.conversations.factories import TeammateFactory
from tests.tracking.factories import ORIGIN, WebsiteFactory
from tracking.widget_auth import widget_token_sign

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed():
    """A lead's answered conversation, closed on a website that asks for ratings: (website, contact, conversation, request)."""
    website = WebsiteFactory(conversation_ratings_enabled=True)
    contact = LeadFactory()
    teammate = TeammateFactory()
    conversation = services.conversation_start_by_contact(contact=contact, body="Where is my order?", website=website)
    services.conversation_reply_as_teammate(conversation=conversation, teammate=teammate, body="Shipped today")
    conversation = services.conversation_close(conversation=conversation, teammate=teammate)
    return website, contact, conversation, ConversationRating.objects.get(conversation=conversation)


def _token(contact, website):
    return widget_token_sign(contact_id=contact.pk, website_id=website.pk)


def _rate(client, website, conversation, raw_body):
    body = raw_body if isinstance(raw_body, str) else json.dumps(raw_body)
    return client.post(f"/widget-api/{website.app_id}/conversations/{conversation.public_id}/rating", data=body,
                       content_type="text/plain;charset=UTF-8", HTTP_ORIGIN=ORIGIN)  # fmt: skip


def _payload(contact, website, request, **fields):
    return {"token": _token(contact, website), "request_id": str(request.pk), "rating": 4, **fields}


def test_the_closed_conversation_carries_its_rating_request_and_the_visitor_rates_it(client, closed):
    website, contact, conversation, request = closed
    shown = client.get(f"/widget-api/{website.app_id}/conversations/{conversation.public_id}",
                       {"token": _token(contact, website)}, HTTP_ORIGIN=ORIGIN).json()["conversation"]  # fmt: skip
    assert shown["state"] == "closed" and shown["unread"] == 2  # the reply and the rating request
    assert shown["rating_request"] == {
        "id": str(request.pk), "rating": None, "remark": "", "final": False,
        "open_until": (request.requested_at + dt.timedelta(days=7)).isoformat().replace("+00:00", "Z"),
    }  # fmt: skip
    assert [p["body"] for p in shown["parts"]] == ["Where is my order?", "Shipped today"]  # the request is no bubble

    response = _rate(client, website, conversation, _payload(contact, website, request, rating=4, remark="Fast!"))

    assert response.status_code == 200, response.json()
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    answer = response.json()["rating_request"]
    assert (answer["rating"], answer["remark"], answer["final"]) == (4, "Fast!", False)
    rated = ConversationRating.objects.get()
    assert answer["open_until"] == (rated.rated_at + dt.timedelta(hours=24)).isoformat().replace("+00:00", "Z")
    changed = _rate(client, website, conversation, _payload(contact, website, request, rating=5))
    assert (changed.json()["rating_request"]["rating"], ConversationRating.objects.get().remark) == (5, "Fast!")


def test_an_open_conversation_shows_no_rating_request(client, closed):
    website, contact, conversation, _ = closed
    services.conversation_reply_as_contact(conversation=conversation, body="Actually, one more thing")
    shown = client.get(f"/widget-api/{website.app_id}/conversations/{conversation.public_id}",
                       {"token": _token(contact, website)}, HTTP_ORIGIN=ORIGIN).json()["conversation"]  # fmt: skip
    assert shown["rating_request"] is None


def test_a_request_the_reopening_withdrew_is_neither_shown_nor_taken_after_a_new_closure(client, closed):
    website, contact, conversation, request = closed
    services.conversation_reply_as_contact(conversation=conversation, body="Actually, one more thing")
    website.conversation_ratings_enabled = False  # closed again, asking nothing this time
    website.save()
    services.conversation_close(conversation=conversation, teammate=None)
    shown = client.get(f"/widget-api/{website.app_id}/conversations/{conversation.public_id}",
                       {"token": _token(contact, website)}, HTTP_ORIGIN=ORIGIN).json()["conversation"]  # fmt: skip
    assert shown["state"] == "closed" and shown["rating_request"] is None
    # A messenger still showing the old card (a tab left open) answers it: refused, naming the field.
    response = _rate(client, website, conversation, _payload(contact, website, request, rating=5))
    assert response.status_code == 409
    assert response.json()["error"]["field"] == "rating" and "opened again" in response.json()["error"]["message"]
    assert ConversationRating.objects.get().rating is None


@pytest.mark.parametrize(
    ("rating_json", "field"),
    [('"5.0"', "rating"), ('"\u0665"', "rating"), ('"\\u0665"', "rating"), ("1e400", "rating"), ("true", "rating"),
     ('"5"', "rating"), ("5.0", "rating"), ("4.5", "rating"), ("0", "rating"), ("6", "rating"), ("-1", "rating"),
     ("null", "rating"), ("[4]", "rating"), ('{"value": 4}', "rating"), ("100000000000000000000000", "rating")],
)  # fmt: skip
def test_the_rating_must_be_a_json_integer_from_1_to_5(client, closed, rating_json, field):
    website, contact, conversation, request = closed
    raw = json.dumps(_payload(contact, website, request))[:-1].replace('"rating": 4', f'"rating": {rating_json}') + "}"
    response = _rate(client, website, conversation, raw)
    assert response.status_code == 400, raw
    assert response.json()["error"]["field"] == field
    assert ConversationRating.objects.get().rating is None


def test_a_missing_rating_is_refused_by_name(client, closed):
    website, contact, conversation, request = closed
    payload = _payload(contact, website, request)
    del payload["rating"]
    response = _rate(client, website, conversation, payload)
    assert (response.status_code, response.json()["error"]["field"]) == (400, "rating")


@pytest.mark.parametrize(
    "remark_json",
    ['"a\\u0000b"', '"\\ud800 lone"', json.dumps("x" * 2001), "42", '["Fast"]'],
)
def test_the_remark_is_bounded_text_without_nul_or_lone_surrogates(client, closed, remark_json):
    website, contact, conversation, request = closed
    raw = json.dumps(_payload(contact, website, request))[:-1] + f', "remark": {remark_json}}}'
    response = _rate(client, website, conversation, raw)
    assert (response.status_code, response.json()["error"]["field"]) == (400, "remark")
    assert ConversationRating.objects.get().rating is None


def test_html_in_a_remark_is_kept_as_text(client, closed):
    website, contact, conversation, request = closed
    remark = "<img src=x onerror=alert(1)> &amp; </textarea>"
    _rate(client, website, conversation, _payload(contact, website, request, remark=remark))
    assert ConversationRating.objects.get().remark == remark  # stored as typed; every page escapes it


@pytest.mark.parametrize("request_id", [7, None, True, ["1"]])
def test_the_request_id_is_a_string(client, closed, request_id):
    website, contact, conversation, request = closed
    response = _rate(client, website, conversation, _payload(contact, website, request, request_id=request_id))
    assert (response.status_code, response.json()["error"]["field"]) == (400, "request_id")


def test_another_contacts_conversation_or_a_closure_that_is_not_theirs_answers_404(client, closed):
    website, contact, conversation, request = closed
    stranger = LeadFactory()
    # The stranger with their own token names the victim's conversation and closure.
    foreign = _rate(client, website, conversation, _payload(stranger, website, request))
    # The victim's own other conversation, closed too: its closure named under the first conversation.
    other = services.conversation_start_by_contact(contact=contact, body="Second question", website=website)
    services.conversation_reply_as_teammate(conversation=other, teammate=TeammateFactory(), body="Answered")
    services.conversation_close(conversation=other, teammate=None)
    other_request = ConversationRating.objects.get(conversation=other)
    mixed = _rate(client, website, conversation, _payload(contact, website, other_request))
    unknown = _rate(client, website, conversation, _payload(contact, website, request, request_id="999999"))
    not_a_number = _rate(client, website, conversation, _payload(contact, website, request, request_id="٣"))
    for response in (foreign, mixed, unknown, not_a_number):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert not ConversationRating.objects.filter(rating__isnull=False).exists()


def test_another_websites_token_or_no_token_is_refused(client, closed):
    website, contact, conversation, request = closed
    elsewhere = WebsiteFactory()
    payload = _payload(contact, website, request, token=_token(contact, elsewhere))
    assert _rate(client, website, conversation, payload).status_code == 403
    assert _rate(client, website, conversation, _payload(contact, website, request, token=None)).status_code == 403
    assert not ConversationRating.objects.filter(rating__isnull=False).exists()


def test_after_24_hours_the_rating_is_final_and_the_answer_says_so(client, closed):
    website, contact, conversation, request = closed
    _rate(client, website, conversation, _payload(contact, website, request, rating=3))
    with time_machine.travel(timezone.now() + dt.timedelta(hours=24, seconds=1), tick=False):
        response = _rate(client, website, conversation, _payload(contact, website, request, rating=5))
        shown = client.get(f"/widget-api/{website.app_id}/conversations/{conversation.public_id}",
                           {"token": _token(contact, website)}, HTTP_ORIGIN=ORIGIN).json()  # fmt: skip
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "rating_closed", "field": "rating",
        "message": "This rating can no longer be changed: a rating can be changed for 24 hours after it is given.",
    }  # fmt: skip
    assert shown["conversation"]["rating_request"]["final"] is True
    assert ConversationRating.objects.get().rating == 3


def test_a_request_left_unanswered_for_a_week_is_no_longer_shown_or_taken(client, closed):
    website, contact, conversation, request = closed
    with time_machine.travel(timezone.now() + dt.timedelta(days=7, seconds=1), tick=False):
        response = _rate(client, website, conversation, _payload(contact, website, request))
        shown = client.get(f"/widget-api/{website.app_id}/conversations/{conversation.public_id}",
                           {"token": _token(contact, website)}, HTTP_ORIGIN=ORIGIN).json()  # fmt: skip
    assert (response.status_code, response.json()["error"]["code"]) == (409, "rating_closed")
    assert shown["conversation"]["rating_request"] is None


def test_ratings_are_rate_limited_like_the_chats_other_writes(client, closed):
    website, contact, conversation, request = closed
    for score in [1, 2, 3, 4, 5] * 4:  # 20 writes a minute are allowed
        assert (
            _rate(client, website, conversation, _payload(contact, website, request, rating=score)).status_code == 200
        )
    refused = _rate(client, website, conversation, _payload(contact, website, request, rating=2))
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert ConversationRating.objects.get().rating == 5


def test_the_poll_reports_the_closed_conversation_and_its_unread_request(client, closed):
    website, contact, conversation, _ = closed
    poll = client.get(f"/widget-api/{website.app_id}/poll", {"token": _token(contact, website)},
                      HTTP_ORIGIN=ORIGIN).json()  # fmt: skip
    assert poll["changed"] == [conversation.public_id] and poll["unread_count"] == 2


def test_only_post_is_answered(client, closed):
    website, _contact, conversation, _request = closed
    response = client.get(f"/widget-api/{website.app_id}/conversations/{conversation.public_id}/rating",
                          HTTP_ORIGIN=ORIGIN)  # fmt: skip
    assert response.status_code == 405
