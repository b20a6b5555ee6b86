"""What a new user walking the team inbox found: two answers to one question, teammate profiles for
everyone, mentions of nobody, and why nobody was assigned."""

import itertools

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from contacts.permissions import AGENT_GROUP
from conversations import services
from conversations.models import ConversationPart
from tests.contacts.factories import LeadFactory

pytestmark = pytest.mark.django_db


def _agent(username: str, **fields):
    user = get_user_model().objects.create_user(username, f"{username}@parley.test", "x", is_staff=True, **fields)
    user.groups.add(Group.objects.get(name=AGENT_GROUP))
    return user


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _page(conversation) -> str:
    return reverse("admin:conversations_conversation_change", args=[conversation.pk])


def _conversation(body="Where is my parcel?"):
    return services.conversation_start_by_contact(contact=LeadFactory(name="Grace"), body=body)


def _last_part_id(conversation) -> int:
    return conversation.parts.order_by("-id").values_list("id", flat=True).first()


# --- 1. two answers to one question -------------------------------------------------------------


def test_reply_after_a_teammate_replied_since_the_page_opened_is_refused_naming_them():
    leo, dana = _agent("leo", first_name="Leo"), _agent("dana", first_name="Dana")
    conversation = _conversation()
    seen = _last_part_id(conversation)  # both pages opened here
    services.conversation_reply_as_teammate(
        conversation=conversation, teammate=leo, body="On its way!", seen_part_id=seen
    )
    with pytest.raises(ValidationError) as refused:
        services.conversation_reply_as_teammate(
            conversation=conversation, teammate=dana, body="It left today.", seen_part_id=seen
        )
    assert refused.value.message_dict == {"seen_part": ["Leo replied since you opened this — send anyway?"]}
    assert conversation.parts.filter(part_type=ConversationPart.Type.COMMENT, author_teammate=dana).count() == 0
    # Having seen Leo's reply (its id), Dana may still send: the customer gets her answer too.
    services.conversation_reply_as_teammate(
        conversation=conversation, teammate=dana, body="It left today.", seen_part_id=_last_part_id(conversation)
    )
    assert conversation.parts.filter(author_teammate=dana, part_type=ConversationPart.Type.COMMENT).count() == 1


def test_contact_writing_since_counts_but_own_replies_notes_and_events_do_not():
    dana, leo = _agent("dana", first_name="Dana"), _agent("leo", first_name="Leo")
    conversation = _conversation()
    seen = _last_part_id(conversation)
    services.conversation_reply_as_teammate(conversation=conversation, teammate=dana, body="Checking.")
    services.conversation_add_note(conversation=conversation, teammate=leo, body="Courier is late")
    services.conversation_assign(conversation=conversation, teammate=leo, assignee=leo)
    services.conversation_reply_and_close(conversation=conversation, teammate=dana, body="Sorted?", seen_part_id=seen)
    seen = _last_part_id(conversation)
    services.conversation_reply_as_contact(conversation=conversation, body="Not yet!")
    with pytest.raises(ValidationError, match="Grace wrote since you opened this"):
        services.conversation_reply_and_close(conversation=conversation, teammate=dana, body="Bye", seen_part_id=seen)
    conversation.refresh_from_db()
    assert conversation.state == "open"  # the refused reply closed nothing


def test_conversation_page_refuses_then_marks_the_new_reply_and_sends_on_the_second_try():
    leo, dana = _agent("leo", first_name="Leo"), _agent("dana", first_name="Dana")
    conversation = _conversation()
    page = _client(dana).get(_page(conversation))
    seen = page.context["last_part_id"]
    assert f'name="seen_part" id="parley-seen-part" value="{seen}"' in page.content.decode()
    leo_part = services.conversation_reply_as_teammate(conversation=conversation, teammate=leo, body="On its way!")

    dana_client = _client(dana)
    refused = dana_client.post(_page(conversation), {"do": "reply", "body": "It left today.", "seen_part": seen},
                               follow=True)  # fmt: skip
    html = refused.content.decode()
    assert "Leo replied since you opened this — send anyway?" in html
    assert "It left today.</textarea>" in html  # the draft is kept
    assert f'parley-new" data-part="{leo_part.pk}"' in html  # Leo's reply is marked on the page
    assert not conversation.parts.filter(author_teammate=dana).exists()

    # The page that came back has seen Leo's reply: sending again confirms.
    assert refused.context["last_part_id"] == leo_part.pk
    dana_client.post(_page(conversation), {"do": "reply", "body": "It left today.", "seen_part": leo_part.pk})
    assert conversation.parts.filter(author_teammate=dana, body="It left today.").exists()


def test_conversation_page_refuses_a_seen_part_that_is_no_id_without_sending():
    dana = _agent("dana")
    conversation = _conversation()
    response = _client(dana).post(_page(conversation), {"do": "reply", "body": "Hi", "seen_part": "-3"}, follow=True)
    assert response.status_code == 200
    assert "Reload the page" in response.content.decode()
    assert not conversation.parts.filter(author_teammate=dana).exists()


# --- 3. only real mentions are highlighted -------------------------------------------------------


def test_note_highlights_only_the_teammates_it_told():
    author, sam = _agent("alex"), _agent("sam")
    get_user_model().objects.create_user("outsider", "o@parley.test", "x", is_staff=True)  # may not read them
    conversation = _conversation()
    services.conversation_add_note(
        conversation=conversation, teammate=author, body="@Sam and @nobodyhere, ask @outsider"
    )
    html = _client(author).get(_page(conversation)).content.decode()
    assert '<span class="parley-mention">@Sam</span> and @nobodyhere, ask @outsider' in html
    poll = (
        _client(author)
        .get(reverse("admin:conversations_conversation_poll", args=[conversation.pk]), {"after": 0})
        .json()
    )
    note = next(part for part in poll["parts"] if part["type"] == "note")
    assert note["pieces"] == [["@Sam", True], [" and @nobodyhere, ask @outsider", False]]
    assert sam.parley_mentions.count() == 1


# --- 5. why nobody was assigned ---------------------------------------------------------------------


def test_routing_to_nobody_says_why_in_the_thread_and_the_inbox_lists_who_is_at_their_cap():
    from conversations.models import AssignmentRule, Team, TeamRoundRobin
    from conversations.services import routing

    priya, omar = _agent("priya", first_name="Priya"), _agent("omar", first_name="Omar")
    support = Team.objects.create(name="Support")
    support.members.add(priya, omar)
    routing.assignment_rule_save(rule=AssignmentRule(name="all", assign_team=support))
    services.teammate_profile_update(teammate=omar, max_open_conversations=1)
    assert _conversation().assignee == priya
    assert _conversation().assignee == omar  # now at his cap
    routing.teammate_away_set(teammate=priya, away=True, reason="Holiday")

    nobody = _conversation()
    assert nobody.assignee is None and nobody.team == support
    page = _client(omar).get(_page(nobody)).content.decode()
    assert (
        "Parley assigned this to nobody (Support), by the rule “all”: everyone in Support is away or at their cap"
        in page
    )

    inbox = _client(omar).get(reverse("admin:conversations_conversation_changelist")).content.decode()
    assert "Away: Priya (Holiday) · At their cap: Omar (1 open) — they get no new conversations." in inbox

    TeamRoundRobin.objects.filter(team=support).update(enabled=False)
    switched_off = _conversation()
    page = _client(omar).get(_page(switched_off)).content.decode()
    assert "Parley assigned this to nobody (Support), by the rule “all”: round robin is off for Support" in page
    assigned = _client(omar).get(_page(nobody.__class__.objects.filter(assignee=priya).get())).content.decode()
    assert "Parley assigned this to Priya (Support), by the rule “all”" in assigned


def test_at_cap_line_counts_open_conversations_only_and_skips_away_teammates():
    from conversations.services import routing

    omar, priya = _agent("omar", first_name="Omar"), _agent("priya", first_name="Priya")
    services.teammate_profile_update(teammate=omar, max_open_conversations=2)
    services.teammate_profile_update(teammate=priya, max_open_conversations=0)
    routing.teammate_away_set(teammate=priya, away=True)
    first = _conversation()
    services.conversation_assign(conversation=first, teammate=omar, assignee=omar)
    services.conversation_assign(conversation=_conversation(), teammate=omar, assignee=omar)
    unavailable = routing.teammates_unavailable()
    assert [(t.username, t.open_count) for t in unavailable.at_cap] == [("omar", 2)]
    assert [t.username for t in unavailable.away] == ["priya"]
    services.conversation_close(conversation=first, teammate=omar)
    assert routing.teammates_unavailable().at_cap == []


# --- 2. a lead sets a teammate's profile before they ever log in ---------------------------------


def test_lead_lists_every_active_teammate_and_sets_away_and_cap_for_one_who_never_logged_in():
    from conversations.models import TeammateProfile

    lead = get_user_model().objects.create_superuser("lead", "lead@parley.test", "x")
    priya = _agent("priya", first_name="Priya")
    _agent("gone", is_active=False)
    get_user_model().objects.create_user("customer", "c@example.com", "x")  # not staff
    assert not TeammateProfile.objects.filter(pk=priya.pk).exists()

    client = _client(lead)
    listing = client.get(reverse("admin:conversations_teammateprofile_changelist"))
    assert listing.status_code == 200
    listed = {profile.teammate.username for profile in listing.context["cl"].result_list}
    assert listed == {"lead", "priya"}
    found = client.get(reverse("admin:conversations_teammateprofile_changelist"), {"q": "Priya"})
    assert [p.teammate for p in found.context["cl"].result_list] == [priya]

    change = reverse("admin:conversations_teammateprofile_change", args=[priya.pk])
    assert client.get(change).status_code == 200
    saved = client.post(change, {
        "display_name": "", "avatar_url": "", "email_when_away_minutes": "15", "away_mode_enabled": "on",
        "away_reason": "Starts Monday", "max_open_conversations": "5",
    })  # fmt: skip
    assert saved.status_code == 302
    profile = TeammateProfile.objects.get(pk=priya.pk)
    assert (profile.away_mode_enabled, profile.away_reason, profile.max_open_conversations) == (
        True,
        "Starts Monday",
        5,
    )
    listing = client.get(reverse("admin:conversations_teammateprofile_changelist"))
    assert TeammateProfile.objects.count() == 2  # listing again adds nothing
    # Each row shows the name the rest of Parley uses (Priya, not "-") and why they are away.
    row = next(r for r in listing.content.decode().split("<tr") if ">priya</a>" in r)
    assert '<td class="field-shown_name">Priya</td>' in row and "Starts Monday" in row


# --- 6. j / k on a conversation opened from a link --------------------------------------------------


def test_next_and_previous_walk_the_inboxs_default_order_from_a_conversation_opened_by_link(admin_client):
    import datetime as dt

    from django.utils import timezone

    from conversations.models import Conversation

    now = timezone.now()
    made = [_conversation(f"Question {n}") for n in range(5)]
    # Newest activity first, ties by id (newest first), never-written ones last.
    when = [now - dt.timedelta(hours=1), now, now - dt.timedelta(hours=1), now - dt.timedelta(days=2), None]
    for conversation, at in zip(made, when, strict=True):
        Conversation.objects.filter(pk=conversation.pk).update(last_part_at=at)
    expected = [made[1].pk, made[2].pk, made[0].pk, made[3].pk, made[4].pk]

    def step(pk: int, way: str) -> str:
        answer = admin_client.get(reverse("admin:conversations_conversation_step", args=[pk, way]))
        assert answer.status_code == 302
        return answer["Location"]

    for here, there in itertools.pairwise(expected):
        assert step(here, "next") == reverse("admin:conversations_conversation_change", args=[there])
        assert step(there, "previous") == reverse("admin:conversations_conversation_change", args=[here])
    inbox = reverse("admin:conversations_conversation_changelist")
    assert step(expected[-1], "next") == inbox and step(expected[0], "previous") == inbox
    assert (
        admin_client.get(reverse("admin:conversations_conversation_step", args=[made[0].pk, "sideways"])).status_code
        == 404
    )
    stranger = get_user_model().objects.create_user("nobody", "n@parley.test", "x", is_staff=True)
    assert (
        _client(stranger).get(reverse("admin:conversations_conversation_step", args=[made[0].pk, "next"])).status_code
        == 403
    )
