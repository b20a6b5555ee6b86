"""A Celery worker keeps consuming after its broker connection is lost: Redis restarted under it,
or RabbitMQ closing its connections."""

import shutil
import subprocess
import uuid

import pytest
from kombu import Connection

from ops.tasks import worker_heartbeat
from tests.faults.support import RedisServer, wait_until

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/"
RABBITMQ_VHOST = "parley_faults"
SUCCEEDED = "Task ops.tasks.worker_heartbeat[{}] succeeded"


def _send_heartbeat(broker_url: str, **options) -> str:
    """Send one task through `broker_url`, retrying while the broker is still coming back."""
    with Connection(broker_url) as connection:
        result = worker_heartbeat.apply_async(
            connection=connection, retry=True, retry_policy={"max_retries": 20, "interval_start": 0.2}, **options
        )
    return result.id


def _assert_consumes_across(worker_factory, broker_url: str, lose_connection) -> None:
    worker = worker_factory(extra_env={"CELERY_BROKER_URL": broker_url})
    worker.wait_for_log(SUCCEEDED.format(_send_heartbeat(broker_url)))
    # A task the worker holds unacknowledged when the connection goes (like the page-view flush,
    # always sent a second ahead): the loss must give it back to the broker, not end the worker.
    held = _send_heartbeat(broker_url, countdown=20)
    worker.wait_for_log(f"Task ops.tasks.worker_heartbeat[{held}] received")
    lose_connection(worker)
    # The worker notices, reconnects and consumes again; a task sent after the loss runs.
    task_id = _send_heartbeat(broker_url)
    worker.wait_for_log(SUCCEEDED.format(task_id), timeout=25)
    assert "Unrecoverable error" not in worker.log


@pytest.mark.faults
@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_worker_consumes_again_after_its_redis_broker_restarts(celery_worker_factory):
    redis_server = RedisServer().start()
    try:

        def restart(worker) -> None:
            redis_server.restart()
            worker.wait_for_log("Connection to broker lost", timeout=15)

        _assert_consumes_across(celery_worker_factory, redis_server.url(0), restart)
    finally:
        redis_server.close()


def _rabbitmqctl(*args: str) -> str:
    return subprocess.run(  # noqa: S603 - fixed command line, rabbitmqctl from PATH
        ["rabbitmqctl", "-q", *args],  # noqa: S607
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout


@pytest.fixture
def rabbitmq_vhost():
    """A vhost of the test's own on the shared RabbitMQ: closing its connections touches nobody else."""
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed")
    vhost = f"{RABBITMQ_VHOST}_{uuid.uuid4().hex[:8]}"
    try:
        _rabbitmqctl("add_vhost", vhost)
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        pytest.skip(f"RabbitMQ is not manageable here: {error}")
    yield vhost
    _rabbitmqctl("delete_vhost", vhost)


def _close_vhost_connections(vhost: str) -> int:
    """Close every connection of `vhost` (only those), as a RabbitMQ restart or a network cut would."""
    names = [
        line
        for line in _rabbitmqctl("list_connections", "--no-table-headers", "-p", vhost, "pid").splitlines()
        if line.strip()
    ]
    closed = 0
    for name in names:
        try:
            _rabbitmqctl("close_connection", name.strip(), "Parley fault test")
            closed += 1
        except subprocess.CalledProcessError:  # gone in between (a sender's short-lived connection)
            continue
    return closed


@pytest.mark.faults
@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_worker_consumes_again_after_rabbitmq_closes_its_connections(rabbitmq_vhost, celery_worker_factory):
    broker_url = f"{RABBITMQ_URL}{rabbitmq_vhost}"

    def close_connections(worker) -> None:
        wait_until(lambda: _close_vhost_connections(rabbitmq_vhost) > 0, what="the worker's connections")
        worker.wait_for_log("Connection to broker lost", timeout=15)

    _assert_consumes_across(celery_worker_factory, broker_url, close_connections)
