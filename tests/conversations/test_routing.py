"""Assignment rules, team round robin, away mode and caps (conversations/services/routing.py)."""

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from contacts.models import Contact
from contacts.permissions import VIEWER_GROUP
from conversations import services
from conversations.models import AssignmentRule, Conversation, ConversationPart, Team, TeamRoundRobin
from conversations.services import routing
from tests.contacts.factories import LeadFactory, TagFactory, UserContactFactory
from tests.conversations.factories import AgentFactory, TeammateFactory
from tests.tracking.factories import WebsiteFactory

pytestmark = pytest.mark.django_db


def _team(name="Billing", size=3, **profiles):
    team = Team.objects.create(name=name)
    members = [AgentFactory(username=f"{name.lower()}{i}") for i in range(size)]
    team.members.add(*members)
    return team, members


def _rule(**fields):
    fields.setdefault("name", "rule")
    return routing.assignment_rule_save(rule=AssignmentRule(**fields))


def _start(body="Hello", *, contact=None, website=None, page_url=""):
    return services.conversation_start_by_contact(
        contact=contact or LeadFactory(), body=body, website=website, page_url=page_url
    )


def test_a_rule_on_the_page_url_routes_to_its_team_and_round_robin_takes_turns():
    team, members = _team()
    website = WebsiteFactory()
    _rule(website=website, page_url_prefix="https://shop.example/billing", assign_team=team)
    assigned = [
        _start(website=website, page_url=f"https://shop.example/billing/invoice/{i}").assignee for i in range(6)
    ]
    assert assigned == members + members  # in turn, by id
    other = _start(website=website, page_url="https://shop.example/pricing")
    assert other.assignee is None and other.team is None
    routed = Conversation.objects.filter(team=team)
    assert routed.count() == 6
    part = ConversationPart.objects.filter(part_type=ConversationPart.Type.ASSIGNMENT).first()
    assert part.assigned_team == team and part.author_teammate is None


def test_rules_run_in_order_and_the_first_match_wins():
    first, _ = _team("First", 1)
    second, _ = _team("Second", 1)
    _rule(name="b", position=2, message_contains="refund", assign_team=second)
    _rule(name="a", position=1, message_contains="invoice, refund", assign_team=first)
    assert _start("I want a REFUND please").team == first
    AssignmentRule.objects.filter(name="a").update(enabled=False)
    assert _start("I want a refund please").team == second


@pytest.mark.parametrize(
    ("field", "value", "matching", "other"),
    [
        ("page_url_pattern", "*/checkout/*", "https://shop.example/en/checkout/pay", "https://shop.example/cart"),
        ("language", "fr", "fr-CA", "en-US"),
        ("contact_role", "user", "user", "lead"),
    ],
)
def test_each_condition(field, value, matching, other):
    team, _ = _team(size=1)
    _rule(**{field: value}, assign_team=team)

    def contact_for(v):
        if field == "language":
            return LeadFactory(browser_language=v)
        if field == "contact_role":
            return UserContactFactory() if v == "user" else LeadFactory()
        return LeadFactory()

    def url_for(v):
        return v if field == "page_url_pattern" else ""

    assert _start(contact=contact_for(matching), page_url=url_for(matching)).team == team
    assert _start(contact=contact_for(other), page_url=url_for(other)).team is None


def test_tag_condition_and_the_tag_and_priority_actions():
    vip, urgent = TagFactory(name="vip"), TagFactory(name="urgent")
    _rule(contact_tag=vip, add_tag=urgent, set_priority=Conversation.Priority.PRIORITY)
    tagged = LeadFactory()
    tagged.tags.add(vip)
    conversation = _start(contact=tagged)
    conversation.refresh_from_db()
    assert conversation.priority == Conversation.Priority.PRIORITY
    assert list(conversation.tags.all()) == [urgent]
    plain = _start()
    plain.refresh_from_db()
    assert plain.priority == Conversation.Priority.NOT_PRIORITY and not plain.tags.exists()


def test_round_robin_skips_away_teammates_and_those_at_their_cap():
    team, (a, b, c) = _team()
    _rule(assign_team=team)
    routing.teammate_away_set(teammate=b, away=True, reason="Holiday")
    services.teammate_profile_update(teammate=c, max_open_conversations=1)
    assigned = [_start().assignee for _ in range(4)]
    assert assigned == [a, c, a, a]  # b away; c at 1 open conversation after its first
    services.conversation_close(conversation=Conversation.objects.get(assignee=c), teammate=None)
    assert _start().assignee == c  # below the cap again
    routing.teammate_away_set(teammate=a, away=True)
    services.teammate_profile_update(teammate=c, max_open_conversations=0)
    nobody = _start()
    assert nobody.assignee is None and nobody.team == team  # nobody can take it: the team's queue


def test_round_robin_never_hands_a_conversation_to_a_teammate_who_cannot_work_it():
    team, (agent,) = _team(size=1)
    viewer, no_group = (
        TeammateFactory(username="viewer", agent_group=False),
        TeammateFactory(username="nogroup", agent_group=False),
    )
    viewer.groups.add(Group.objects.get(name=VIEWER_GROUP))
    team.members.add(viewer, no_group)
    _rule(assign_team=team)
    # Staff in no group, or viewers, get a 403 on the inbox: every conversation goes to the agent.
    assert [_start().assignee for _ in range(3)] == [agent, agent, agent]
    routing.teammate_away_set(teammate=agent, away=True)
    assert _start().assignee is None


def test_a_named_teammate_who_is_away_gives_way_to_the_team_round_robin():
    team, (a, b) = _team(size=2)
    _rule(assign_team=team, assign_teammate=b)
    assert _start().assignee == b
    routing.teammate_away_set(teammate=b, away=True)
    assert _start().assignee == a


def test_round_robin_switched_off_leaves_the_conversation_with_the_team():
    team, _ = _team(size=2)
    TeamRoundRobin.objects.create(team=team, enabled=False)
    _rule(assign_team=team)
    conversation = _start()
    assert conversation.team == team and conversation.assignee is None


def test_reopened_conversation_is_routed_again_only_without_an_available_assignee():
    team, (a, b) = _team(size=2)
    _rule(assign_team=team)
    conversation = _start()
    assert conversation.assignee == a
    services.conversation_close(conversation=conversation, teammate=None)
    services.conversation_reply_as_contact(conversation=conversation, body="Me again")
    conversation.refresh_from_db()
    assert conversation.assignee == a  # still theirs
    services.conversation_close(conversation=conversation, teammate=None)
    routing.teammate_away_set(teammate=a, away=True)
    services.conversation_reply_as_contact(conversation=conversation, body="Anyone?")
    conversation.refresh_from_db()
    assert conversation.assignee == b


def test_away_with_reassign_sends_replies_back_through_the_rules_or_unassigns():
    team, (a, b) = _team(size=2)
    conversation = _start()
    services.conversation_assign(conversation=conversation, teammate=a, assignee=a)
    routing.teammate_away_set(teammate=a, away=True, reassign=True)
    services.conversation_reply_as_contact(conversation=conversation, body="Hello?")
    conversation.refresh_from_db()
    assert conversation.assignee is None  # no rule: back to the unassigned queue
    services.conversation_assign(conversation=conversation, teammate=a, assignee=a)
    _rule(assign_team=team)
    services.conversation_reply_as_contact(conversation=conversation, body="Hello??")
    conversation.refresh_from_db()
    assert conversation.assignee == b


def test_away_without_reassign_keeps_replies_with_the_assignee():
    a = TeammateFactory()
    conversation = _start()
    services.conversation_assign(conversation=conversation, teammate=a, assignee=a)
    routing.teammate_away_set(teammate=a, away=True, reassign=False)
    services.conversation_reply_as_contact(conversation=conversation, body="Hello?")
    conversation.refresh_from_db()
    assert conversation.assignee == a


def test_away_set_validates_its_input():
    a = TeammateFactory()
    with pytest.raises(ValidationError) as error:
        routing.teammate_away_set(teammate=a, away="yes")
    assert "away_mode_enabled" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        routing.teammate_away_set(teammate=a, away=True, reason="x" * 101)
    assert "away_reason" in error.value.message_dict
    profile = routing.teammate_away_set(teammate=a, away=True, reason="Lunch\x00")
    assert profile.away_reason == "Lunch"
    assert routing.teammate_away_set(teammate=a, away=False).away_reason == ""
    assert [t.pk for t in routing.teammates_unavailable().away] == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "no action"}, "assign_team"),
        ({"name": "x", "set_priority": "priority", "language": "<script>"}, "language"),
        ({"name": "x", "set_priority": "priority", "page_url_pattern": "no-star"}, "page_url_pattern"),
        ({"name": "x", "set_priority": "priority", "message_contains": "a\x00b"}, "message_contains"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(fields, field):
    with pytest.raises(ValidationError) as error:
        routing.assignment_rule_save(rule=AssignmentRule(**fields))
    assert field in error.value.message_dict


def test_a_hostile_pattern_is_not_a_regular_expression():
    team, _ = _team(size=1)
    _rule(page_url_pattern="*(a+)+[b?*", assign_team=team)
    assert _start(page_url="https://x.example/" + "a" * 50).team is None
    assert _start(page_url="https://x.example/(a+)+[b?z").team == team


def test_page_url_is_kept_only_when_it_is_a_web_address():
    assert _start(page_url="javascript:alert(1)").started_on_url == ""
    assert _start(page_url=["x"]).started_on_url == ""
    assert _start(page_url="https://x.example/" + "a" * 3000).started_on_url.startswith("https://x.example/aaa")
    assert len(_start(page_url="https://x.example/" + "a" * 3000).started_on_url) == 2000


def test_preview_counts_matches_among_recent_conversations_in_fixed_queries(django_assert_num_queries):
    for i in range(5):
        _start("refund please" if i % 2 == 0 else "hello", contact=LeadFactory(browser_language="fr"))
    agent = TeammateFactory()
    services.conversation_start_by_teammate(contact=LeadFactory(), teammate=agent, body="refund offer")
    from django.apps import apps

    rule = AssignmentRule(name="r", message_contains="refund", language="fr", set_priority="priority")
    fixed = 4 if apps.is_installed("companies") else 3  # conversations, first messages, tags (, company plans)
    with django_assert_num_queries(fixed):
        assert routing.rule_preview(rule=rule) == (3, 5)
    for _ in range(5):
        _start("refund", contact=LeadFactory(browser_language="fr"))
    with django_assert_num_queries(fixed):
        assert routing.rule_preview(rule=rule, sample=8) == (7, 8)  # 5 new + 2 of the last 3 before


def test_role_condition_reads_the_contact_at_routing_time():
    team, _ = _team(size=1)
    _rule(contact_role=Contact.Role.LEAD, assign_team=team)
    # A visitor who writes becomes a lead before the rules run.
    visitor = LeadFactory(role=Contact.Role.VISITOR)
    assert _start(contact=visitor).team == team


def test_company_plan_condition():
    """A rule on a company plan matches contacts with a company on that plan (once the companies app is
    installed; without it no contact has a company, so such a rule never matches)."""
    from django.apps import apps

    team, _ = _team(size=1)
    _rule(company_plan="Enterprise", assign_team=team)
    lead = LeadFactory()
    if not apps.is_installed("companies"):
        assert _start(contact=lead).team is None
        pytest.skip("the companies app is not installed yet: only the no-company case is checked")
    Company = apps.get_model("companies", "Company")
    big = Company.objects.create(company_id="c-1", name="Big", plan="enterprise")
    small = Company.objects.create(company_id="c-2", name="Small", plan="starter")
    lead.companies.add(small)
    assert _start(contact=lead).team is None
    lead.companies.add(big)
    assert _start(contact=lead).team == team
    rule = AssignmentRule.objects.get()
    assert routing.rule_preview(rule=rule) == (2, 2)  # the contacts as they are now: both of the lead's
