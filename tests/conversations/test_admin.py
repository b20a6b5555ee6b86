import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from conversations import services
from conversations.models import Conversation, ConversationPart, Message, MessageDelivery, SavedReply, Team
from conversations.services.threads import teammate_display_name
from tests.contacts.factories import LeadFactory, TagFactory, UserContactFactory
from tests.conversations.factories import TeammateFactory

pytestmark = pytest.mark.django_db
INBOX = reverse("admin:conversations_conversation_changelist")


def _change_url(conversation):
    return reverse("admin:conversations_conversation_change", args=[conversation.pk])


def _conversations(count, *, body="My order is late", parts=3):
    agent = TeammateFactory()
    made = []
    for index in range(count):
        conversation = services.conversation_start_by_contact(contact=LeadFactory(), body=f"{body} #{index}")
        for _ in range(parts - 1):
            services.conversation_reply_as_teammate(conversation=conversation, teammate=agent, body="On it")
        made.append(conversation)
    return made


def _queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return len(captured), response


def test_inbox_lists_open_conversations_with_the_inbox_columns(admin_client):
    lead = LeadFactory(name="Ada Lovelace")
    conversation = services.conversation_start_by_contact(contact=lead, body="Where is my <b>parcel</b>?")
    closed = _conversations(1, body="Closed one")[0]
    services.conversation_close(conversation=closed, teammate=None)
    page = admin_client.get(INBOX).content.decode()
    assert "Ada Lovelace" in page
    assert "Where is my &lt;b&gt;parcel&lt;/b&gt;?" in page
    assert "<b>parcel</b>" not in page
    assert "Closed one" not in page  # "All open" is the default view
    assert _change_url(conversation) in page
    for label in ("Mine", "Unassigned", "All open", "Snoozed", "Closed"):
        assert label in page


def test_inbox_views_filter_by_assignee_and_state(admin_client, superuser):
    mine, unassigned, snoozed, closed = _conversations(4, parts=1)
    services.conversation_assign(conversation=mine, teammate=superuser, assignee=superuser)
    services.conversation_snooze(conversation=snoozed, teammate=None, until=timezone.now() + dt.timedelta(hours=1))
    services.conversation_close(conversation=closed, teammate=None)

    def listed(view):
        response = admin_client.get(INBOX, {"view": view})
        return set(response.context["cl"].result_list)

    assert listed("mine") == {mine}
    assert listed("unassigned") == {unassigned}
    assert listed("open") == {mine, unassigned}
    assert listed("snoozed") == {snoozed}
    assert listed("closed") == {closed}
    assert listed("all") == {mine, unassigned, snoozed, closed}


def test_inbox_lists_newest_activity_first_by_default(admin_client, superuser):
    old, middle, new = _conversations(3, parts=1)
    now = timezone.now()
    for conversation, minutes in ((old, 50), (middle, 20), (new, 5)):
        Conversation.objects.filter(pk=conversation.pk).update(last_part_at=now - dt.timedelta(minutes=minutes))
    silent = _conversations(1, parts=1)[0]
    Conversation.objects.filter(pk=silent.pk).update(last_part_at=None)  # no message yet: last, not first
    for view in ("open", "unassigned", "all"):
        result = list(admin_client.get(INBOX, {"view": view}).context["cl"].result_list)
        assert result == [new, middle, old, silent], view
    # A teammate's reply is activity too: the conversation comes back to the top.
    services.conversation_reply_as_teammate(conversation=old, teammate=superuser, body="Found it")
    assert admin_client.get(INBOX).context["cl"].result_list[0] == old
    page = admin_client.get(INBOX).content.decode()
    assert "Newest activity" in page and "Waiting longest" in page


def test_inbox_orders_by_longest_waiting_first_when_chosen(admin_client):
    first, second, third = _conversations(3, parts=1)
    now = timezone.now()
    for conversation, minutes in ((first, 5), (second, 50), (third, 20)):
        Conversation.objects.filter(pk=conversation.pk).update(waiting_since=now - dt.timedelta(minutes=minutes))
    answered = _conversations(1, parts=2)[0]  # nobody waiting: last
    response = admin_client.get(INBOX, {"sort": "waiting"})
    assert list(response.context["cl"].result_list) == [second, third, first, answered]
    # The other views keep the chosen order in their links.
    assert "sort=waiting" in response.content.decode().split('id="changelist-filter"')[1].split("Unassigned")[0]


@pytest.mark.parametrize("sort", ["", "oldest", "waiting\u2028", "\uff11"])
def test_an_unknown_sort_falls_back_to_newest_activity(admin_client, sort):
    old, new = _conversations(2, parts=1)
    Conversation.objects.filter(pk=old.pk).update(last_part_at=timezone.now() - dt.timedelta(hours=1))
    response = admin_client.get(INBOX, {"sort": sort})
    assert list(response.context["cl"].result_list) == [new, old]
    assert admin_client.get(INBOX, {"sort": "\x00"}).status_code == 400  # the admin's NUL guard, not a 500


ACTIVITY_INDEXES = ("conv_state_activity", "conv_assignee_activity")
WAITING_INDEXES = ("conv_state_waiting", "conv_assignee_waiting")


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("params", "indexes"),
    [
        ({}, ("conv_state_activity",)),
        ({"view": "unassigned"}, ACTIVITY_INDEXES),
        ({"view": "mine"}, ACTIVITY_INDEXES),
        ({"view": "all"}, ("conv_activity",)),
        ({"sort": "waiting"}, ("conv_state_waiting",)),
        ({"view": "unassigned", "sort": "waiting"}, WAITING_INDEXES),
    ],
)
def test_each_inbox_view_and_order_reads_an_index_in_its_order_on_postgresql(admin_client, params, indexes):
    if connection.vendor != "postgresql":
        pytest.skip("the planner's choice is checked on PostgreSQL")
    _conversations(2, parts=1)
    changelist = admin_client.get(INBOX, params).context["cl"]
    sql, query_params = changelist.result_list.query.sql_with_params()
    with connection.cursor() as cursor:
        # A tiny table: ask for the plan a big one gets (no scan of the whole table, no sort of it).
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(f"EXPLAIN {sql}", query_params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert any(f"using {index} on" in plan for index in indexes) and "Sort" not in plan, plan


@pytest.mark.parametrize(("params", "index"), [({}, "conv_state_activity"), ({"view": "all"}, "conv_activity")])
def test_the_newest_activity_order_reads_its_index_on_sqlite(admin_client, params, index):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite planner's choice")
    _conversations(2, parts=1)
    changelist = admin_client.get(INBOX, params).context["cl"]
    sql, query_params = changelist.result_list.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", query_params)
        plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
    assert index in plan and "TEMP B-TREE" not in plan, plan


def test_inbox_query_count_does_not_grow_with_rows(admin_client):
    _conversations(3)
    admin_client.get(INBOX)  # the first visit records the teammate's activity (once a minute); measure after
    few, _ = _queries(admin_client, INBOX)
    _conversations(40)
    many, _ = _queries(admin_client, INBOX)
    assert few == many
    # …the unread mentions' count, the macros the bulk action offers, the header's teammate name, the sidebar's tags
    assert many <= 16


def test_inbox_search_finds_words_in_message_bodies(admin_client):
    target = services.conversation_start_by_contact(contact=LeadFactory(), body="The invoice is wrong")
    services.conversation_start_by_contact(contact=LeadFactory(), body="Password reset please")
    # A tag's name in another one's timeline is no word of it (the sidebar's "By tag" finds tagged conversations).
    tagged = services.conversation_start_by_contact(contact=LeadFactory(), body="Where is my parcel?")
    services.conversation_tag(conversation=tagged, tag=TagFactory(name="invoice"), teammate=None)
    result = admin_client.get(INBOX, {"q": "invoice"}).context["cl"].result_list
    assert list(result) == [target]
    assert list(admin_client.get(INBOX, {"q": str(target.pk)}).context["cl"].result_list) == [target]
    assert list(admin_client.get(INBOX, {"q": target.public_id}).context["cl"].result_list) == [target]


def test_inbox_search_for_a_number_finds_that_conversation_and_those_that_mention_it(admin_client):
    """New-user walk: an order number searched found nothing, a number being read as a conversation's id only."""
    order = services.conversation_start_by_contact(contact=LeadFactory(), body="Hi, my order #1042 hasn't arrived yet")
    services.conversation_start_by_contact(contact=LeadFactory(), body="Order 1043 is fine")
    assert list(admin_client.get(INBOX, {"q": "1042"}).context["cl"].result_list) == [order]
    other = services.conversation_start_by_contact(contact=LeadFactory(), body="Nothing numbered")
    found = set(admin_client.get(INBOX, {"q": str(other.pk)}).context["cl"].result_list)
    assert other in found  # and any that mention its number


def test_inbox_search_finds_the_contacts_name_or_email_and_closed_conversations_unless_a_view_is_chosen(admin_client):
    jamie = LeadFactory(name="Jamie Rivera", email="jamie@acme.example")
    open_ = services.conversation_start_by_contact(contact=jamie, body="Hello")
    closed = services.conversation_start_by_contact(contact=jamie, body="An older question")
    services.conversation_close(conversation=closed, teammate=None)
    services.conversation_start_by_contact(contact=LeadFactory(name="Sam Ortiz"), body="Jamie told me to write")

    def found(**params):
        return set(admin_client.get(INBOX, params).context["cl"].result_list)

    # No view chosen: every conversation of Jamie's (by name, by email), and the one whose words name her.
    assert found(q="Rivera") == {open_, closed}
    assert found(q="acme.example") == {open_, closed}
    assert len(found(q="jamie")) == 3
    # A view chosen: only that view's.
    assert found(q="Rivera", view="open") == {open_}
    assert found(q="Rivera", view="closed") == {closed}
    # The sidebar says where it looked.
    changelist = admin_client.get(INBOX, {"q": "Rivera"}).context["cl"]
    views = next(spec for spec in changelist.filter_specs if spec.title == "inbox")
    assert [choice["display"] for choice in views.choices(changelist) if choice["selected"]] == ["Everything"]


@pytest.mark.parametrize(
    ("action", "extra", "check"),
    [
        ("close_selected", {}, lambda c, u: c.state == "closed"),
        ("assign_to_me", {}, lambda c, u: c.assignee_id == u.pk),
        ("snooze_selected", {"snooze_for": "4h"}, lambda c, u: c.state == "snoozed" and c.snoozed_until),
    ],
)
def test_bulk_actions(admin_client, superuser, action, extra, check):
    conversations = _conversations(3, parts=1)
    response = admin_client.post(INBOX, {
        "action": action, "_selected_action": [c.pk for c in conversations[:2]], **extra,
    })  # fmt: skip
    assert response.status_code == 302
    for conversation in conversations[:2]:
        conversation.refresh_from_db()
        assert check(conversation, superuser)
    conversations[2].refresh_from_db()
    assert conversations[2].state == "open" and conversations[2].assignee is None


def test_bulk_assign_to_a_chosen_teammate(admin_client):
    conversations = _conversations(2, parts=1)
    robin = TeammateFactory(first_name="Robin")
    admin_client.post(INBOX, {"action": "assign_selected", "assignee": robin.pk,
                              "_selected_action": [c.pk for c in conversations]})  # fmt: skip
    assert set(Conversation.objects.values_list("assignee_id", flat=True)) == {robin.pk}


def test_bulk_tag_with_the_chosen_tag(admin_client):
    conversations = _conversations(2, parts=1)
    tag = TagFactory(name="refund")
    admin_client.post(
        INBOX, {"action": "tag_selected", "tag": tag.pk, "_selected_action": [c.pk for c in conversations]}
    )
    assert all(list(c.tags.all()) == [tag] for c in conversations)


def test_conversation_page_shows_thread_notes_distinct_profile_and_escapes(admin_client):
    lead = LeadFactory(name="<img src=x onerror=alert(1)>", city="Paris", country_name="France")
    lead.tags.add(TagFactory(name="vip"))
    conversation = services.conversation_start_by_contact(contact=lead, body="<script>alert('x')</script>")
    agent = TeammateFactory(first_name="Robin")
    services.conversation_add_note(conversation=conversation, teammate=agent, body="Internal: refund")
    services.conversation_reply_as_teammate(conversation=conversation, teammate=agent, body="Sorry!")
    SavedReply.objects.create(name="Greeting", body="Hello {{contact.first_name}}")
    page = admin_client.get(_change_url(conversation)).content.decode()
    assert "<script>alert('x')</script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<img src=x" not in page
    assert 'class="parley-part note"' in page and "Internal note by" in page
    assert page.index("alert(&#x27;x&#x27;)") < page.index("Internal: refund") < page.index("Sorry!")
    assert "Paris, France" in page and "vip" in page
    assert "Greeting" in page and "Hello &lt;img" in page
    assert 'name="do" value="reply"' in page and 'name="do" value="note"' in page
    # The note's lock is drawn (SVG), not an emoji: Debian's Chromium has no emoji glyph (an empty box).
    assert not [ch for ch in page if ord(ch) >= 0x1F000], "emoji on the conversation page"


def test_opening_the_conversation_marks_it_read_for_teammates(admin_client):
    conversation = _conversations(1, parts=1)[0]
    admin_client.get(_change_url(conversation))
    conversation.refresh_from_db()
    assert conversation.teammate_unread_count == 0


def _group_member(group, username):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    user = get_user_model().objects.create_user(username, f"{username}@parley.test", "x", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(("group", "marks_read"), [("agent", True), ("viewer", False)])
def test_only_a_teammate_who_may_change_it_marks_a_conversation_read(group, marks_read):
    """Looking is not working it: a viewer opening or polling a conversation leaves it unread for the team."""
    from contacts.permissions import AGENT_GROUP, VIEWER_GROUP

    client = _group_member(AGENT_GROUP if group == "agent" else VIEWER_GROUP, group)
    opened, polled = _conversations(2, parts=1)
    assert client.get(_change_url(opened)).status_code == 200
    poll = reverse("admin:conversations_conversation_poll", args=[polled.pk])
    assert client.get(poll, {"after": 0}).status_code == 200
    for conversation in (opened, polled):
        conversation.refresh_from_db()
        assert (conversation.teammate_unread_count == 0) is marks_read, group
        assert (conversation.teammate_last_read_at is not None) is marks_read, group


@pytest.mark.parametrize("user_kind", ["superuser", "teammate"])
def test_conversation_page_query_count_is_fixed(client, superuser, user_kind):
    user = superuser
    if user_kind == "teammate":
        user = TeammateFactory()
        user.user_permissions.add(*Permission.objects.filter(codename__endswith="_conversation"))
    client.force_login(user)
    small = _conversations(1, parts=2)[0]
    big = _conversations(1, parts=30)[0]
    SavedReply.objects.create(name="A", body="a")
    Team.objects.create(name="Billing")
    client.get(_change_url(small))
    client.get(_change_url(big))  # the first visit marks read (one UPDATE); measure the steady state
    few, _ = _queries(client, _change_url(small))
    many, _ = _queries(client, _change_url(big))
    assert few == many
    # The thread, its contact, tags (the conversation's, the picker's and the macros'), teammates, the
    # teammate's mentions marked read, the closures' ratings, the parts' attachments, the header's name for the
    # teammate (their profile: common.teammates), the notes' mentions (whom each note told)…
    assert many <= 19


def _act(client, conversation, **data):
    return client.post(_change_url(conversation), data)


def test_reply_form_replies_notes_assigns_snoozes_closes_and_reopens(admin_client, superuser):
    conversation = _conversations(1, parts=1)[0]
    robin = TeammateFactory()
    assert _act(admin_client, conversation, do="reply", body="Hello from the inbox").status_code == 302
    _act(admin_client, conversation, do="note", body="Just a note")
    _act(admin_client, conversation, do="assign", assignee=robin.pk)
    _act(admin_client, conversation, do="snooze", snooze_for="1h")
    conversation.refresh_from_db()
    assert conversation.state == "snoozed" and conversation.assignee == robin
    _act(admin_client, conversation, do="reopen")
    _act(admin_client, conversation, do="snooze", snoozed_until="2099-01-02T10:30")
    conversation.refresh_from_db()
    assert conversation.snoozed_until == dt.datetime(2099, 1, 2, 10, 30, tzinfo=dt.UTC)
    _act(admin_client, conversation, do="close")
    conversation.refresh_from_db()
    assert conversation.state == "closed"
    types = list(conversation.parts.values_list("part_type", flat=True))
    # The first reply took the unassigned conversation: the timeline says so, like the explicit assign.
    assert types == ["comment", "comment", "note", "assignment", "snooze", "open", "snooze", "close"]
    comment = conversation.parts.filter(part_type="comment", author_teammate=superuser).get()
    assert comment.body == "Hello from the inbox"
    page = admin_client.get(_change_url(conversation)).content.decode()
    name = teammate_display_name(superuser)
    assert f"Assigned to {name} by this reply" in page
    assert comment.assigned_to == superuser  # the reply records that it took the conversation


def test_placeholders_typed_in_a_reply_are_filled_for_the_contact_and_notes_stay_as_written(admin_client):
    conversation = _conversations(1, parts=1)[0]
    conversation.contact.name = "Jamie Rivera"
    conversation.contact.save(update_fields=["name"])
    typed = 'Hi {{contact.first_name | fallback: "there"}}! About {{order}}…'

    _act(admin_client, conversation, do="reply", body=typed)
    _act(admin_client, conversation, do="note", body=typed)
    _act(admin_client, conversation, do="reply_close", body="Bye {{ contact.name }}")

    bodies = list(conversation.parts.order_by("id").values_list("part_type", "body"))[1:]
    assert bodies[0] == ("comment", "Hi Jamie! About {{order}}…")  # not a placeholder: left as typed
    assert bodies[1] == ("note", typed)
    assert ("comment", "Bye Jamie Rivera") in bodies


def test_reply_form_errors_keep_the_draft_and_change_nothing(admin_client):
    conversation = _conversations(1, parts=1)[0]
    response = _act(admin_client, conversation, do="snooze", snoozed_until="not a date", body="my draft")
    page = admin_client.get(response["Location"]).content.decode()
    assert "Enter a date and time" in page
    assert "my draft</textarea>" in page
    assert _act(admin_client, conversation, do="reply", body="   ").status_code == 302
    assert conversation.parts.count() == 1


def test_view_only_teammate_cannot_post_the_form(client):
    viewer = TeammateFactory(agent_group=False)
    viewer.user_permissions.add(Permission.objects.get(codename="view_conversation"))
    client.force_login(viewer)
    conversation = _conversations(1, parts=1)[0]
    assert client.get(_change_url(conversation)).status_code == 200
    assert _act(client, conversation, do="reply", body="nope").status_code == 403


def test_poll_returns_new_parts_after_the_last_one(admin_client):
    conversation = _conversations(1, parts=1)[0]
    last = conversation.parts.get().pk
    url = reverse("admin:conversations_conversation_poll", args=[conversation.pk])
    assert admin_client.get(url, {"after": last}).json()["parts"] == []
    services.conversation_reply_as_contact(conversation=conversation, body="<i>anyone?</i>")
    parts = admin_client.get(url, {"after": last}).json()["parts"]
    assert [p["body"] for p in parts] == ["<i>anyone?</i>"]  # raw text: the page inserts it with textContent


@pytest.mark.parametrize("conversation_id", ["999999", "9" * 23])
def test_poll_of_a_conversation_that_does_not_exist_is_a_json_404(admin_client, conversation_id):
    response = admin_client.get(f"/admin/conversations/conversation/{conversation_id}/poll/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": "No such conversation."}


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://shop.example/orders?id=7", "shop.example/orders?id=7"),
        # A long address cut at a fixed length hid its host: the host is shown in full, credentials never.
        (
            "https://shop.example.com-account-login-secure-verification-session-id-0000000000@evil.example/x",
            "evil.example/x",
        ),
        ("https://user:secret@Shop.Example:8443/" + "a" * 80, "shop.example:8443/" + "a" * 48 + "…"),
        ("http://[::1]:8080/cart", "[::1]:8080/cart"),
    ],
)
def test_the_conversation_page_shows_each_page_views_host_in_full(admin_client, url, shown):
    from tracking.models import PageView, WebSession

    conversation = _conversations(1, parts=1)[0]
    now = timezone.now()
    session = WebSession.objects.create(contact=conversation.contact, started_at=now, last_activity_at=now)
    PageView.objects.create(
        contact=conversation.contact, session=session, url=url, title="Order #1042 - invoice", created_at=now
    )
    page = admin_client.get(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
    listed = page.content.decode().split('id="parley-page-views"')[1].split("</ul>")[0]
    assert f'<small class="parley-page-url">{shown}</small>' in listed
    assert "secret" not in listed.split("</a>")[1]


def test_the_page_of_a_conversation_gone_since_says_so_in_the_inbox(admin_client):
    from django.contrib.messages import get_messages

    from contacts.services import contact_erase

    conversation = _conversations(1, parts=1)[0]
    url = reverse("admin:conversations_conversation_change", args=[conversation.pk])
    contact_erase(contact=conversation.contact, actor=None, source="admin")
    inbox = reverse("admin:conversations_conversation_changelist")
    gone = f"Conversation {conversation.pk} no longer exists: deleted, or its contact erased."

    opened = admin_client.get(url, follow=True)
    assert opened.redirect_chain == [(inbox, 302)]
    assert [str(m) for m in get_messages(opened.wsgi_request)] == [gone]
    assert gone in opened.content.decode()  # said on the inbox's page
    replied = admin_client.post(url, {"do": "reply", "body": "Still there?"}, follow=True)
    assert replied.redirect_chain == [(inbox, 302)]
    assert [str(m) for m in get_messages(replied.wsgi_request)] == [f"{gone} Nothing was done."]


@pytest.mark.parametrize("after", ["abc", "-1", "1e3", "\u00b2", "\u0663", "1.5", "", " ", "9" * 30])
def test_poll_refuses_an_after_that_is_not_a_part_id_naming_it(admin_client, after):
    conversation = _conversations(1, parts=1)[0]
    url = reverse("admin:conversations_conversation_poll", args=[conversation.pk])
    response = admin_client.get(url, {"after": after})
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    assert response.json()["field"] == "after"


def test_poll_without_after_returns_every_part(admin_client):
    conversation = _conversations(1, parts=2)[0]
    url = reverse("admin:conversations_conversation_poll", args=[conversation.pk])
    assert len(admin_client.get(url).json()["parts"]) == 2


def test_contact_page_has_a_conversations_panel_and_start_link(admin_client):
    conversation = _conversations(1, parts=1, body="Panel check")[0]
    page = admin_client.get(reverse("admin:contacts_contact_change", args=[conversation.contact_id])).content.decode()
    assert "Conversations" in page and "Panel check #0" in page
    start = reverse("admin:conversations_conversation_start", args=[conversation.contact_id])
    assert start in page
    response = admin_client.post(start, {"body": "We noticed you were stuck"})
    assert response.status_code == 302
    assert Conversation.objects.filter(source=Conversation.Source.ADMIN).count() == 1


def test_the_contact_pages_conversations_lead_to_all_of_theirs_in_the_inbox(admin_client):
    """A walk: the contact page lists the ten latest conversations, with no way to the rest (its page views and
    sessions have "All … of this contact")."""
    lead = LeadFactory(name="Ada Lovelace")
    started = [services.conversation_start_by_contact(contact=lead, body=f"Question {n}") for n in range(12)]
    services.conversation_close(conversation=started[0], teammate=None)
    other = services.conversation_start_by_contact(contact=LeadFactory(), body="Not hers")
    response = admin_client.get(reverse("admin:contacts_contact_change", args=[lead.pk]))
    page = response.content.decode()
    url = f"{reverse('admin:conversations_conversation_changelist')}?view=all&amp;contact__id__exact={lead.pk}"
    assert f'<a href="{url}">All conversations of this contact →</a>' in page

    listed = admin_client.get(url.replace("&amp;", "&"))
    assert listed.status_code == 200
    shown = {c.pk for c in listed.context["cl"].result_list}
    assert shown == {c.pk for c in started}  # the closed one too; another contact's not
    assert other.pk not in shown


def test_send_message_action_on_contacts_asks_then_queues_once(admin_client):
    contacts = UserContactFactory.create_batch(3)
    changelist = reverse("admin:contacts_contact_changelist")
    selected = {"action": "send_message_to_contacts", "_selected_action": [c.pk for c in contacts[:2]]}
    form = admin_client.post(changelist, selected)
    assert form.status_code == 200 and b"Send a message" in form.content
    draft = {**selected, "compose": "yes", "channel": "email", "subject": "Hi", "body": "Hello!"}
    preview = admin_client.post(changelist, draft)  # the preview, with the count: nothing sent yet
    assert preview.status_code == 200 and b"Send to 2 contacts" in preview.content
    assert not Message.objects.exists()
    key = preview.context["idempotency_key"]
    payload = {**draft, "idempotency_key": key, "expected_recipients": "2", "_send": "Send"}
    assert admin_client.post(changelist, payload).status_code == 302
    assert admin_client.post(changelist, payload).status_code == 302  # double submit
    message = Message.objects.get()
    assert set(MessageDelivery.objects.values_list("contact_id", flat=True)) == {c.pk for c in contacts[:2]}
    assert message.sender is not None


def test_send_message_action_on_contacts_offers_the_in_app_test_too(admin_client):
    contacts = UserContactFactory.create_batch(2)
    me = UserContactFactory(email="boss@parley.test")  # the superuser's email
    changelist = reverse("admin:contacts_contact_changelist")
    draft = {"action": "send_message_to_contacts", "_selected_action": [c.pk for c in contacts], "compose": "yes",
             "channel": "in_app", "body": "Hello {{contact.first_name}}!"}  # fmt: skip
    preview = admin_client.post(changelist, draft)
    assert b'value="boss@parley.test"' in preview.content
    tested = admin_client.post(changelist, {**draft, "test_contact": "boss@parley.test", "_test": "1"})
    # Still on the preview; neither allows in-app campaigns (no marketing consent): the button says so.
    assert tested.status_code == 200 and b'value="Nobody here can get it" disabled' in tested.content
    (test,) = Message.objects.all()
    assert test.is_test and list(test.deliveries.values_list("contact_id", flat=True)) == [me.pk]


def test_send_message_action_shows_errors_in_the_form(admin_client):
    contact = UserContactFactory()
    response = admin_client.post(reverse("admin:contacts_contact_changelist"), {
        "action": "send_message_to_contacts", "_selected_action": [contact.pk], "compose": "yes",
        "channel": "email", "subject": "", "body": "Hello",
    })  # fmt: skip
    assert response.status_code == 200
    assert b"An email needs a subject" in response.content
    assert not Message.objects.exists()


def test_message_admin_composes_to_a_tag(admin_client):
    from contacts import services as contact_services

    tag = TagFactory()
    for contact in UserContactFactory.create_batch(2, marketing_consent=True):
        contact_services.contact_tag(contact=contact, tag=tag)
    draft = {"channel": "in_app", "subject": "", "body": "Hi all", "tag": tag.pk}
    preview = admin_client.post(reverse("admin:conversations_message_add"), draft)
    assert preview.status_code == 200 and not Message.objects.exists()
    response = admin_client.post(reverse("admin:conversations_message_add"),
                                 {**draft, "expected_recipients": "2", "_send": "Send"}, follow=True)  # fmt: skip
    assert response.redirect_chain and response.redirect_chain[-1][1] == 302
    assert "“Hi all” is being sent to 2 contacts." in response.content.decode()  # never 'The message ""'
    assert 'The message ""' not in response.content.decode()
    assert Message.objects.get().recipients_count == 2
    assert admin_client.get(reverse("admin:conversations_message_changelist")).status_code == 200
    message = Message.objects.get()
    assert admin_client.get(reverse("admin:conversations_message_change", args=[message.pk])).status_code == 200


def test_saved_reply_admin_validates_placeholders(admin_client):
    add = reverse("admin:conversations_savedreply_add")
    bad = admin_client.post(add, {"name": "Bad", "body": "{{contact.password}}"})
    assert bad.status_code == 200 and b"Unknown placeholder" in bad.content
    assert admin_client.post(add, {"name": "Good", "body": "Hi {{contact.name}}"}).status_code == 302
    assert SavedReply.objects.get().name == "Good"


def test_other_conversation_admins_render(admin_client):
    for name in ("conversations_savedreply", "conversations_team", "conversations_message"):
        assert admin_client.get(reverse(f"admin:{name}_changelist")).status_code == 200
        assert admin_client.get(reverse(f"admin:{name}_add")).status_code == 200


def test_snoozed_and_events_render_in_the_thread(admin_client):
    conversation = _conversations(1, parts=1)[0]
    robin = TeammateFactory(first_name="Robin")
    services.conversation_assign(conversation=conversation, teammate=robin, assignee=robin)
    services.conversation_snooze(conversation=conversation, teammate=robin, until=timezone.now() + dt.timedelta(1))
    page = admin_client.get(_change_url(conversation)).content.decode()
    assert "Robin took this" in page
    assert "Robin snoozed this until" in page
    assert ConversationPart.objects.count() == 3


def test_a_snooze_into_another_year_and_a_message_of_last_year_show_their_year(admin_client):
    """A walk: a snooze to March next year read "Mar 02", as if it were this year's."""
    conversation = _conversations(1, parts=1)[0]
    robin = TeammateFactory(first_name="Robin")
    last_year = timezone.now() - dt.timedelta(days=400)
    ConversationPart.objects.filter(conversation=conversation).update(created_at=last_year)
    next_year = timezone.now() + dt.timedelta(days=400)
    services.conversation_snooze(conversation=conversation, teammate=robin, until=next_year)

    page = admin_client.get(_change_url(conversation)).content.decode()
    inbox = admin_client.get(INBOX, {"view": "snoozed"}).content.decode()

    until = f"{timezone.localtime(next_year):%b %d, %Y, %H:%M}"
    snoozed_at = timezone.localtime(ConversationPart.objects.get(part_type=ConversationPart.Type.SNOOZE).created_at)
    assert f"Snoozed until {until}</span>" in page
    assert f"Robin snoozed this until {until} · {snoozed_at:%b %d, %H:%M}<" in page  # this year's: no year
    assert f" · {timezone.localtime(last_year):%b %d, %Y, %H:%M}</div>" in page
    assert f"snoozed until {until}" in inbox


@pytest.mark.parametrize(
    ("snoozed_until", "said"),
    [
        ("tomorrow", "Snoozed until: Enter a date and time."),
        ("9999-12-31T23:00", "Snoozed until: Pick a time before"),
        ("٢٠٣٠-01-01T10:00", "Snoozed until: Enter a date and time."),  # Arabic-Indic digits had been read
    ],
)
def test_a_refused_action_names_its_field_in_words(admin_client, snoozed_until, said):
    """A walk read "Snoozed_until: Enter a date and time." on the conversation page."""
    conversation = _conversations(1, parts=1)[0]
    response = admin_client.post(
        _change_url(conversation), {"do": "snooze", "snoozed_until": snoozed_until}, follow=True
    )
    shown = [str(message) for message in response.context["messages"]]
    assert len(shown) == 1 and shown[0].startswith(said), shown
    conversation.refresh_from_db()
    assert conversation.state == Conversation.State.OPEN


def test_assigning_to_a_viewer_or_a_team_gone_is_refused_saying_why(admin_client):
    """A re-check: a team that no longer exists was dropped without a word ("Assigned to Agnes."), and a viewer was
    refused as if not active."""
    conversation = _conversations(1, parts=1)[0]
    agent, viewer = TeammateFactory(first_name="Agnes"), TeammateFactory(first_name="Vic", agent_group=False)

    def assign(**data):
        response = admin_client.post(_change_url(conversation), {"do": "assign", **data}, follow=True)
        return [str(message) for message in response.context["messages"]]

    assert assign(assignee=agent.pk, team="999999") == [
        "Team: This team no longer exists (another teammate may have just deleted it)."
    ]
    assert assign(assignee=viewer.pk) == [
        "Assignee: Choose an active teammate who can answer conversations (a viewer reads them)."
    ]
    conversation.refresh_from_db()
    assert conversation.assignee_id is None
    assert assign(assignee=agent.pk, team="") == ["Assigned to Agnes."]


def test_saving_a_team_no_member_of_which_can_answer_says_what_is_routed_to_it_goes_to_nobody(admin_client):
    """A walk: a team of one viewer, round robin on, saved without a word; the problem showed when a rule routed to it."""
    viewer = TeammateFactory(first_name="Vic", agent_group=False)
    agent = TeammateFactory(first_name="Ana")
    add = reverse("admin:conversations_team_add")
    prefix = admin_client.get(add).context["inline_admin_formsets"][0].formset.prefix
    inline = {f"{prefix}-TOTAL_FORMS": "1", f"{prefix}-INITIAL_FORMS": "0", f"{prefix}-0-enabled": "on"}

    readers = admin_client.post(add, {"name": "Support", "members": [viewer.pk], **inline}, follow=True)
    answering = admin_client.post(add, {"name": "Sales", "members": [viewer.pk, agent.pk], **inline}, follow=True)

    warned = "has no member who can answer conversations (viewers only read them)"
    assert [str(m) for m in readers.context["messages"] if warned in str(m)] == [
        "Support has no member who can answer conversations (viewers only read them): what is routed to it is "
        "assigned to nobody until an agent joins it."
    ]
    assert not [m for m in answering.context["messages"] if warned in str(m)]
    assert Team.objects.count() == 2


INBOX_UPDATES = reverse("admin:conversations_inbox_updates")


def test_inbox_title_counts_unread_conversations_and_updates_say_what_is_new(admin_client, superuser):
    mine, _other = _conversations(2, parts=1)
    services.conversation_assign(conversation=mine, teammate=superuser, assignee=superuser)
    page = admin_client.get(INBOX).content.decode()
    assert "<title>(2) Inbox | " in page
    latest = ConversationPart.objects.order_by("-id").first().pk
    assert f'data-latest-part="{latest}"' in page

    nothing_new = admin_client.get(INBOX_UPDATES, {"after": latest}).json()
    assert (nothing_new["latest_part_id"], nothing_new["unread_conversations"], nothing_new["events"]) == (
        latest,
        2,
        [],
    )

    services.conversation_reply_as_contact(conversation=mine, body="Still there?")
    fresh = services.conversation_start_by_contact(contact=LeadFactory(name="Grace"), body="Hello <b>team</b>")
    updates = admin_client.get(INBOX_UPDATES, {"after": latest}).json()
    assert updates["unread_conversations"] == 3
    assert [(e["body"], e["new_conversation"], e["assigned_to_me"]) for e in updates["events"]] == [
        ("Still there?", False, True),
        ("Hello <b>team</b>", True, False),
    ]
    assert updates["events"][1]["contact"] == "Grace"
    assert updates["events"][1]["url"] == _change_url(fresh)


@pytest.mark.parametrize("after", ["", "²", "٣", "-1", "1e3", "9" * 30])
def test_inbox_updates_refuse_a_bad_cursor_by_name(admin_client, after):
    response = admin_client.get(INBOX_UPDATES, {"after": after})
    assert response.status_code == 400
    assert b"after" in response.content  # named (JSON from the view; NUL is refused earlier, as text)


def test_inbox_updates_need_a_teammate_who_may_view_conversations(client):
    assert client.get(INBOX_UPDATES, {"after": "0"}).status_code == 302  # to the login page
    client.force_login(TeammateFactory(agent_group=False))
    assert client.get(INBOX_UPDATES, {"after": "0"}).status_code == 403


def test_inbox_updates_run_a_fixed_number_of_queries(admin_client):
    _conversations(2, parts=1)
    few, _ = _queries(admin_client, INBOX_UPDATES + "?after=0")
    _conversations(15, parts=2)
    many, _ = _queries(admin_client, INBOX_UPDATES + "?after=0")
    assert few == many


def test_conversation_tags_are_shown_added_and_removed_on_its_page_and_listed_in_the_inbox(admin_client):
    conversation = _conversations(1, parts=1)[0]
    vip, refund = TagFactory(name="vip"), TagFactory(name="refund")
    assert _act(admin_client, conversation, do="tag", tag=str(vip.pk)).status_code == 302
    assert _act(admin_client, conversation, do="tag", tag=str(refund.pk)).status_code == 302
    assert _act(admin_client, conversation, do="tag", tag="²").status_code == 302  # refused with a message
    assert sorted(conversation.tags.values_list("name", flat=True)) == ["refund", "vip"]
    # Tagged again from a page that did not know yet (another teammate's): said so, and no second event.
    again = admin_client.post(_change_url(conversation), {"do": "tag", "tag": str(vip.pk)}, follow=True)
    assert "It was tagged “vip” already." in [str(m) for m in again.context["messages"]]
    assert conversation.parts.filter(part_type="tag").count() == 2
    page = admin_client.get(_change_url(conversation)).content.decode()
    assert f'value="untag:{vip.pk}"' in page
    assert _act(admin_client, conversation, do=f"untag:{vip.pk}").status_code == 302
    assert list(conversation.tags.values_list("name", flat=True)) == ["refund"]
    inbox = admin_client.get(INBOX).content.decode()
    assert "refund" in inbox
    # Only the tags it does not have yet are offered to add.
    offered = admin_client.get(_change_url(conversation)).context["all_tags"]
    assert [tag.name for tag in offered] == ["vip"]


def test_the_inbox_filters_by_tag_in_a_fixed_number_of_queries(admin_client):
    tagged, _untagged = _conversations(2, parts=1)
    vip = TagFactory(name="<b>vip</b>")
    services.conversation_tag(conversation=tagged, tag=vip, teammate=None)
    page = admin_client.get(INBOX, {"view": "all"})
    assert "&lt;b&gt;vip&lt;/b&gt;" in page.content.decode() and "<b>vip</b>" not in page.content.decode()
    filtered = {"view": "all", "tag": str(vip.pk)}
    assert list(admin_client.get(INBOX, filtered).context["cl"].result_list) == [tagged]
    few, _ = _queries(admin_client, INBOX + "?" + "&".join(f"{k}={v}" for k, v in filtered.items()))
    for conversation in _conversations(30, parts=1):
        services.conversation_tag(conversation=conversation, tag=vip, teammate=None)
    many, _ = _queries(admin_client, INBOX + "?" + "&".join(f"{k}={v}" for k, v in filtered.items()))
    assert few == many
    for hostile in ("abc", "1e400", "\u0661", "99999999999999999999", "<b>"):  # no number: no filter, no error
        response = admin_client.get(INBOX, {"view": "all", "tag": hostile})
        assert response.status_code == 200
        assert len(response.context["cl"].result_list) == 32


def test_the_inbox_says_just_now_for_a_contact_who_wrote_this_minute(admin_client):
    _fresh, older = _conversations(2, parts=1)
    Conversation.objects.filter(pk=older.pk).update(waiting_since=timezone.now() - dt.timedelta(minutes=5))
    page = admin_client.get(INBOX).content.decode()
    assert "just now" in page and "5\xa0minutes" in page and "0\xa0minutes" not in page


def test_the_conversation_page_names_teammates_as_contacts_see_them_like_its_poll(admin_client):
    conversation = _conversations(1, parts=1)[0]
    sam = TeammateFactory(username="sam42", first_name="")
    services.teammate_profile_update(teammate=sam, display_name="Sam from Support")
    services.conversation_reply_as_teammate(conversation=conversation, teammate=sam, body="On it")
    services.conversation_close(conversation=conversation, teammate=sam)
    page = admin_client.get(_change_url(conversation)).content.decode()
    assert "Sam from Support · " in page and "Sam from Support closed this · " in page
    assert "sam42" not in page.split('id="parley-thread"')[1].split("</ol>")[0]


def test_a_title_is_set_on_the_conversation_page_and_custom_attributes_are_shown(admin_client):
    from contacts.models import DataAttribute

    conversation = _conversations(1, parts=1)[0]
    DataAttribute.objects.create(model="conversation", name="order_ref", label="Order", data_type="string")
    services.conversation_update(conversation=conversation, custom_attributes={"order_ref": "<b>A-17</b>"})
    assert _act(admin_client, conversation, do="title", title="  Late\norder <script>  ").status_code == 302
    conversation.refresh_from_db()
    assert conversation.title == "Late order <script>"
    page = admin_client.get(_change_url(conversation)).content.decode()
    assert '<h2 id="parley-title">Late order &lt;script&gt;</h2>' in page
    assert "<dt>Order</dt><dd>&lt;b&gt;A-17&lt;/b&gt;</dd>" in page  # its label, the value as text
    assert _act(admin_client, conversation, do="title", title="x\x00").status_code == 302  # refused with a message
    conversation.refresh_from_db()
    assert conversation.title == "Late order <script>"


def test_inbox_bulk_tag_with_a_tag_deleted_since_the_list_loaded_says_so(admin_client):
    from contacts.services import tag_delete

    conversation = _conversations(1, parts=1)[0]
    tag = TagFactory(name="gone")
    tag_id = tag.pk
    tag_delete(tag=tag)
    response = admin_client.post(
        INBOX, {"action": "tag_selected", "tag": tag_id, "_selected_action": [conversation.pk]}, follow=True
    )
    shown = [str(message) for message in response.context["messages"]]
    assert shown == [
        "The chosen tag no longer exists (another teammate may have just deleted it). Nothing was changed."
    ]
    assert not conversation.tags.exists()


def test_inbox_bulk_macro_deleted_since_the_list_loaded_says_so(admin_client):
    conversation = _conversations(1, parts=1)[0]
    macro = SavedReply.objects.create(name="Gone", body="Bye", close=True)
    macro_id = macro.pk
    macro.delete()
    response = admin_client.post(
        INBOX, {"action": "run_macro_selected", "macro": macro_id, "_selected_action": [conversation.pk]}, follow=True
    )
    shown = [str(message) for message in response.context["messages"]]
    assert shown == [
        "The chosen macro no longer exists (another teammate may have just deleted it). Nothing was changed."
    ]
    conversation.refresh_from_db()
    assert conversation.state == Conversation.State.OPEN


def test_conversation_page_adding_a_tag_deleted_since_the_page_loaded_says_so(admin_client):
    from contacts.services import tag_delete

    conversation = _conversations(1, parts=1)[0]
    tag = TagFactory(name="gone")
    tag_id = tag.pk
    tag_delete(tag=tag)
    response = admin_client.post(_change_url(conversation), {"do": "tag", "tag": tag_id}, follow=True)
    shown = [str(message) for message in response.context["messages"]]
    assert shown == ["Tag: This tag no longer exists (another teammate may have just deleted it)."]
    assert not conversation.tags.exists()
