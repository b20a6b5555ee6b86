import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations import services
from conversations.models import Conversation, ConversationPart
from tests.contacts.factories import ContactFactory, LeadFactory, TagFactory, UserContactFactory

pytestmark = pytest.mark.django_db


def start(contact=None, body="Hello, I need help"):
    return services.conversation_start_by_contact(contact=contact or UserContactFactory(), body=body)


def test_create_from_a_contact_returns_the_message(api):
    user = UserContactFactory()
    response = api.post("/api/conversations", {"from": {"type": "user", "id": str(user.pk)}, "body": "Hi there"},
                        format="json")  # fmt: skip
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["type"], body["message_type"], body["body"]) == ("user_message", "inapp", "Hi there")
    conversation = Conversation.objects.get(pk=body["conversation_id"])
    assert conversation.contact == user


def test_a_visitor_writing_becomes_a_lead(api):
    visitor = ContactFactory()
    api.post("/api/conversations", {"from": {"type": "contact", "id": str(visitor.pk)}, "body": "?"}, format="json")
    visitor.refresh_from_db()
    assert visitor.role == "lead"


def test_get_conversation_with_parts(api, teammate):
    conversation = start()
    services.conversation_reply_as_teammate(conversation=conversation, teammate=teammate, body="On it <b>now</b>")
    body = api.get(f"/api/conversations/{conversation.pk}").json()
    assert (body["type"], body["state"], body["open"]) == ("conversation", "open", True)
    assert body["source"]["body"] == "<p>Hello, I need help</p>"
    assert body["source"]["author"]["id"] == str(conversation.contact_id)
    assert body["contacts"]["contacts"][0]["id"] == str(conversation.contact_id)
    parts = body["conversation_parts"]["conversation_parts"]
    assert [p["part_type"] for p in parts] == ["comment", "comment"]
    assert parts[1]["body"] == "<p>On it &lt;b&gt;now&lt;/b&gt;</p>"
    assert parts[1]["author"] == {"type": "admin", "id": str(teammate.pk), "name": "Alex", "email": "agent@parley.test"}
    assert body["admin_assignee_id"] == teammate.pk


def test_reply_as_admin_comment_and_note_and_as_contact(api, teammate):
    user = UserContactFactory(external_id="cust-1")
    conversation = start(user)
    url = f"/api/conversations/{conversation.pk}/reply"
    api.post(
        url, {"message_type": "comment", "type": "admin", "admin_id": str(teammate.pk), "body": "Hi"}, format="json"
    )
    api.post(url, {"message_type": "note", "type": "admin", "admin_id": str(teammate.pk), "body": "VIP"}, format="json")
    response = api.post(url, {"message_type": "comment", "type": "user", "user_id": "cust-1", "body": "Thanks"},
                        format="json")  # fmt: skip
    parts = response.json()["conversation_parts"]["conversation_parts"]
    assert [(p["part_type"], p["author"]["type"]) for p in parts] == [
        ("comment", "user"), ("comment", "admin"), ("note", "admin"), ("comment", "user")
    ]  # fmt: skip
    stranger = UserContactFactory(external_id="other")
    refused = api.post(url, {"message_type": "comment", "type": "user", "user_id": "other", "body": "x"}, format="json")
    assert refused.status_code == 404
    assert stranger.pk


def test_manage_close_open_snooze_assign(api, teammate, superuser):
    conversation = start()
    url = f"/api/conversations/{conversation.pk}/parts"
    admin = str(teammate.pk)
    assert (
        api.post(url, {"message_type": "close", "admin_id": admin, "body": "Bye"}, format="json").json()["state"]
        == "closed"
    )
    assert api.post(url, {"message_type": "open", "admin_id": admin}, format="json").json()["state"] == "open"
    until = int((timezone.now() + dt.timedelta(hours=2)).timestamp())
    snoozed = api.post(
        url, {"message_type": "snoozed", "admin_id": admin, "snoozed_until": until}, format="json"
    ).json()
    assert (snoozed["state"], snoozed["snoozed_until"]) == ("snoozed", until)
    assigned = api.post(url, {"message_type": "assignment", "admin_id": admin, "type": "admin",
                              "assignee_id": str(superuser.pk)}, format="json").json()  # fmt: skip
    assert assigned["admin_assignee_id"] == superuser.pk
    types = [
        p.part_type for p in ConversationPart.objects.filter(conversation=conversation).order_by("created_at", "id")
    ]
    assert types == ["comment", "comment", "close", "open", "snooze", "assignment"]


def test_a_refused_note_leaves_the_assignment_as_it_was(api, teammate, superuser):
    conversation = start()
    url = f"/api/conversations/{conversation.pk}/parts"
    response = api.post(url, {"message_type": "assignment", "admin_id": str(teammate.pk), "type": "admin",
                              "assignee_id": str(superuser.pk), "body": "x" * 10_001}, format="json")  # fmt: skip
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "body"
    conversation.refresh_from_db()
    assert conversation.assignee_id is None
    assert not ConversationPart.objects.filter(conversation=conversation, part_type="assignment").exists()


def test_manage_errors_name_the_field(api, teammate):
    conversation = start()
    url = f"/api/conversations/{conversation.pk}/parts"
    past = int((timezone.now() - dt.timedelta(hours=1)).timestamp())
    response = api.post(url, {"message_type": "snoozed", "snoozed_until": past}, format="json")
    assert response.json()["errors"][0]["field"] == "snoozed_until"
    assert api.post(url, {"message_type": "explode"}, format="json").json()["errors"][0]["field"] == "message_type"
    assert api.post(url, {"message_type": "assignment", "assignee_id": "99999"}, format="json").status_code == 404


def test_tag_untag_and_delete(api):
    conversation, tag = start(), TagFactory(name="billing")
    assert (
        api.post(f"/api/conversations/{conversation.pk}/tags", {"id": str(tag.pk)}, format="json").json()["name"]
        == "billing"
    )
    assert api.get(f"/api/conversations/{conversation.pk}").json()["tags"]["tags"][0]["name"] == "billing"
    api.delete(f"/api/conversations/{conversation.pk}/tags/{tag.pk}")
    assert api.get(f"/api/conversations/{conversation.pk}").json()["tags"]["tags"] == []
    deleted = api.delete(f"/api/conversations/{conversation.pk}").json()
    assert deleted == {"id": str(conversation.pk), "object": "conversation", "deleted": True}
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert not ConversationPart.objects.filter(conversation_id=conversation.pk).exists()


def test_tagging_says_who_in_the_timeline_once_per_change(api, teammate, superuser):
    conversation, tag = start(), TagFactory(name="<b>billing</b>")
    url = f"/api/conversations/{conversation.pk}"
    assert api.post(f"{url}/tags", {"id": str(tag.pk)}, format="json").status_code == 200  # as the token's teammate
    assert api.post(f"{url}/tags", {"id": str(tag.pk), "admin_id": str(superuser.pk)}, format="json").status_code == 200
    # (it had the tag: no second event) A superuser's token may name another admin, in DELETE's body as Intercom's.
    assert api.delete(f"{url}/tags/{tag.pk}", {"admin_id": str(superuser.pk)}, format="json").status_code == 200
    parts = api.get(url).json()["conversation_parts"]["conversation_parts"]
    assert [(p["part_type"], p["author"]["id"], p["body"]) for p in parts[1:]] == [
        ("tag", str(teammate.pk), "<p>&lt;b&gt;billing&lt;/b&gt;</p>"),
        ("untag", str(superuser.pk), "<p>&lt;b&gt;billing&lt;/b&gt;</p>"),
    ]
    missing = api.post(f"{url}/tags", {"id": str(tag.pk), "admin_id": "99999"}, format="json")
    assert (missing.status_code, missing.json()["errors"][0]["field"]) == (404, "admin_id")
    assert not conversation.tags.exists()


def test_list_pages_with_fixed_queries(api):
    api.get("/api/me")

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert api.get("/api/conversations?per_page=10").status_code == 200
        return len(captured)

    for _ in range(3):
        start()
    small = queries()
    for _ in range(25):
        start()
    assert queries() == small
    ids, after = [], None
    while True:
        url = "/api/conversations?per_page=10" + (f"&starting_after={after}" if after else "")
        body = api.get(url).json()
        ids += [c["id"] for c in body["conversations"]]
        after = body["pages"].get("next", {}).get("starting_after")
        if not after:
            break
    assert len(ids) == len(set(ids)) == 28


def test_search_conversations(api, teammate):
    ada, lee = UserContactFactory(), LeadFactory()
    first, second = start(ada), start(lee)
    services.conversation_close(conversation=first, teammate=teammate)
    tag = TagFactory()
    services.conversation_tag(conversation=second, tag=tag, teammate=None)

    def ids(query):
        response = api.post("/api/conversations/search", {"query": query}, format="json")
        assert response.status_code == 200, response.json()
        return {c["id"] for c in response.json()["conversations"]}

    assert ids({"field": "state", "operator": "=", "value": "closed"}) == {str(first.pk)}
    assert ids({"field": "open", "operator": "=", "value": True}) == {str(second.pk)}
    assert ids({"field": "contact_ids", "operator": "=", "value": str(lee.pk)}) == {str(second.pk)}
    assert ids({"field": "tag_ids", "operator": "IN", "value": [str(tag.pk)]}) == {str(second.pk)}
    assert ids({"operator": "AND", "value": [
        {"field": "created_at", "operator": ">", "value": 1000},
        {"field": "admin_assignee_id", "operator": "=", "value": None},
        {"field": "state", "operator": "!=", "value": "closed"},
    ]}) == {str(second.pk)}  # fmt: skip
    bad = api.post(
        "/api/conversations/search", {"query": {"field": "body", "operator": "=", "value": "x"}}, format="json"
    )
    assert bad.json()["errors"][0]["field"] == "body"
