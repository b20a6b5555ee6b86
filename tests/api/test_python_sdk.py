"""The official python-intercom SDK, pointed at a live Parley server, for every covered call."""

import pytest
from intercom import (
    CreateContactRequestWithEmail,
    CreateContactRequestWithRole,
    CreateOrUpdateTagRequest,
    MultipleFilterSearchRequest,
    SingleFilterSearchRequest,
    StartingAfterPaging,
)
from intercom.core.api_error import ApiError
from intercom.errors import NotFoundError, UnauthorizedError
from intercom.visitors import UserWithUserId, VisitorWithId

from contacts.models import Contact
from tests.contacts.factories import ContactFactory, UserContactFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_sdk_admins(intercom, teammate):
    me = intercom.admins.identify()
    assert (me.id, me.email, me.type) == (str(teammate.pk), teammate.email, "admin")
    assert [a.id for a in intercom.admins.list().admins] == [str(teammate.pk)]
    assert intercom.admins.find(admin_id=str(teammate.pk)).name == "Alex"


def test_sdk_contact_lifecycle(intercom):
    created = intercom.contacts.create(
        request=CreateContactRequestWithEmail(email="sdk@example.com", name="Sdk User", external_id="sdk-1")
    )
    assert (created.type, created.role, created.email) == ("contact", "user", "sdk@example.com")
    found = intercom.contacts.find(contact_id=created.id)
    assert found.external_id == "sdk-1"
    updated = intercom.contacts.update(contact_id=created.id, name="Renamed", custom_attributes={"plan": "pro"})
    assert (updated.name, updated.custom_attributes) == ("Renamed", {"plan": "pro"})
    assert intercom.contacts.show_contact_by_external_id(external_id="sdk-1").id == created.id
    assert intercom.contacts.archive(contact_id=created.id).archived is True
    assert intercom.contacts.unarchive(contact_id=created.id).archived is False
    deleted = intercom.contacts.delete(contact_id=created.id)
    assert (deleted.id, deleted.deleted) == (created.id, True)
    with pytest.raises(ApiError) as gone:
        intercom.contacts.find(contact_id=created.id)
    assert gone.value.status_code == 404


def test_sdk_list_pages_through_every_contact(intercom):
    users = UserContactFactory.create_batch(7)
    seen = [contact.id for contact in intercom.contacts.list(per_page=3)]
    assert sorted(seen) == sorted(str(u.pk) for u in users)


def test_sdk_search_single_and_grouped_filters_with_paging(intercom):
    users = UserContactFactory.create_batch(5)
    lead = intercom.contacts.create(request=CreateContactRequestWithRole(role="lead", email="lead@example.com"))
    by_email = list(
        intercom.contacts.search(query=SingleFilterSearchRequest(field="email", operator="=", value="lead@example.com"))
    )
    assert [c.id for c in by_email] == [lead.id]
    grouped = intercom.contacts.search(
        query=MultipleFilterSearchRequest(
            operator="AND",
            value=[
                SingleFilterSearchRequest(field="role", operator="=", value="user"),
                SingleFilterSearchRequest(field="created_at", operator=">", value="1000000000"),
            ],
        ),
        pagination=StartingAfterPaging(per_page=50),
    )
    # The SDK's pager re-requests while pages.next is present: a finite, exact answer proves it is omitted.
    assert sorted(c.id for c in grouped) == sorted(str(u.pk) for u in users)


def test_sdk_merge_lead_into_user(intercom):
    lead = intercom.contacts.create(request=CreateContactRequestWithRole(role="lead", name="Lead"))
    user = intercom.contacts.create(request=CreateContactRequestWithEmail(email="u@example.com"))
    merged = intercom.contacts.merge_lead_in_user(lead_id=lead.id, contact_id=user.id)
    assert merged.id == user.id
    assert not Contact.objects.filter(pk=lead.id).exists()


def test_sdk_tags(intercom):
    tag = intercom.tags.create(request=CreateOrUpdateTagRequest(name="SDK tag"))
    assert intercom.tags.find(tag_id=tag.id).name == "SDK tag"
    assert [t.name for t in intercom.tags.list().data] == ["SDK tag"]
    renamed = intercom.tags.create(request=CreateOrUpdateTagRequest(name="Renamed tag", id=tag.id))
    assert (renamed.id, renamed.name) == (tag.id, "Renamed tag")
    contact = intercom.contacts.create(request=CreateContactRequestWithEmail(email="t@example.com"))
    assert intercom.tags.tag_contact(contact_id=contact.id, tag_id=tag.id).id == tag.id
    assert [t.id for t in intercom.contacts.list_attached_tags(contact_id=contact.id).data] == [tag.id]
    intercom.tags.untag_contact(contact_id=contact.id, tag_id=tag.id)
    assert intercom.contacts.list_attached_tags(contact_id=contact.id).data == []
    intercom.tags.delete(tag_id=tag.id)
    with pytest.raises(NotFoundError):
        intercom.tags.find(tag_id=tag.id)


def test_sdk_notes(intercom, teammate):
    contact = intercom.contacts.create(request=CreateContactRequestWithEmail(email="n@example.com"))
    note = intercom.notes.create(contact_id=contact.id, body="Prefers email", admin_id=str(teammate.pk))
    assert (note.body, note.author.id) == ("Prefers email", str(teammate.pk))
    assert [n.id for n in intercom.notes.list(contact_id=contact.id)] == [note.id]
    assert intercom.notes.find(note_id=note.id).body == "Prefers email"


def test_sdk_data_attributes(intercom):
    created = intercom.data_attributes.create(
        request={"name": "seats", "model": "contact", "data_type": "integer", "description": "Seats bought"}
    )
    assert (created.name, created.data_type, created.model) == ("seats", "integer", "contact")
    options = intercom.data_attributes.create(
        request={"name": "tier", "model": "contact", "data_type": "options", "options": [{"value": "gold"}]}
    )
    assert options.options == ["gold"]
    assert {a.name for a in intercom.data_attributes.list(model="contact").data} == {"seats", "tier"}
    archived = intercom.data_attributes.update(data_attribute_id=created.id, request={"archived": True})
    assert archived.archived is True
    assert {a.name for a in intercom.data_attributes.list(model="contact").data} == {"tier"}
    assert {a.name for a in intercom.data_attributes.list(model="contact", include_archived=True).data} == {
        "seats", "tier"
    }  # fmt: skip


def test_sdk_visitor_convert(intercom):
    visitor = ContactFactory()
    contact = intercom.visitors.merge_to_contact(
        type="user",
        user=UserWithUserId(user_id="from-visitor", email="v@example.com"),
        visitor=VisitorWithId(id=str(visitor.pk)),
    )
    assert (contact.id, contact.role, contact.external_id) == (str(visitor.pk), "user", "from-visitor")


def test_sdk_errors_carry_status_codes(intercom, live_server):
    from intercom import Intercom

    with pytest.raises(UnauthorizedError) as unauthorized:
        Intercom(token="wrong", base_url=live_server.url + "/api").contacts.list()
    assert unauthorized.value.status_code == 401
    with pytest.raises(ApiError) as not_found:
        intercom.contacts.find(contact_id="123456789")
    assert not_found.value.status_code == 404
    assert not_found.value.body["errors"][0]["code"] == "not_found"
    with pytest.raises(ApiError) as invalid:
        intercom.contacts.search(query=SingleFilterSearchRequest(field="nope", operator="=", value="x"))
    assert invalid.value.status_code == 400
    assert invalid.value.body["errors"][0]["field"] == "nope"
    intercom.contacts.create(request=CreateContactRequestWithEmail(email="dup@example.com"))
    with pytest.raises(ApiError) as conflict:
        intercom.contacts.create(request=CreateContactRequestWithEmail(email="dup@example.com"))
    assert conflict.value.status_code == 409


def test_sdk_events_and_summaries(intercom):
    import time

    user = UserContactFactory(external_id="ev-1", email="ev@example.com")
    intercom.events.create(request={"event_name": "invited-friend", "user_id": "ev-1", "metadata": {"friend": "x"}})
    intercom.events.create(
        request={"event_name": "invited-friend", "email": "ev@example.com", "created_at": int(time.time()) - 60}
    )
    intercom.events.summaries(
        user_id="ev-1",
        event_summaries={
            "event_name": "imported",
            "count": 5,
            "first": int(time.time()) - 3600,
            "last": int(time.time()) - 60,
        },
    )
    summary = intercom.events.list(type="user", user_id="ev-1", summary=True)
    assert summary.intercom_user_id == str(user.pk)
    assert {(e.name, e.count) for e in summary.events} == {("invited-friend", 2), ("imported", 5)}
    listed = intercom.events.list(type="user", intercom_user_id=str(user.pk))
    assert len(listed.events) == 2


def test_sdk_conversations(intercom, teammate, superuser):
    import time

    from intercom import (
        AdminReplyConversationRequest,
        ContactReplyIntercomUserIdRequest,
        ConversationsManageRequestBody_Assignment,
        ConversationsManageRequestBody_Close,
        ConversationsManageRequestBody_Open,
        ConversationsManageRequestBody_Snoozed,
        CreateConversationRequestFrom,
    )

    user = intercom.contacts.create(request=CreateContactRequestWithEmail(email="conv@example.com"))
    message = intercom.conversations.create(from_=CreateConversationRequestFrom(type="user", id=user.id), body="Help!")
    conversation_id = message.conversation_id
    admin = str(teammate.pk)
    replied = intercom.conversations.reply(
        conversation_id=conversation_id,
        request=AdminReplyConversationRequest(message_type="comment", admin_id=admin, body="Hello"),
    )
    assert replied.conversation_parts.conversation_parts[-1].author.type == "admin"
    intercom.conversations.reply(
        conversation_id=conversation_id,
        request=AdminReplyConversationRequest(message_type="note", admin_id=admin, body="Internal"),
    )
    intercom.conversations.reply(
        conversation_id=conversation_id,
        request=ContactReplyIntercomUserIdRequest(intercom_user_id=user.id, body="Thanks"),
    )
    found = intercom.conversations.find(conversation_id=conversation_id)
    assert [p.part_type for p in found.conversation_parts.conversation_parts] == [
        "comment",
        "comment",
        "note",
        "comment",
    ]
    closed = intercom.conversations.manage(
        conversation_id=conversation_id, request=ConversationsManageRequestBody_Close(admin_id=admin, body="Bye")
    )
    assert closed.state == "closed"
    opened = intercom.conversations.manage(
        conversation_id=conversation_id, request=ConversationsManageRequestBody_Open(admin_id=admin)
    )
    assert opened.state == "open"
    until = int(time.time()) + 3600
    snoozed = intercom.conversations.manage(
        conversation_id=conversation_id,
        request=ConversationsManageRequestBody_Snoozed(admin_id=admin, snoozed_until=until),
    )
    assert (snoozed.state, snoozed.snoozed_until) == ("snoozed", until)
    assigned = intercom.conversations.manage(
        conversation_id=conversation_id,
        request=ConversationsManageRequestBody_Assignment(type="admin", admin_id=admin, assignee_id=str(superuser.pk)),
    )
    assert assigned.admin_assignee_id == superuser.pk
    tag = intercom.tags.create(request=CreateOrUpdateTagRequest(name="urgent"))
    intercom.tags.tag_conversation(conversation_id=conversation_id, tag_id=tag.id, admin_id=admin)
    assert [t.name for t in intercom.conversations.find(conversation_id=conversation_id).tags.tags] == ["urgent"]
    intercom.tags.untag_conversation(conversation_id=conversation_id, tag_id=tag.id, admin_id=admin)
    searched = intercom.conversations.search(
        query=SingleFilterSearchRequest(field="contact_ids", operator="=", value=user.id)
    )
    assert [c.id for c in searched] == [conversation_id]
    assert conversation_id in [c.id for c in intercom.conversations.list(per_page=5)]
    deleted = intercom.conversations.delete_conversation(conversation_id=conversation_id)
    assert deleted.deleted is True


def test_sdk_messages_in_app_and_email(intercom, teammate):
    from intercom import CreateMessageRequest_Email, CreateMessageRequest_Inapp, CreateMessageRequestFrom
    from intercom import CreateMessageRequestTo as To

    from conversations.models import Message, MessageDelivery

    user = intercom.contacts.create(request=CreateContactRequestWithEmail(email="msg@example.com", external_id="m-1"))
    sender = CreateMessageRequestFrom(type="admin", id=teammate.pk)
    in_app = intercom.messages.create(
        request=CreateMessageRequest_Inapp(body="Welcome aboard", from_=sender, to=To(type="user", id=user.id))
    )
    assert (in_app.type, in_app.message_type, in_app.body) == ("admin_message", "inapp", "Welcome aboard")
    email = intercom.messages.create(
        request=CreateMessageRequest_Email(
            subject="Your trial", body="See https://shop.example/pricing", template="plain", from_=sender,
            to=To(type="user", id=user.id),
        )
    )  # fmt: skip
    assert (email.message_type, email.subject) == ("email", "Your trial")
    assert sorted(Message.objects.values_list("channel", flat=True)) == ["email", "in_app"]
    assert set(MessageDelivery.objects.values_list("contact_id", flat=True)) == {int(user.id)}
    with pytest.raises(ApiError) as missing:
        intercom.messages.create(
            request=CreateMessageRequest_Inapp(body="Hi", from_=sender, to=To(type="user", id="99999999"))
        )
    assert missing.value.status_code == 404


def test_sdk_message_that_opens_a_conversation_without_a_reply(intercom, teammate):
    from intercom import CreateMessageRequest_Inapp, CreateMessageRequestFrom
    from intercom import CreateMessageRequestTo as To

    user = intercom.contacts.create(request=CreateContactRequestWithEmail(email="open@example.com"))
    message = intercom.messages.create(
        request=CreateMessageRequest_Inapp(
            body="Your export is ready", from_=CreateMessageRequestFrom(type="admin", id=teammate.pk),
            to=To(type="user", id=user.id), create_conversation_without_contact_reply=True,
        )
    )  # fmt: skip
    assert message.conversation_id is not None
    conversation = intercom.conversations.find(conversation_id=message.conversation_id)
    assert (conversation.id, conversation.state) == (message.conversation_id, "open")
    assert (conversation.source.body, conversation.source.delivered_as) == (
        "<p>Your export is ready</p>", "admin_initiated",
    )  # fmt: skip
    assert [c.id for c in conversation.contacts.contacts] == [user.id]
    plain = intercom.messages.create(
        request=CreateMessageRequest_Inapp(
            body="No conversation yet", from_=CreateMessageRequestFrom(type="admin", id=teammate.pk),
            to=To(type="user", id=user.id), create_conversation_without_contact_reply=False,
        )
    )  # fmt: skip
    assert plain.conversation_id is None


def test_sdk_teams(intercom, teammate):
    from conversations.models import Team

    team = Team.objects.create(name="Support")
    team.members.add(teammate)
    listed = intercom.teams.list()
    assert [(t.id, t.name, t.admin_ids) for t in listed.teams] == [(str(team.pk), "Support", [teammate.pk])]
    assert intercom.teams.find(team_id=str(team.pk)).name == "Support"
    with pytest.raises(NotFoundError):
        intercom.teams.find(team_id="424242")


def test_sdk_conversation_update(intercom):
    from contacts.models import DataAttribute
    from conversations import services

    conversation = services.conversation_start_by_contact(contact=UserContactFactory(), body="Where is\nmy order?")
    intercom.data_attributes.create(request={"name": "order_ref", "model": "conversation", "data_type": "string"})
    updated = intercom.conversations.update(
        str(conversation.pk), read=True, title="Order A-17", custom_attributes={"order_ref": "A-17"},
        display_as="plaintext",
    )  # fmt: skip
    assert (updated.title, updated.read, updated.custom_attributes) == ("Order A-17", True, {"order_ref": "A-17"})
    assert updated.source.body == "Where is\nmy order?"
    assert intercom.conversations.find(str(conversation.pk)).title == "Order A-17"
    assert DataAttribute.objects.get(name="order_ref").model == "conversation"
    with pytest.raises(ApiError) as refused:
        intercom.conversations.update(str(conversation.pk), custom_attributes={"unknown_one": {"nested": 1}})
    assert refused.value.status_code == 400


def test_sdk_visitors_find_and_update(intercom):
    from intercom import UpdateVisitorRequestWithId, UpdateVisitorRequestWithUserId

    visitor = ContactFactory()
    found = intercom.visitors.find(user_id=str(visitor.anonymous_id))
    assert (found.type, found.id, found.anonymous) == ("visitor", str(visitor.pk), True)
    renamed = intercom.visitors.update(request=UpdateVisitorRequestWithUserId(user_id=found.user_id, name="Curious"))
    assert renamed.name == "Curious"
    again = intercom.visitors.update(request=UpdateVisitorRequestWithId(id=found.id, name="Curious cat"))
    assert again.name == "Curious cat"
    with pytest.raises(ApiError) as missing:
        intercom.visitors.find(user_id="00000000-0000-0000-0000-000000000000")
    assert missing.value.status_code == 404


def test_sdk_segments(intercom, teammate):
    from segments import services as segment_services

    contact = UserContactFactory(country="FR")
    segment = segment_services.segment_create(
        name="France", query={"field": "location.country_code", "operator": "=", "value": "FR"}, teammate=teammate
    )
    segment_services.segment_counts_refresh()
    listed = intercom.segments.list(include_count=True)
    assert [(s.id, s.name, s.count, s.person_type) for s in listed.segments] == [
        (str(segment.pk), "France", 1, "contact")
    ]
    assert intercom.segments.find(segment_id=str(segment.pk)).name == "France"
    attached = intercom.contacts.list_attached_segments(contact_id=str(contact.pk))
    assert [s.name for s in attached.data] == ["France"]


def test_sdk_search_by_segment_id_and_a_relative_last_seen(intercom, teammate):
    """The SDK's typed filters carry both: segment_id and "now-30d" are strings, as every filter value is."""
    import datetime as dt

    from django.utils import timezone

    from segments import services as segment_services

    now = timezone.now()
    recent, _old = (UserContactFactory(country="FR", last_seen_at=now - dt.timedelta(days=d)) for d in (2, 40))
    UserContactFactory(country="DE", last_seen_at=now)
    france = segment_services.segment_create(
        name="France", query={"field": "location.country_code", "operator": "=", "value": "FR"}, teammate=teammate
    )
    found = intercom.contacts.search(
        query=MultipleFilterSearchRequest(
            operator="AND",
            value=[
                SingleFilterSearchRequest(field="segment_id", operator="=", value=str(france.pk)),
                SingleFilterSearchRequest(field="last_seen_at", operator=">", value="now-30d"),
            ],
        )
    )
    assert [c.id for c in found] == [str(recent.pk)]
    with pytest.raises(ApiError) as refused:
        list(intercom.contacts.search(query=SingleFilterSearchRequest(field="segment_id", operator="=", value="0")))
    assert refused.value.status_code == 400 and refused.value.body["errors"][0]["field"] == "segment_id"
