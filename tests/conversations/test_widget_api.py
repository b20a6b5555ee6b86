import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts.models import Contact
from contacts.services import contact_consent_record
from conversations import selectors, services
from conversations.models import Conversation, MessageDelivery
from conversations.services.teammates import teammate_profile_update
from tests.contacts.factories import ContactFactory, LeadFactory
from tests.conversations.factories import TeammateFactory, in_app_delivery
from tests.tracking.factories import WebsiteFactory
from tracking.widget_auth import widget_token_sign

pytestmark = pytest.mark.django_db
ORIGIN = "https://shop.example"


def _token(contact, website):
    return widget_token_sign(contact_id=contact.pk, website_id=website.pk)


def _post(client, url, payload, origin=ORIGIN):
    return client.post(url, data=json.dumps(payload), content_type="text/plain;charset=UTF-8", HTTP_ORIGIN=origin)


def _get(client, url, origin=ORIGIN, **params):
    return client.get(url, params, HTTP_ORIGIN=origin)


def test_visitor_starts_a_conversation_becomes_lead_and_sees_it(client, website):
    visitor = ContactFactory()
    token = _token(visitor, website)
    response = _post(client, f"/widget-api/{website.app_id}/conversations", {"token": token, "body": "Hello!"})
    assert response.status_code == 201
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    data = response.json()
    assert data["token"] == token
    conversation = data["conversation"]
    assert conversation["state"] == "open"
    assert [p["body"] for p in conversation["parts"]] == ["Hello!"]
    assert conversation["parts"][0]["author_type"] == "contact"
    visitor.refresh_from_db()
    assert visitor.role == Contact.Role.LEAD
    listed = _get(client, f"/widget-api/{website.app_id}/conversations", token=token).json()
    assert [c["id"] for c in listed["conversations"]] == [conversation["id"]]
    assert listed["conversations"][0]["last_part"]["body"] == "Hello!"


def test_writing_in_the_messenger_is_a_sighting_where_tracking_keeps_one(client, website):
    """'Last seen' moves with a message as with a page view, never before 'Last heard from'; not for a contact tracking
    records nothing for (restricted, analytics refused) nor one it never saw (a site that tracks nobody yet)."""
    hour_ago = timezone.now() - dt.timedelta(hours=1)
    seen = ContactFactory(last_seen_at=hour_ago)
    restricted = ContactFactory(last_seen_at=hour_ago, processing_restricted=True)
    refused = ContactFactory(last_seen_at=hour_ago, analytics_consent=False)
    never_seen = ContactFactory(last_seen_at=None)
    base = f"/widget-api/{website.app_id}"
    for contact in (seen, restricted, refused, never_seen):
        token = _token(contact, website)
        started = _post(client, f"{base}/conversations", {"token": token, "body": "Hello"})
        assert started.status_code == 201
        contact.refresh_from_db()
        if contact is seen:
            assert contact.last_seen_at >= contact.last_replied_at > hour_ago
            public_id = started.json()["conversation"]["id"]
            Contact.objects.filter(pk=contact.pk).update(last_seen_at=hour_ago)
            reply = _post(client, f"{base}/conversations/{public_id}/reply", {"token": token, "body": "Still there"})
            assert reply.status_code == 201
            contact.refresh_from_db()
            assert contact.last_seen_at >= contact.last_replied_at > hour_ago
        else:
            assert contact.last_seen_at == (None if contact is never_seen else hour_ago)


def test_writing_without_a_token_creates_a_lead_and_returns_a_token(client, website):
    response = _post(client, f"/widget-api/{website.app_id}/conversations", {"body": "Support-only hello"})
    assert response.status_code == 201
    lead = Contact.objects.get()
    assert lead.role == Contact.Role.LEAD
    token = response.json()["token"]
    assert _get(client, f"/widget-api/{website.app_id}/conversations", token=token).status_code == 200


def test_writing_with_a_known_anonymous_id_continues_that_visitor(client, website):
    visitor = ContactFactory(first_website_id=website.pk)  # this website's visitor (another's is unknown here)
    response = _post(
        client, f"/widget-api/{website.app_id}/conversations", {"anonymous_id": str(visitor.anonymous_id), "body": "Hi"}
    )
    assert response.status_code == 201
    assert Conversation.objects.get().contact == visitor


def test_thread_hides_internal_notes_and_shows_teammate_replies(client, website):
    lead = LeadFactory()
    conversation = services.conversation_start_by_contact(contact=lead, body="Question")
    agent = TeammateFactory(first_name="Robin", username="robin.secret")
    services.conversation_add_note(conversation=conversation, teammate=agent, body="internal: refund abuse?")
    services.conversation_reply_as_teammate(conversation=conversation, teammate=agent, body="Answer <b>bold</b>")
    data = _get(client, f"/widget-api/{website.app_id}/conversations/{conversation.public_id}",
                token=_token(lead, website)).json()  # fmt: skip
    bodies = [p["body"] for p in data["conversation"]["parts"]]
    assert "internal: refund abuse?" not in json.dumps(data)
    assert "robin.secret" not in json.dumps(data)
    assert bodies[-1] == "Answer <b>bold</b>"  # plain text; the widget renders it as text
    assert data["conversation"]["parts"][-1]["author_name"] == "Robin"
    assert data["conversation"]["unread"] == 1


def test_the_thread_is_headed_by_the_teammate_answering_it_the_assignee_once_a_teammate_wrote(client, website):
    lead = LeadFactory()
    conversation = services.conversation_start_by_contact(contact=lead, body="Question")
    sam, leo = TeammateFactory(first_name="Sam"), TeammateFactory(first_name="Leo", username="leo.login")
    url, token = f"/widget-api/{website.app_id}/conversations/{conversation.public_id}", _token(lead, website)

    def heading():
        return _get(client, url, token=token).json()["conversation"]["teammate_name"]

    services.conversation_assign(conversation=conversation, teammate=sam, assignee=leo)
    assert heading() is None  # nobody wrote yet: the messenger says "Conversation", not who was picked
    services.conversation_add_note(conversation=conversation, teammate=sam, body="Leo knows refunds")
    assert heading() is None  # a note is internal
    services.conversation_reply_as_teammate(conversation=conversation, teammate=sam, body="Leo will take this")
    conversation.refresh_from_db()
    services.conversation_assign(conversation=conversation, teammate=sam, assignee=leo)
    # Reassigned to Leo, who has not written: named only by a display name for visitors, never by a login or full
    # name; till then, the last who wrote.
    assert heading() == "Sam"
    teammate_profile_update(teammate=leo, display_name="Leo")
    with CaptureQueriesContext(connection) as captured:
        assert heading() == "Leo"  # who answers next, though Sam wrote last
    assert len(captured) <= 5  # one more than a thread's own: the assignee, who has not written in it
    services.conversation_reply_as_teammate(conversation=conversation, teammate=leo, body="Hi, Leo here")
    services.conversation_reply_as_teammate(conversation=conversation, teammate=sam, body="(Sam, helping)")
    conversation.refresh_from_db()
    assert conversation.assignee == leo
    assert heading() == "Leo"
    services.conversation_assign(conversation=conversation, teammate=sam, assignee=None)
    assert heading() == "Sam"  # nobody's: the last who wrote


def test_another_contacts_conversation_answers_404_like_an_unknown_id(client, website):
    owner, intruder = LeadFactory(), LeadFactory()
    conversation = services.conversation_start_by_contact(contact=owner, body="Private")
    token = _token(intruder, website)
    base = f"/widget-api/{website.app_id}/conversations"
    foreign = [
        _get(client, f"{base}/{conversation.public_id}", token=token),
        _post(client, f"{base}/{conversation.public_id}/reply", {"token": token, "body": "hijack"}),
        _post(client, f"{base}/{conversation.public_id}/read", {"token": token}),
    ]
    unknown = [
        _get(client, f"{base}/doesnotexist", token=token),
        _post(client, f"{base}/doesnotexist/reply", {"token": token, "body": "hijack"}),
        _post(client, f"{base}/doesnotexist/read", {"token": token}),
    ]
    for a, b in zip(foreign, unknown, strict=True):
        assert a.status_code == b.status_code == 404
        assert a.json() == b.json()
    assert conversation.parts.count() == 1


def test_reply_mark_read_and_poll(client, website):
    lead = LeadFactory()
    token = _token(lead, website)
    conversation = services.conversation_start_by_contact(contact=lead, body="Hi")
    base = f"/widget-api/{website.app_id}"
    first = _get(client, f"{base}/poll", token=token).json()
    assert first["unread_count"] == 0 and first["changed"] == [conversation.public_id]
    cursor = first["cursor"]
    assert _get(client, f"{base}/poll", token=token, since=cursor).json()["changed"] == []
    services.conversation_reply_as_teammate(conversation=conversation, teammate=TeammateFactory(), body="Hello")
    polled = _get(client, f"{base}/poll", token=token, since=cursor).json()
    assert polled["unread_count"] == 1 and polled["changed"] == [conversation.public_id]
    read = _post(client, f"{base}/conversations/{conversation.public_id}/read", {"token": token})
    assert read.json() == {"unread_count": 0}
    reply = _post(client, f"{base}/conversations/{conversation.public_id}/reply", {"token": token, "body": "Thanks"})
    assert reply.status_code == 201
    assert reply.json()["part"]["body"] == "Thanks"


@pytest.mark.parametrize("close", [services.conversation_close, None])
def test_a_reply_answers_the_conversation_as_it_now_is_reopened_when_it_was_closed(client, website, close):
    """The messenger follows this answer: a closed conversation its visitor writes in is open again (its "closed"
    notice stayed on screen until a poll, minutes later when polls had backed off after a failed send)."""
    lead = LeadFactory()
    token = _token(lead, website)
    conversation = services.conversation_start_by_contact(contact=lead, body="Hi", website=website)
    if close:
        close(conversation=conversation, teammate=TeammateFactory())
    url = f"/widget-api/{website.app_id}/conversations/{conversation.public_id}/reply"
    reply = _post(client, url, {"token": token, "body": "One more thing"})
    assert reply.status_code == 201
    shown = reply.json()["conversation"]
    listed = _get(client, f"/widget-api/{website.app_id}/conversations", token=token).json()["conversations"]
    assert shown == listed[0]  # the list's shape, as the list now shows it
    assert (shown["id"], shown["state"], shown["unread"]) == (conversation.public_id, "open", 0)
    assert (shown["last_part"]["body"], shown["last_part"]["author_type"]) == ("One more thing", "contact")
    conversation.refresh_from_db()
    assert conversation.state == Conversation.State.OPEN


def test_poll_is_one_query_after_the_website_lookups(client, website):
    lead = LeadFactory()
    for _ in range(3):
        services.conversation_start_by_contact(contact=lead, body="Hi")
    with CaptureQueriesContext(connection) as captured:
        response = _get(client, f"/widget-api/{website.app_id}/poll", token=_token(lead, website))
    assert response.status_code == 200
    # The website (ours, and once more in tracking's CORS check until its cache is warm), whether the token's
    # contact still exists (no ping left its snapshot in the hot path), then one query.
    assert len(captured) <= 4


def test_a_long_history_polls_and_pings_the_newest_changes_and_counts_every_unread_reply(client, website):
    """A poll every few seconds stays small whatever the contact's history: it lists the most recent changes only
    (it listed every conversation's id: 520 KB for 20,000), in a fixed number of queries, while the unread count, here and in the ping, still
    counts a reply in a conversation older than the list shows."""
    lead = LeadFactory()
    token = _token(lead, website)
    oldest = services.conversation_start_by_contact(contact=lead, body="First", website=website)
    services.conversation_reply_as_teammate(conversation=oldest, teammate=TeammateFactory(), body="Answered")
    newer = [
        services.conversation_start_by_contact(contact=lead, body=f"Then {n}", website=website)
        for n in range(selectors.WIDGET_LIST_LIMIT + 1)
    ]
    base = f"/widget-api/{website.app_id}"
    with CaptureQueriesContext(connection) as captured:
        first = _get(client, f"{base}/poll", token=token).json()
    newest_first = [c.public_id for c in reversed(newer)][: selectors.WIDGET_LIST_LIMIT]
    assert (first["changed"], first["unread_count"]) == (newest_first, 1)
    assert len(captured) <= 5  # a short history's four, and the sum of its unread ones (a partial index)
    assert _get(client, f"{base}/poll", token=token, since=first["cursor"]).json()["changed"] == []
    services.conversation_reply_as_teammate(conversation=newer[0], teammate=TeammateFactory(), body="And this")
    polled = _get(client, f"{base}/poll", token=token, since=first["cursor"]).json()
    assert (polled["changed"], polled["unread_count"]) == ([newer[0].public_id], 2)
    pinged = _post(client, f"{base}/ping", {"token": token, "page": {"url": f"{ORIGIN}/"}}).json()
    assert len(pinged["conversations"]) == selectors.WIDGET_LIST_LIMIT
    assert oldest.public_id not in {c["id"] for c in pinged["conversations"]}
    assert pinged["unread_count"] == 2


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({"body": ""}, 400, "body"),
        ({"body": 42}, 400, "body"),
        ({"body": "x" * 10_001}, 400, "body"),
        ({"token": "forged", "body": "hi"}, 403, "token"),
        ({"anonymous_id": "not-a-uuid", "body": "hi"}, 400, "anonymous_id"),
    ],
)
def test_bad_input_gets_a_clear_error_naming_the_field(client, website, payload, status, field):
    response = _post(client, f"/widget-api/{website.app_id}/conversations", payload)
    assert response.status_code == status
    assert response.json()["error"]["field"] == field


def test_malformed_json_too_large_and_bad_cursor(client, website):
    url = f"/widget-api/{website.app_id}/conversations"
    bad = client.post(url, data="{nope", content_type="text/plain", HTTP_ORIGIN=ORIGIN)
    assert bad.status_code == 400
    big = client.post(url, data="x" * 40_000, content_type="text/plain", HTTP_ORIGIN=ORIGIN)
    assert big.status_code == 413
    token = _token(LeadFactory(), website)
    assert _get(client, f"/widget-api/{website.app_id}/poll", token=token, since="yesterday").status_code == 400


def test_unknown_app_and_foreign_origin_are_refused(client, website):
    assert _get(client, "/widget-api/nope1234/conversations", token="x").status_code == 404
    response = _get(client, f"/widget-api/{website.app_id}/conversations", origin="https://evil.example", token="x")
    assert response.status_code == 403
    # The foreign page may read the refusal (its widget then says "not set up", issue 12), and nothing else:
    assert response.json()["error"]["code"] == "origin_not_allowed"
    assert set(response.json()) == {"error"}
    assert "Access-Control-Allow-Credentials" not in response


def test_token_for_another_website_is_refused(client, website):
    other = WebsiteFactory()
    token = _token(LeadFactory(), other)
    response = _get(client, f"/widget-api/{website.app_id}/conversations", token=token)
    assert response.status_code == 403


def test_a_user_cannot_be_written_as_through_an_anonymous_id(client, website):
    from tests.contacts.factories import UserContactFactory

    user = UserContactFactory()
    response = _post(client, f"/widget-api/{website.app_id}/conversations",
                     {"anonymous_id": str(user.anonymous_id), "body": "I am you"})  # fmt: skip
    assert response.status_code == 403
    assert not Conversation.objects.exists()


def test_writes_are_rate_limited_per_contact(client, website, monkeypatch, mid_window_clock):
    from widget import chat_views

    monkeypatch.setattr(chat_views, "WRITES_PER_MINUTE", 3)
    lead = LeadFactory()
    token = _token(lead, website)
    url = f"/widget-api/{website.app_id}/conversations"
    responses = [_post(client, url, {"token": token, "body": f"spam {i}"}) for i in range(5)]
    assert [r.status_code for r in responses] == [201, 201, 201, 429, 429]
    assert int(responses[-1]["Retry-After"]) > 0
    assert Conversation.objects.filter(contact=lead).count() == 3


def test_widget_state_lists_unread_and_in_app_messages_until_shown(website):
    from widget.chat_views import chat_state as widget_state

    lead = LeadFactory(marketing_consent=True)  # in-app campaigns are marketing
    conversation = services.conversation_start_by_contact(contact=lead, body="Hi")
    services.conversation_reply_as_teammate(conversation=conversation, teammate=TeammateFactory(), body="Yo")
    message = services.message_send(sender=None, channel="in_app", body="New feature!", contact_ids=[lead.pk])
    services.message_deliver_batch(message_id=message.pk)
    scope = selectors.messenger_scope(website_id=website.pk, verified_sign_in=False)
    state = widget_state(lead, scope)
    assert state["unread_count"] == 2  # the reply and the message not shown yet
    assert [m["body"] for m in state["messages"]] == ["New feature!"]
    assert [m["body"] for m in widget_state(lead, scope)["messages"]] == ["New feature!"]  # seen only once shown
    services.in_app_message_mark_seen(contact=lead, delivery_id=state["messages"][0]["id"])
    state = widget_state(lead, scope)
    assert (state["unread_count"], state["messages"]) == (1, [])


def test_ping_answers_with_unread_count_conversations_and_in_app_messages(client, website):
    lead = LeadFactory(marketing_consent=True)  # in-app campaigns are marketing
    conversation = services.conversation_start_by_contact(contact=lead, body="Hi")
    services.conversation_reply_as_teammate(conversation=conversation, teammate=TeammateFactory(), body="Hello!")
    message = services.message_send(sender=None, channel="in_app", body="We shipped dark mode", contact_ids=[lead.pk])
    services.message_deliver_batch(message_id=message.pk)
    ping = {"token": _token(lead, website), "page": {"url": "https://shop.example/", "title": "Shop"}}
    data = _post(client, f"/widget-api/{website.app_id}/ping", ping).json()
    assert data["unread_count"] == 2  # the reply and the in-app message
    assert [c["id"] for c in data["conversations"]] == [conversation.public_id]
    assert data["conversations"][0]["last_part"]["body"] == "Hello!"
    assert [m["body"] for m in data["messages"]] == ["We shipped dark mode"]
    again = _post(client, f"/widget-api/{website.app_id}/ping", ping).json()
    assert [m["body"] for m in again["messages"]] == ["We shipped dark mode"]  # not shown yet: still there
    seen = _post(client, f"/widget-api/{website.app_id}/messages/{data['messages'][0]['id']}/seen", ping)
    assert seen.json()["unread_count"] == 1
    third = _post(client, f"/widget-api/{website.app_id}/ping", ping).json()
    assert third["messages"] == []  # shown once, then never again


def _list_queries(client, website, contact):
    token = _token(contact, website)
    _get(client, f"/widget-api/{website.app_id}/conversations", token=token)  # warm the website cache
    with CaptureQueriesContext(connection) as captured:
        response = _get(client, f"/widget-api/{website.app_id}/conversations", token=token)
    assert response.status_code == 200
    return len(captured)


def test_widget_list_and_thread_query_counts_do_not_grow(client, website):
    lead = LeadFactory()
    first = services.conversation_start_by_contact(contact=lead, body="one")
    few = _list_queries(client, website, lead)
    for _ in range(6):
        services.conversation_reply_as_contact(
            conversation=services.conversation_start_by_contact(contact=lead, body="x"), body="y"
        )
    # The contact, its conversations, its in-app messages shown and not answered.
    assert _list_queries(client, website, lead) == few <= 3
    # With such messages, one more: whether the contact allows them (the marketing purpose), however many.
    seen = in_app_delivery(lead)
    MessageDelivery.objects.filter(pk=seen.pk).update(seen_at=timezone.now())
    with_one = _list_queries(client, website, lead)
    for _ in range(3):
        MessageDelivery.objects.filter(pk=in_app_delivery(lead).pk).update(seen_at=timezone.now())
    assert _list_queries(client, website, lead) == with_one <= 4
    agent = TeammateFactory()
    url = f"/widget-api/{website.app_id}/conversations/{first.public_id}"
    token = _token(lead, website)
    with CaptureQueriesContext(connection) as small:
        _get(client, url, token=token)
    for _ in range(10):
        services.conversation_reply_as_teammate(conversation=first, teammate=agent, body="more")
    with CaptureQueriesContext(connection) as big:
        _get(client, url, token=token)
    # contact, conversation, parts, and the parts' files (one prefetch however many); the assignee wrote in it
    assert len(small) == len(big) <= 4


def _ping(client, website, contact):
    ping = {"token": _token(contact, website), "page": {"url": "https://shop.example/", "title": "Shop"}}
    return _post(client, f"/widget-api/{website.app_id}/ping", ping).json()


def test_a_quiet_contacts_ping_skips_the_chat_queries_until_a_teammate_writes(client, website):
    lead = LeadFactory()
    _ping(client, website, lead)  # warm caches; finds no chat state and marks the contact quiet
    with CaptureQueriesContext(connection) as quiet:
        assert _ping(client, website, lead)["conversations"] == []
    assert not [q for q in quiet.captured_queries if "conversations_" in q["sql"]]

    conversation = services.conversation_start_by_teammate(contact=lead, teammate=TeammateFactory(), body="Hi!")

    answer = _ping(client, website, lead)
    assert [c["id"] for c in answer["conversations"]] == [conversation.public_id]
    assert answer["unread_count"] == 1


def test_an_in_app_message_reaches_a_quiet_contact(client, website):
    lead = LeadFactory(marketing_consent=True)  # in-app campaigns are marketing
    _ping(client, website, lead)
    message = services.message_send(sender=None, channel="in_app", body="Dark mode is here", contact_ids=[lead.pk])
    assert _ping(client, website, lead)["messages"] == []  # queued, not sent yet
    services.message_deliver_batch(message_id=message.pk)
    assert [m["body"] for m in _ping(client, website, lead)["messages"]] == ["Dark mode is here"]


def test_a_quiet_user_sees_the_conversations_of_a_visitor_merged_into_it(client, website):
    from contacts.services import contact_merge
    from tests.contacts.factories import UserContactFactory

    user = UserContactFactory()
    _ping(client, website, user)
    visitor = ContactFactory()
    conversation = services.conversation_start_by_contact(contact=visitor, body="Where is my order?")
    contact_merge(source=Contact.objects.get(pk=visitor.pk), into=user)
    assert [c["id"] for c in _ping(client, website, user)["conversations"]] == [conversation.public_id]


def test_an_in_app_message_is_listed_rendered_for_its_contact_and_answered_into_one_conversation(client, website):
    lead = LeadFactory(name="Ada Lovelace")
    delivery = in_app_delivery(lead)
    token = _token(lead, website)
    listed = _get(client, f"/widget-api/{website.app_id}/messages", token=token).json()["messages"]
    assert [(m["id"], m["body"], m["author_name"]) for m in listed] == [(str(delivery.pk), "Hi Ada!", "Kim")]

    url = f"/widget-api/{website.app_id}/messages/{delivery.pk}/reply"
    refused = _post(client, url, {"token": token, "body": "   "})
    assert refused.status_code == 400
    assert refused.json()["error"]["field"] == "body"
    first = _post(client, url, {"token": token, "body": "Thanks!"})
    assert first.status_code == 201
    again = _post(client, url, {"token": token, "body": "One more thing"})
    assert again.json()["conversation"]["id"] == first.json()["conversation"]["id"]
    conversation = Conversation.objects.get()
    assert list(conversation.parts.values_list("body", flat=True)) == ["Hi Ada!", "Thanks!", "One more thing"]
    assert _get(client, f"/widget-api/{website.app_id}/messages", token=token).json()["messages"] == []
    # The website whose messenger it was answered in (walk, 2026-12-06: none, so its office hours, SLA clock and
    # unread-reply email did not apply).
    assert conversation.website == website


def test_a_teammates_unread_answer_to_an_in_app_reply_is_emailed_as_in_any_chat(
    client, website, eager_celery, django_capture_on_commit_callbacks, mailoutbox
):
    lead = LeadFactory(name="Ada Lovelace", email="ada@example.com")
    delivery = in_app_delivery(lead)
    token = _token(lead, website)
    url = f"/widget-api/{website.app_id}/messages/{delivery.pk}/reply"
    assert _post(client, url, {"token": token, "body": "Does it come in blue?"}).status_code == 201
    conversation = Conversation.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_reply_as_teammate(conversation=conversation, teammate=TeammateFactory(), body="It does!")
    assert [email.to for email in mailoutbox] == [["ada@example.com"]]
    assert "It does!" in mailoutbox[0].body


@pytest.mark.parametrize("delivery_id", ["other", "²", "٣", "9" * 40, "-1", "1e3"])
def test_in_app_message_endpoints_never_reach_another_contacts_message(client, website, delivery_id):
    owner, attacker = LeadFactory(), LeadFactory()
    delivery = in_app_delivery(owner)
    target = str(delivery.pk) if delivery_id == "other" else delivery_id
    token = _token(attacker, website)
    for action in ("seen", "reply"):
        response = _post(
            client, f"/widget-api/{website.app_id}/messages/{target}/{action}", {"token": token, "body": "x"}
        )
        assert response.status_code == 404, (action, response.content)
        assert response.json()["error"]["code"] == "not_found"
    delivery.refresh_from_db()
    assert delivery.seen_at is None
    assert not Conversation.objects.exists()


def test_in_app_messages_need_a_token_of_this_website(client, website):
    lead = LeadFactory()
    delivery = in_app_delivery(lead)
    other_token = _token(lead, WebsiteFactory())
    assert _get(client, f"/widget-api/{website.app_id}/messages", token=other_token).status_code == 403
    response = _post(client, f"/widget-api/{website.app_id}/messages/{delivery.pk}/seen", {"token": other_token})
    assert response.status_code == 403


def test_an_in_app_message_shown_and_not_answered_stays_in_the_messengers_list_for_a_month(client, website):
    lead = LeadFactory(name="Ada Lovelace")
    token = _token(lead, website)
    listed_url = f"/widget-api/{website.app_id}/conversations"
    delivery = in_app_delivery(lead)
    assert _get(client, listed_url, token=token).json()["messages_kept"] == []  # not shown yet: it opens by itself
    _post(client, f"/widget-api/{website.app_id}/messages/{delivery.pk}/seen", {"token": token})
    # Shown on a page the visitor left: still there to answer, as it was shown, and answerable from there.
    kept = _get(client, listed_url, token=token).json()["messages_kept"]
    assert [(m["id"], m["body"], m["author_name"]) for m in kept] == [(str(delivery.pk), "Hi Ada!", "Kim")]
    assert _get(client, f"/widget-api/{website.app_id}/messages", token=token).json()["messages_kept"] == kept
    # Not another contact's, not a month later, not once answered (its conversation is listed instead).
    assert _get(client, listed_url, token=_token(LeadFactory(), website)).json()["messages_kept"] == []
    MessageDelivery.objects.filter(pk=delivery.pk).update(seen_at=timezone.now() - dt.timedelta(days=31))
    assert _get(client, listed_url, token=token).json()["messages_kept"] == []
    MessageDelivery.objects.filter(pk=delivery.pk).update(seen_at=timezone.now())
    answered = _post(
        client, f"/widget-api/{website.app_id}/messages/{delivery.pk}/reply", {"token": token, "body": "Hi!"}
    )
    assert answered.status_code == 201
    after = _get(client, listed_url, token=token).json()
    assert after["messages_kept"] == [] and len(after["conversations"]) == 1
    # Without the marketing purpose in-app messages are not shown at all.
    withdrawn = in_app_delivery(lead)
    _post(client, f"/widget-api/{website.app_id}/messages/{withdrawn.pk}/seen", {"token": token})
    contact_consent_record(contact_id=lead.pk, analytics=None, marketing=False, source="widget")
    assert _get(client, listed_url, token=token).json()["messages_kept"] == []


def test_a_reply_is_awaited_for_minutes_after_the_visitor_wrote_and_no_longer_once_answered(client, website):
    """The ping and the list say which conversations await a reply (the visitor wrote last, minutes ago): the loader
    loads the messenger on such a page, and it polls every few seconds for the reply's badge."""
    visitor = ContactFactory()
    token = _token(visitor, website)
    base = f"/widget-api/{website.app_id}"
    teammate = TeammateFactory()

    def ping():
        answer = _post(client, f"{base}/ping", {"token": token, "page": {"url": "https://shop.example/"}}).json()
        return answer["awaiting"], [c["awaiting"] for c in answer["conversations"]]

    assert ping() == (False, [])
    public_id = _post(client, f"{base}/conversations", {"token": token, "body": "Hello?"}).json()["conversation"]["id"]
    assert ping() == (True, [True])
    listed = _get(client, f"{base}/conversations", token=token).json()
    assert [c["awaiting"] for c in listed["conversations"]] == [True]
    # Minutes later, still unanswered: no longer "just asked" (a page then polls once a minute).
    conversation = Conversation.objects.get(public_id=public_id)
    Conversation.objects.filter(pk=conversation.pk).update(last_part_at=timezone.now() - dt.timedelta(minutes=6))
    assert ping() == (False, [False])
    # The visitor writes again, then the team answers: nothing awaited.
    _post(client, f"{base}/conversations/{public_id}/reply", {"token": token, "body": "Anyone?"})
    assert ping() == (True, [True])
    services.conversation_reply_as_teammate(conversation=conversation, teammate=teammate, body="Yes, here.")
    assert ping() == (False, [False])


def test_the_list_comes_twenty_at_a_time_and_names_no_foreign_conversation(client, website):
    """The walk: the messenger listed the 20 newest conversations, and the older ones (an unread reply in one too)
    could not be reached. The list now goes on after its last one (`before`)."""
    lead, other = LeadFactory(), LeadFactory()
    token = _token(lead, website)
    started = [
        services.conversation_start_by_contact(contact=lead, body=f"Question {n}", website=website)
        for n in range(selectors.WIDGET_LIST_LIMIT + 5)
    ]
    newest_first = [c.public_id for c in reversed(started)]
    url = f"/widget-api/{website.app_id}/conversations"
    first = _get(client, url, token=token).json()
    assert ([c["id"] for c in first["conversations"]], first["more"]) == (newest_first[:20], True)
    with CaptureQueriesContext(connection) as captured:
        rest = _get(client, url, token=token, before=newest_first[19]).json()
    assert ([c["id"] for c in rest["conversations"]], rest["more"], rest["messages_kept"]) == (
        newest_first[20:],
        False,
        [],
    )
    assert len(captured) <= 6
    foreign = services.conversation_start_by_contact(contact=other, body="Not yours", website=website)
    for before in (foreign.public_id, "nope", "a\x00b", "x" * 40):
        refused = _get(client, url, token=token, before=before)
        assert refused.status_code == 400 and refused.json()["error"]["field"] == "before"
