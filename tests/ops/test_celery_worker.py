import pytest

from ops.tasks import worker_heartbeat


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_consumes_tasks_from_the_configured_broker(celery_worker_factory):
    worker = celery_worker_factory()
    result = worker_heartbeat.delay()
    worker.wait_for_log(f"Task ops.tasks.worker_heartbeat[{result.id}] succeeded", timeout=60)
