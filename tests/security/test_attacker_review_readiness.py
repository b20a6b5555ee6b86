"""/readyz while a check hangs (an outside attacker review): a database behind a dropped network answers no query
for minutes (an open connection has no statement timeout; TCP gives up after ~15 minutes), and the one thread
running the checks waits with it. Every other request meanwhile answers the last finished run's "ok", however old,
so a load balancer keeps the node in rotation for as long as the check hangs, not the 2 s READINESS_TTL_SECONDS
promises ("a node leaves rotation at most this late")."""

import threading

import pytest

from ops import readiness

pytestmark = pytest.mark.django_db

# Far beyond any interval a load balancer would accept for a node whose database does not answer.
HUNG_FOR_SECONDS = 60.0


def test_readyz_does_not_keep_answering_ok_while_a_check_has_been_hanging_for_a_minute(client, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(readiness, "_clock", lambda: now[0])
    assert client.get("/readyz").status_code == 200  # a healthy run

    querying, answer = threading.Event(), threading.Event()

    def database_not_answering():
        querying.set()
        answer.wait(30)  # a query sent to a server that no longer answers
        raise ConnectionError("server closed the connection unexpectedly")

    monkeypatch.setitem(readiness.CHECKS, "database", database_not_answering)
    now[0] += readiness.READINESS_TTL_SECONDS
    checker = threading.Thread(target=readiness.readiness_findings)  # the request that runs the checks
    checker.start()
    try:
        assert querying.wait(10)
        now[0] += HUNG_FOR_SECONDS
        response = client.get("/readyz")
        assert response.status_code == 503, (
            f"{response.json()} after the database check has been waiting {HUNG_FOR_SECONDS:.0f} s"
        )
    finally:
        answer.set()
        checker.join(10)


def test_readyz_requests_do_not_pile_up_behind_a_first_run_that_hangs(monkeypatch):
    """A node starting while its database does not answer: the first run hangs, and every later /readyz (a load
    balancer's and an orchestrator's probes, or a flood) waits on the lock behind it, one web thread each, until
    the node's threads are all taken and /healthz and every page time out with them."""
    querying, answer = threading.Event(), threading.Event()

    def database_not_answering():
        querying.set()
        answer.wait(30)
        raise ConnectionError("server closed the connection unexpectedly")

    monkeypatch.setitem(readiness.CHECKS, "database", database_not_answering)
    first = threading.Thread(target=readiness.readiness_findings)
    first.start()
    answers: list[dict[str, str]] = []
    later = [threading.Thread(target=lambda: answers.append(readiness.readiness_findings())) for _ in range(4)]
    try:
        assert querying.wait(10)
        for thread in later:
            thread.start()
        for thread in later:
            thread.join(2)
        waiting = sum(thread.is_alive() for thread in later)
        assert waiting == 0, f"{waiting} of {len(later)} /readyz requests still held behind the hung first run"
        assert all(found["database"] != readiness.OK for found in answers)
    finally:
        answer.set()
        first.join(10)
        for thread in later:
            thread.join(10)
