"""Working faster together: mentions in notes, macros, who else is on a conversation, and the shortcuts' pages."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from contacts.permissions import AGENT_GROUP, VIEWER_GROUP
from conversations import selectors, services
from conversations.models import ConversationMention, ConversationPart, SavedReply, Team
from conversations.services.mentions import mention_handles, mention_pieces
from conversations.services.saved_replies import MacroActions
from tests.contacts.factories import LeadFactory, TagFactory
from tests.conversations.factories import TeammateFactory

pytestmark = pytest.mark.django_db
INBOX = reverse("admin:conversations_conversation_changelist")
HOSTILE = '<img src=x onerror="alert(1)">'


def _member(group: str, username: str, **fields):
    user = get_user_model().objects.create_user(username, f"{username}@parley.test", "x", is_staff=True, **fields)
    user.groups.add(Group.objects.get(name=group))
    return user


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _conversation(body="Where is my parcel?", **contact):
    return services.conversation_start_by_contact(contact=LeadFactory(**contact), body=body)


def _page(conversation) -> str:
    return reverse("admin:conversations_conversation_change", args=[conversation.pk])


def _poll(conversation) -> str:
    return reverse("admin:conversations_conversation_poll", args=[conversation.pk])


# --- mentions -------------------------------------------------------------------------------------


def test_handles_are_usernames_after_an_at_sign_never_inside_an_email_address():
    text = "@sam. can you and (@lee-ann) check? cc @Sam, write to sam@example.com, @@x @<img src=x> @"
    assert mention_handles(text) == ["sam", "lee-ann"]
    pieces = mention_pieces(text, told=["sam", "lee-ann"])
    assert [piece for piece, is_mention in pieces if is_mention] == ["@sam", "@lee-ann", "@Sam"]
    assert "".join(piece for piece, _ in pieces) == text  # nothing lost, nothing added
    assert mention_handles("@" + "a" * 200) == ["a" * 150]  # a username is at most 150 characters


def test_a_note_records_the_teammates_it_names_who_may_read_conversations_and_not_its_author():
    author = _member(AGENT_GROUP, "alex")
    sam = _member(AGENT_GROUP, "sam")
    val = _member(VIEWER_GROUP, "val")  # may read conversations: told too
    TeammateFactory(username="nogroup", agent_group=False)  # staff without any permission on conversations
    _member(AGENT_GROUP, "gone", is_active=False)
    get_user_model().objects.create_user("customer", "c@example.com", "x")  # not staff
    boss = get_user_model().objects.create_superuser("boss", "boss@parley.test", "x")
    conversation = _conversation()
    note = services.conversation_add_note(
        conversation=conversation, teammate=author,
        body="@sam @SAM @val @nogroup @gone @customer @boss @nobody @alex: refund? (write sam@example.com)",
    )  # fmt: skip
    mentioned = ConversationMention.objects.filter(part=note).values_list("teammate__username", flat=True)
    assert sorted(mentioned) == ["boss", "sam", "val"]
    assert {m.conversation_id for m in ConversationMention.objects.all()} == {conversation.pk}
    assert sam.pk and val.pk and boss.pk


def test_a_handle_differing_only_in_case_finds_the_one_teammate_and_an_ambiguous_one_nobody():
    author = _member(AGENT_GROUP, "alex")
    sam = _member(AGENT_GROUP, "Sam")
    _member(AGENT_GROUP, "lee")
    _member(AGENT_GROUP, "LEE")
    note = services.conversation_add_note(conversation=_conversation(), teammate=author, body="@sam and @Lee")
    assert list(note.mentions.values_list("teammate", flat=True)) == [sam.pk]


def test_replies_and_contacts_messages_mention_nobody():
    author = _member(AGENT_GROUP, "alex")
    _member(AGENT_GROUP, "sam")
    conversation = _conversation(body="@sam hello")
    services.conversation_reply_as_teammate(conversation=conversation, teammate=author, body="@sam is on it")
    assert ConversationMention.objects.count() == 0


def test_an_api_note_mentions_too(client):
    from rest_framework.test import APIClient

    from api.services import api_token_create

    author = _member(AGENT_GROUP, "alex")
    sam = _member(AGENT_GROUP, "sam")
    _token, raw = api_token_create(user=author, name="tests")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    conversation = _conversation()
    response = api.post(
        f"/api/conversations/{conversation.pk}/reply",
        {"message_type": "note", "type": "admin", "admin_id": str(author.pk), "body": "@sam please look"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert ConversationMention.objects.get().teammate == sam


def test_a_viewer_token_cannot_write_a_note_that_mentions_anyone():
    from rest_framework.test import APIClient

    from api.services import api_token_create

    viewer = _member(VIEWER_GROUP, "val")
    _member(AGENT_GROUP, "sam")
    _token, raw = api_token_create(user=viewer, name="tests")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    conversation = _conversation()
    response = api.post(
        f"/api/conversations/{conversation.pk}/reply",
        {"message_type": "note", "type": "admin", "admin_id": str(viewer.pk), "body": "@sam"},
        format="json",
    )
    assert response.status_code == 403
    assert ConversationMention.objects.count() == 0
    assert not conversation.parts.filter(part_type=ConversationPart.Type.NOTE).exists()


def test_the_mentioned_teammate_sees_it_in_the_inbox_updates_and_the_mentions_view_until_opened():
    author = _member(AGENT_GROUP, "alex", first_name="Alex")
    sam = _member(AGENT_GROUP, "sam")
    other = _member(AGENT_GROUP, "lee")
    mentioned, not_mentioned = _conversation(name="Grace"), _conversation(name="Ada")
    latest = ConversationPart.objects.order_by("-id").first().pk
    services.conversation_add_note(conversation=mentioned, teammate=author, body="@sam can you take this?")
    services.conversation_add_note(conversation=not_mentioned, teammate=author, body="nothing for sam here")

    updates = _client(sam).get(reverse("admin:conversations_inbox_updates"), {"after": latest}).json()
    assert [(e["mentioned_by"], e["contact"], e["body"], e["conversation_id"]) for e in updates["events"]] == [
        ("Alex", "Grace", "@sam can you take this?", mentioned.pk)
    ]
    # Another teammate is not told about a note that does not mention them.
    assert _client(other).get(reverse("admin:conversations_inbox_updates"), {"after": latest}).json()["events"] == []

    sam_client = _client(sam)
    inbox = sam_client.get(INBOX, {"view": "mentions"})
    assert [c.pk for c in inbox.context["cl"].result_list] == [mentioned.pk]
    assert "Mentions (1 new)" in inbox.content.decode()
    assert selectors.mentions_unread_count(teammate_id=sam.pk) == 1

    sam_client.get(_page(mentioned))
    assert selectors.mentions_unread_count(teammate_id=sam.pk) == 0
    inbox = sam_client.get(INBOX, {"view": "mentions"})
    assert [c.pk for c in inbox.context["cl"].result_list] == [mentioned.pk]  # still listed, no longer new
    assert "Mentions (1 new)" not in inbox.content.decode()
    # Closed conversations stay in the view: it lists mentions, not work.
    services.conversation_close(conversation=mentioned, teammate=author)
    assert [c.pk for c in sam_client.get(INBOX, {"view": "mentions"}).context["cl"].result_list] == [mentioned.pk]


def test_the_inbox_updates_keep_a_fixed_number_of_queries_with_mentions():
    author = _member(AGENT_GROUP, "alex")
    sam = _member(AGENT_GROUP, "sam")
    client = _client(sam)
    url = reverse("admin:conversations_inbox_updates") + "?after=0"
    services.conversation_add_note(conversation=_conversation(), teammate=author, body="@sam one")
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for index in range(8):
        services.conversation_add_note(conversation=_conversation(), teammate=author, body=f"@sam {index}")
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(few) == len(many)


def test_an_away_teammate_is_emailed_the_note_at_once_and_only_once(eager_celery, django_capture_on_commit_callbacks):
    author = _member(AGENT_GROUP, "alex", first_name="Alex")
    sam = _member(AGENT_GROUP, "sam")
    services.teammate_profile_update(teammate=sam, away_mode_enabled=True, away_reason="On holiday")
    conversation = _conversation(name="Grace")
    with django_capture_on_commit_callbacks(execute=True):
        note = services.conversation_add_note(conversation=conversation, teammate=author, body="@sam refund <b>ok</b>?")
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["sam@parley.test"]
    assert email.subject == "Alex mentioned you in a conversation with Grace"
    assert "@sam refund <b>ok</b>?" in email.body  # a plain-text email: the note as written
    assert f"/admin/conversations/conversation/{conversation.pk}/change/" in email.body
    assert services.mention_email_if_away(part_id=note.pk, teammate_id=sam.pk) is False  # claimed: never twice
    assert len(mail.outbox) == 1


def test_no_mention_email_when_the_teammate_was_in_the_admin_read_it_or_chose_never():
    author = _member(AGENT_GROUP, "alex")
    active, reader, quiet, later = (_member(AGENT_GROUP, name) for name in ("active", "reader", "quiet", "later"))
    services.teammate_profile_update(teammate=quiet, email_when_away_minutes=None, away_mode_enabled=True)
    conversation = _conversation()
    note = services.conversation_add_note(
        conversation=conversation, teammate=author, body="@active @reader @quiet @later"
    )
    services.teammate_mark_active(teammate=active, at=timezone.now() + dt.timedelta(seconds=1))
    services.mentions_mark_read(teammate=reader, conversation_id=conversation.pk)
    for teammate in (active, reader, quiet):
        assert services.mention_email_if_away(part_id=note.pk, teammate_id=teammate.pk) is False, teammate
    assert mail.outbox == []
    # Not in the admin since the note (and not away): emailed when the task runs, after their delay.
    assert services.mention_email_if_away(part_id=note.pk, teammate_id=later.pk) is True
    assert mail.outbox[0].to == ["later@parley.test"]


def test_a_hostile_note_is_stored_as_written_and_shown_escaped(client):
    author = get_user_model().objects.create_superuser("boss", "boss@parley.test", "x")
    sam = _member(AGENT_GROUP, "sam")
    conversation = _conversation()
    body = f"@sam look {HOSTILE} and @{HOSTILE}"
    services.conversation_add_note(conversation=conversation, teammate=author, body=body)
    assert ConversationMention.objects.get().teammate == sam
    page = _client(author).get(_page(conversation)).content.decode()
    assert HOSTILE not in page
    assert (
        '<span class="parley-mention">@sam</span> look &lt;img src=x onerror=&quot;alert(1)&quot;&gt; and @&lt;img'
        in page
    )
    poll = _client(author).get(_poll(conversation), {"after": 0}).json()
    note = next(p for p in poll["parts"] if p["type"] == "note")
    assert note["pieces"] == [["@sam", True], [f" look {HOSTILE} and @{HOSTILE}", False]]  # inserted as text


def test_teams_route_work_and_do_not_fence_it_mentions_and_macros_follow_the_read_and_change_permissions():
    """Parley has no per-team visibility: a teammate of another team may read and work a team's conversation,
    so they may be mentioned in it and run macros on it, exactly as they may by hand; only the permissions
    decide (a teammate without them is refused: see the viewer and no-permission tests)."""
    billing, sales = Team.objects.create(name="Billing"), Team.objects.create(name="Sales")
    bea, sol = _member(AGENT_GROUP, "bea"), _member(AGENT_GROUP, "sol")
    billing.members.add(bea)
    sales.members.add(sol)
    conversation = _conversation()
    services.conversation_assign(conversation=conversation, teammate=bea, assignee=bea, team=billing)
    services.conversation_add_note(conversation=conversation, teammate=bea, body="@sol do you know this customer?")
    assert ConversationMention.objects.get().teammate == sol
    done = services.macro_run(saved_reply=_macro(close=True), conversation=conversation, teammate=sol)
    assert (done.state, done.team) == ("closed", billing)


# --- macros ---------------------------------------------------------------------------------------


def _macro(
    name="Refund done", body="Hi {{contact.first_name}}, your refund is on its way. {{teammate.name}}", **actions
):
    return services.saved_reply_create(name=name, body=body, actions=MacroActions(**actions))


def test_a_macro_replies_with_placeholders_filled_then_tags_prioritises_assigns_and_closes():
    runner = _member(AGENT_GROUP, "alex", first_name="Alex")
    billing = Team.objects.create(name="Billing")
    refund, vip = TagFactory(name="refund"), TagFactory(name="vip")
    macro = _macro(tags=(refund, vip), priority="priority", assign=SavedReply.Assign.RUNNER, team=billing, close=True)
    conversation = _conversation(name="Grace Hopper")
    done = services.macro_run(saved_reply=macro, conversation=conversation, teammate=runner)
    reply = done.parts.filter(part_type=ConversationPart.Type.COMMENT, author_teammate=runner).get()
    assert reply.body == "Hi Grace, your refund is on its way. Alex"
    assert (done.state, done.priority, done.assignee, done.team) == ("closed", "priority", runner, billing)
    assert set(done.tags.values_list("name", flat=True)) == {"refund", "vip"}
    assert done.waiting_since is None and done.first_response_at is not None
    # The timeline says what happened, in order: the reply, the tags (by whom), the assignment, the close.
    timeline = list(done.parts.order_by("id").values_list("part_type", "body", "author_teammate"))
    assert [kind for kind, _, _ in timeline[-5:]] == ["comment", "tag", "tag", "assignment", "close"]
    assert {(body, author) for kind, body, author in timeline if kind == "tag"} == {
        ("refund", runner.pk),
        ("vip", runner.pk),
    }


def test_a_macro_without_text_snoozes_unassigns_to_a_team_and_keeps_the_assignee_when_told():
    runner, sam = _member(AGENT_GROUP, "alex"), _member(AGENT_GROUP, "sam")
    billing = Team.objects.create(name="Billing")
    conversation = _conversation()
    services.conversation_assign(conversation=conversation, teammate=runner, assignee=sam)
    escalate = _macro(name="To billing", body="", assign=SavedReply.Assign.NOBODY, team=billing, snooze_minutes=240)
    before = timezone.now()
    done = services.macro_run(saved_reply=escalate, conversation=conversation, teammate=runner)
    assert (done.state, done.assignee, done.team) == ("snoozed", None, billing)
    assert before + dt.timedelta(minutes=239) < done.snoozed_until < timezone.now() + dt.timedelta(minutes=241)
    assert not done.parts.filter(part_type=ConversationPart.Type.COMMENT, author_teammate=runner).exists()

    keep = _macro(name="Team only", body="", team=Team.objects.create(name="Sales"))
    services.conversation_assign(conversation=done, teammate=runner, assignee=sam)
    done = services.macro_run(saved_reply=keep, conversation=done, teammate=runner)
    assert (done.assignee, done.team.name) == (sam, "Sales")


def test_a_refused_action_undoes_the_whole_macro():
    runner, leaver = _member(AGENT_GROUP, "alex"), _member(AGENT_GROUP, "leaver")
    macro = _macro(tags=(TagFactory(name="refund"),), assign=SavedReply.Assign.TEAMMATE, assignee=leaver, close=True)
    leaver.is_active = False
    leaver.save()
    conversation = _conversation()
    parts_before = conversation.parts.count()
    with pytest.raises(ValidationError) as refused:
        services.macro_run(saved_reply=macro, conversation=conversation, teammate=runner)
    assert "assignee" in refused.value.message_dict
    conversation.refresh_from_db()
    assert (conversation.state, conversation.assignee, conversation.parts.count()) == ("open", None, parts_before)
    assert not conversation.tags.exists()


@pytest.mark.parametrize(
    ("actions", "field"),
    [
        ({"snooze_minutes": 60, "close": True}, "close"),
        ({"snooze_minutes": 0}, "snooze_minutes"),
        ({"snooze_minutes": 10**9}, "snooze_minutes"),
        ({"snooze_minutes": True}, "snooze_minutes"),
        ({"assign": SavedReply.Assign.TEAMMATE}, "assignee"),
        ({"assign": "everyone"}, "assign"),
        ({"priority": "urgent"}, "priority"),
    ],
)
def test_macro_actions_that_do_not_hold_together_are_refused_by_name(actions, field):
    with pytest.raises(ValidationError) as refused:
        _macro(**actions)
    assert field in refused.value.message_dict
    assert not SavedReply.objects.exists()


@pytest.mark.parametrize(
    ("name", "body", "field"),
    [("", "Hi", "name"), ("a" * 101, "Hi", "name"), ("Bad\x00", "Hi", "name"), ("Empty", "", "body"),
     ("Unknown", "{{contact.password}}", "body")],
)  # fmt: skip
def test_a_saved_reply_without_actions_needs_a_name_and_text(name, body, field):
    with pytest.raises(ValidationError) as refused:
        services.saved_reply_create(name=name, body=body)
    assert field in refused.value.message_dict


def test_the_page_puts_a_macro_in_the_composer_and_sending_runs_its_actions_with_the_edited_reply():
    """Intercom's way: the macro's text goes into the composer, its actions are listed; the teammate edits and
    sends, and the reply as edited and the actions run in one transaction."""
    runner = _member(AGENT_GROUP, "alex", first_name="Alex")
    macro = _macro(tags=(TagFactory(name="refund"),), close=True)
    conversation = _conversation(name="Grace")
    client = _client(runner)
    page = client.get(_page(conversation)).content.decode()
    assert (
        f'<option value="{macro.pk}" data-body="Hi Grace, your refund is on its way. Alex" '
        'data-actions="[&quot;tag “refund”&quot;, &quot;close&quot;]">Refund done</option>'
    ) in page
    assert 'name="macro" id="parley-macro-pending" value=""' in page
    # Choosing it sends nothing: there is no "run now" on the page any more.
    assert client.post(_page(conversation), {"do": "macro", "macro": macro.pk}).status_code == 302
    assert conversation.parts.count() == 1
    response = client.post(
        _page(conversation), {"do": "reply", "macro": macro.pk, "body": "Hi Grace, the refund left today."}
    )
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.state == "closed" and list(conversation.tags.values_list("name", flat=True)) == ["refund"]
    reply = conversation.parts.get(part_type=ConversationPart.Type.COMMENT, author_teammate=runner)
    assert reply.body == "Hi Grace, the refund left today."  # as edited, never the macro's own text
    page = client.get(_page(conversation)).content.decode()
    assert "Reply sent; the macro “Refund done” did: tag “refund”, close." in page


def test_reply_and_close_with_a_snoozing_macro_closes_and_an_emptied_reply_runs_only_the_actions():
    runner = _member(AGENT_GROUP, "alex")
    later = _macro(name="Later", tags=(TagFactory(name="waiting"),), snooze_minutes=60)
    conversation = _conversation()
    client = _client(runner)
    client.post(_page(conversation), {"do": "reply_close", "macro": later.pk, "body": "Done here."})
    conversation.refresh_from_db()
    assert conversation.state == "closed" and conversation.parts.filter(body="Done here.").exists()
    other = _conversation()
    response = client.post(_page(other), {"do": "reply", "macro": later.pk, "body": "  "}, follow=True)
    other.refresh_from_db()
    assert other.state == "snoozed" and not other.parts.filter(author_teammate=runner, part_type="comment").exists()
    assert "No reply sent; the macro “Later” did: tag “waiting”, snooze 1 hour." in response.content.decode()


@pytest.mark.parametrize("macro", ["0", "-1", "9" * 30, "1\x00", "²", "abc"])
def test_an_unknown_macro_is_refused_by_name_and_the_reply_stays_in_the_composer(macro):
    runner = _member(AGENT_GROUP, "alex")
    conversation = _conversation()
    client = _client(runner)
    response = client.post(_page(conversation), {"do": "reply", "macro": macro, "body": "My answer"}, follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Macro: This macro no longer exists" in page
    assert "My answer</textarea>" in page
    assert conversation.parts.count() == 1


def test_a_refused_send_keeps_the_macro_in_the_composer():
    runner = _member(AGENT_GROUP, "alex")
    leaver = _member(AGENT_GROUP, "leaver")
    macro = _macro(assign=SavedReply.Assign.TEAMMATE, assignee=leaver)
    leaver.is_active = False
    leaver.save()
    conversation = _conversation()
    client = _client(runner)
    page = client.post(_page(conversation), {"do": "reply", "macro": macro.pk, "body": "Edited"}, follow=True)
    page = page.content.decode()
    assert "assigns to a teammate who is gone" in page or "active teammate" in page
    assert "Edited</textarea>" in page and f'id="parley-macro-pending" value="{macro.pk}"' in page
    assert conversation.parts.count() == 1  # the reply was undone with the refused action


def test_a_viewer_cannot_run_a_macro_on_the_page_nor_from_the_inbox():
    viewer = _member(VIEWER_GROUP, "val")
    macro = _macro(close=True)
    conversation = _conversation()
    client = _client(viewer)
    page = client.get(_page(conversation)).content.decode()
    assert "Use macro" not in page and 'id="parley-composer"' not in page
    assert client.post(_page(conversation), {"do": "reply", "macro": macro.pk, "body": "x"}).status_code == 403
    for extra in ({}, {"confirm": "yes"}):
        response = client.post(
            INBOX, {"action": "run_macro_selected", "_selected_action": [conversation.pk], "macro": macro.pk, **extra}
        )
        assert response.status_code in (200, 302, 403)
    conversation.refresh_from_db()
    assert conversation.state == "open" and conversation.parts.count() == 1


def test_the_inbox_asks_first_then_runs_a_macro_on_the_selected_conversations_each_for_its_contact():
    runner = get_user_model().objects.create_superuser("boss", "boss@parley.test", "x", first_name="Bo")
    macro = _macro(tags=(TagFactory(name="refund"),), close=True)
    ada, grace = _conversation(name="Ada Lovelace"), _conversation(name="Grace Hopper")
    untouched = _conversation()
    client = _client(runner)
    chosen = {"action": "run_macro_selected", "_selected_action": [ada.pk, grace.pk], "macro": macro.pk}
    asked = client.post(INBOX + "?view=open", {**chosen, "index": "0"})
    assert asked.status_code == 200
    page = asked.content.decode()
    assert "will run now on" in page and "2 conversations" in page and "Ada Lovelace, Grace Hopper" in page
    assert "Hi {{contact.first_name}}, your refund is on its way." in page and "<li>close</li>" in page
    assert '<input type="hidden" name="confirm" value="yes">' in page
    ada.refresh_from_db()
    assert ada.state == "open" and ada.parts.count() == 1  # nothing ran yet
    response = client.post(INBOX + "?view=open", {**chosen, "confirm": "yes"}, follow=True)
    assert "Ran the macro “Refund done” on 2 conversations." in response.content.decode()
    for conversation, first in ((ada, "Ada"), (grace, "Grace")):
        conversation.refresh_from_db()
        assert conversation.state == "closed"
        assert conversation.parts.filter(body__startswith=f"Hi {first},").exists()
    untouched.refresh_from_db()
    assert untouched.state == "open"
    assert (
        "Choose a macro"
        in client.post(
            INBOX, {"action": "run_macro_selected", "_selected_action": [untouched.pk], "macro": ""}, follow=True
        ).content.decode()
    )


def test_the_saved_reply_admin_makes_a_macro_and_escapes_a_hostile_name():
    boss = get_user_model().objects.create_superuser("boss", "boss@parley.test", "x")
    client = _client(boss)
    tag = TagFactory(name="refund")
    add = reverse("admin:conversations_savedreply_add")
    refused = client.post(add, {"name": "Both", "body": "", "snooze_minutes": "60", "close": "on", "assign": ""})
    assert refused.status_code == 200
    assert "A macro either snoozes or closes" in refused.content.decode()
    response = client.post(
        add,
        {"name": HOSTILE, "body": "Done!", "tags": [tag.pk], "assign": "runner", "snooze_minutes": "", "priority": ""},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    macro = SavedReply.objects.get()
    assert (macro.name, macro.assign, list(macro.tags.all())) == (HOSTILE, "runner", [tag])
    listing = client.get(reverse("admin:conversations_savedreply_changelist")).content.decode()
    assert HOSTILE not in listing and "tag “refund”, assign to you" in listing
    page = client.get(_page(_conversation())).content.decode()
    assert HOSTILE not in page and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    sent = client.post(_page(_conversation()), {"do": "reply", "macro": macro.pk, "body": "Done!"}, follow=True)
    message = sent.content.decode()
    assert HOSTILE not in message and "the macro “&lt;img" in message


# --- who else is here -----------------------------------------------------------------------------


def test_the_poll_tells_each_teammate_who_else_views_or_types_and_forgets_who_left():
    alex, sam = _member(AGENT_GROUP, "alex", first_name="Alex"), _member(AGENT_GROUP, "sam", first_name="Sam")
    val = _member(VIEWER_GROUP, "val", first_name="Val")
    conversation, elsewhere = _conversation(), _conversation()
    a, s, v = _client(alex), _client(sam), _client(val)
    assert a.get(_poll(conversation), {"after": 0, "presence": "viewing"}).json()["presence"] == []
    assert s.get(_poll(conversation), {"after": 0, "presence": "typing"}).json()["presence"] == [
        {"name": "Alex", "state": "viewing", "words": "is viewing"}
    ]
    # A viewer has no composer: never "typing", whatever it sends.
    assert v.get(_poll(conversation), {"after": 0, "presence": "typing"}).json()["presence"] == [
        {"name": "Alex", "state": "viewing", "words": "is viewing"},
        {"name": "Sam", "state": "typing", "words": "is typing a reply"},
    ]
    assert a.get(_poll(conversation), {"after": 0, "presence": "noting"}).json()["presence"] == [
        {"name": "Sam", "state": "typing", "words": "is typing a reply"},
        {"name": "Val", "state": "viewing", "words": "is viewing"},
    ]
    assert a.get(_poll(elsewhere), {"after": 0, "presence": "viewing"}).json()["presence"] == []
    s.get(_poll(conversation), {"after": 0, "presence": "gone"})
    assert [p["name"] for p in a.get(_poll(conversation), {"after": 0, "presence": "viewing"}).json()["presence"]] == [
        "Val"
    ]
    # An unknown state records nothing and says nothing.
    assert s.get(_poll(conversation), {"after": 0, "presence": "<script>"}).json()["presence"] == []


def test_a_poll_answered_after_its_page_left_does_not_bring_the_teammate_back():
    alex, sam = _member(AGENT_GROUP, "alex", first_name="Alex"), _member(AGENT_GROUP, "sam", first_name="Sam")
    conversation = _conversation()
    a, s = _client(alex), _client(sam)
    s.get(_poll(conversation), {"after": 0, "presence": "typing", "visit": "k1"})
    s.get(_poll(conversation), {"after": 0, "presence": "gone", "visit": "k1"})
    # The typing poll sent just before Sam left reaches the server last.
    assert s.get(_poll(conversation), {"after": 0, "presence": "typing", "visit": "k1"}).status_code == 200
    assert a.get(_poll(conversation), {"after": 0, "presence": "viewing", "visit": "a1"}).json()["presence"] == []
    # Sam opens the conversation again: a new page load, present at once.
    s.get(_poll(conversation), {"after": 0, "presence": "viewing", "visit": "k2"})
    assert [p["name"] for p in a.get(_poll(conversation), {"after": 0, "presence": "viewing"}).json()["presence"]] == [
        "Sam"
    ]
    # A visit name that is not one (too long, hostile) is ignored, never an error.
    for visit in ["x" * 33, "<script>", "K1"]:
        assert s.get(_poll(conversation), {"after": 0, "presence": "viewing", "visit": visit}).status_code == 200


def test_a_teammate_who_sends_their_note_or_reply_stops_writing_for_the_others_at_once():
    alex, sam = _member(AGENT_GROUP, "alex", first_name="Alex"), _member(AGENT_GROUP, "sam", first_name="Sam")
    conversation = _conversation()
    a, s = _client(alex), _client(sam)
    for do, state in (("note", "noting"), ("reply", "typing")):
        s.get(_poll(conversation), {"after": 0, "presence": state, "visit": "k1"})
        assert [
            p["state"] for p in a.get(_poll(conversation), {"after": 0, "presence": "viewing"}).json()["presence"]
        ] == [state]
        assert s.post(_page(conversation), {"do": do, "body": f"Sent as a {do}"}).status_code == 302
        # Before Sam's page polls again: the send said so.
        assert a.get(_poll(conversation), {"after": 0, "presence": "viewing"}).json()["presence"] == [
            {"name": "Sam", "state": "viewing", "words": "is viewing"}
        ]
    # An action that sends nothing leaves the state as the last poll told it.
    s.get(_poll(conversation), {"after": 0, "presence": "noting", "visit": "k1"})
    assert s.post(_page(conversation), {"do": "priority", "priority": "priority"}).status_code == 302
    assert [p["state"] for p in a.get(_poll(conversation), {"after": 0, "presence": "viewing"}).json()["presence"]] == [
        "noting"
    ]


def test_presence_expires_on_its_own_when_a_teammate_stops_polling(settings):
    from django.core.cache import cache

    from conversations.services import presence

    alex, sam = _member(AGENT_GROUP, "alex"), _member(AGENT_GROUP, "sam")
    conversation = _conversation()
    services.conversation_presence(conversation=conversation, teammate=sam, state="typing")
    assert len(services.conversation_presence(conversation=conversation, teammate=alex, state="viewing")) == 1
    cache.delete(f"parley:presence:{conversation.pk}:{sam.pk}")  # what the TTL does after PRESENCE_TTL_SECONDS
    assert services.conversation_presence(conversation=conversation, teammate=alex, state="viewing") == []
    assert cache.get(f"parley:presence:{conversation.pk}") == [alex.pk]  # the list forgot sam too
    assert presence.PRESENCE_TTL_SECONDS <= 20


def test_the_poll_with_presence_runs_a_fixed_number_of_queries_whoever_is_there():
    alex = _member(AGENT_GROUP, "alex")
    conversation = _conversation()
    client = _client(alex)
    url = _poll(conversation) + "?after=0&presence=viewing&visible=1"
    client.get(url)  # the first poll names the teammate (one read) and records activity
    with CaptureQueriesContext(connection) as alone:
        client.get(url)
    for index in range(5):
        other = _member(AGENT_GROUP, f"other{index}")
        _client(other).get(url)
    with CaptureQueriesContext(connection) as crowded:
        response = client.get(url)
    assert len(response.json()["presence"]) == 5
    assert len(alone) == len(crowded)


def test_a_teammate_who_may_not_read_conversations_learns_nothing_from_the_poll():
    alex = _member(AGENT_GROUP, "alex")
    conversation = _conversation()
    _client(alex).get(_poll(conversation), {"after": 0, "presence": "typing"})
    stranger = TeammateFactory(username="stranger", agent_group=False)  # staff, no permission on conversations
    response = _client(stranger).get(_poll(conversation), {"after": 0, "presence": "viewing"})
    assert response.status_code == 403
    assert b"alex" not in response.content.lower()
    assert services.conversation_presence(conversation=conversation, teammate=alex, state="viewing") == []


@pytest.mark.parametrize("site", ["cross-site", "same-site", "none"])
def test_a_poll_from_anywhere_but_the_admins_own_page_records_nothing(site):
    """A link or a form on another site (or the address bar) sends the session's cookie with a top-level GET: the poll
    would record the teammate typing (the contact's dots) and mark the thread read. It answers 403, and does neither."""
    alex = _member(AGENT_GROUP, "alex")
    conversation = _conversation()
    conversation.teammate_unread_count = 1
    conversation.save(update_fields=["teammate_unread_count"])
    response = _client(alex).get(
        _poll(conversation), {"after": 0, "presence": "typing", "visible": "1"}, headers={"Sec-Fetch-Site": site}
    )
    assert response.status_code == 403
    assert response.json()["field"] == "Sec-Fetch-Site"
    sam = _member(AGENT_GROUP, "sam")
    assert services.conversation_presence(conversation=conversation, teammate=sam, state="viewing") == []
    conversation.refresh_from_db()
    assert conversation.teammate_unread_count == 1
    # The admin's own page (same-origin; a client that sends no such header) polls as before.
    own = _client(alex).get(
        _poll(conversation), {"after": 0, "presence": "typing"}, headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert own.status_code == 200


# --- the pages carry the shortcuts ----------------------------------------------------------------


def test_the_inbox_and_the_conversation_page_load_the_shortcut_scripts_and_the_mention_list():
    alex, _sam = _member(AGENT_GROUP, "alex"), _member(AGENT_GROUP, "sam", first_name="Sam", last_name="Lee")
    client = _client(alex)
    inbox = client.get(INBOX).content.decode()
    assert "/static/parley/admin/keys.js" in inbox and "/static/parley/admin/inbox.js" in inbox
    assert "Press <kbd>?</kbd> for keyboard shortcuts" in inbox
    page = client.get(_page(_conversation())).content.decode()
    assert "/static/parley/admin/keys.js" in page and "/static/parley/admin/thread.js" in page
    assert '{"username": "sam", "name": "Sam Lee"}' in page  # the note box's autocomplete
    assert '"username": "alex"' not in page  # nobody mentions themself
    assert Permission.objects.filter(codename="view_conversation").exists()
