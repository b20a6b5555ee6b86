"""Round robin under concurrency: conversations created at the same moment, each in its own transaction and
database connection, never go to the same teammate by a race (the team's round-robin row is locked while
a teammate is picked). PostgreSQL only: SQLite serialises every writer, so it could not show a race."""

import threading

import pytest
from django.db import connection

from conversations import services
from conversations.models import AssignmentRule, Conversation, Team
from conversations.services import routing
from tests.contacts.factories import LeadFactory
from tests.conversations.factories import AgentFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]

WRITERS = 6
ROUNDS = 4


def _in_parallel(work, count):
    errors = []
    barrier = threading.Barrier(count)

    def run(index):
        try:
            barrier.wait()
            work(index)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors


def test_parallel_creation_takes_turns_exactly():
    team = Team.objects.create(name="Support")
    members = [AgentFactory() for _ in range(WRITERS)]
    team.members.add(*members)
    routing.assignment_rule_save(rule=AssignmentRule(name="all", assign_team=team))
    contacts = [LeadFactory() for _ in range(WRITERS * ROUNDS)]

    def writer(index):
        for round_ in range(ROUNDS):
            services.conversation_start_by_contact(contact=contacts[round_ * WRITERS + index], body="Help")

    _in_parallel(writer, WRITERS)
    per_member = {m.pk: Conversation.objects.filter(assignee=m).count() for m in members}
    # WRITERS * ROUNDS conversations over WRITERS teammates in turn: exactly ROUNDS each, whatever the race.
    assert sorted(per_member.values()) == [ROUNDS] * WRITERS, per_member


def test_parallel_creation_respects_caps():
    team = Team.objects.create(name="Capped")
    members = [AgentFactory() for _ in range(3)]
    team.members.add(*members)
    for member in members:
        services.teammate_profile_update(teammate=member, max_open_conversations=2)
    routing.assignment_rule_save(rule=AssignmentRule(name="all", assign_team=team))
    contacts = [LeadFactory() for _ in range(8)]

    _in_parallel(lambda i: services.conversation_start_by_contact(contact=contacts[i], body="Help"), 8)
    counts = [Conversation.objects.filter(assignee=m).count() for m in members]
    assert counts == [2, 2, 2]
    assert Conversation.objects.filter(team=team, assignee__isnull=True).count() == 2
