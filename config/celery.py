"""Celery app `config.celery:app`, configured from Django settings (CELERY_ namespace)."""

import contextlib
import gc
import os
import sys
import time
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import beat_init, setup_logging, worker_init, worker_process_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

if Path(sys.argv[0]).name == "celery" or sys.argv[0].endswith(os.path.join("celery", "__main__.py")):
    # The celery command reads settings while parsing its options: refuse a production install
    # without a strong SECRET_KEY there with one clear line, as manage.py and gunicorn do.
    from config.production import load_settings_or_refuse

    load_settings_or_refuse()

app = Celery("parley")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def use_django_logging(**_: object) -> None:
    """Celery's processes log through Django's LOGGING (JSON with request ids in production)."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


@beat_init.connect
def one_beat(**_: object) -> None:
    """A beat schedules only while it holds the beat lock; a second one waits (config/beat_lock.py)."""
    from config.beat_lock import beat_lock_wait

    beat_lock_wait()


@worker_ready.connect
@worker_process_init.connect
def loaded_code_out_of_gc_sight(**_: object) -> None:
    """A worker's (or pool process's) loaded code and data leave the garbage collector's sight once it is up: a
    full collection walks only what its tasks made since (as the web workers, config/gunicorn.py)."""
    gc.freeze()


@worker_ready.connect
def heard_from(**_: object) -> None:
    """The admin knows a worker runs (ops.worker_heartbeat)."""
    from ops.worker_heartbeat import worker_heartbeat_start

    worker_heartbeat_start()


@worker_init.connect
def pool_shutdown_tolerates_cut_messages(**_: object) -> None:
    """A worker's warm shutdown empties its pool processes' task queues (AsynPool._help_stuff_finish); a queue left
    holding a cut message (nothing to unpickle) raised EOFError there, and Python printed the traceback outside
    logging (seen under load, about one stop in ten). The same draining, with such a queue counted as empty."""
    from celery.concurrency import asynpool

    asynpool.AsynPool._help_stuff_finish = classmethod(_pool_queues_drained)


def _pool_queues_drained(cls: type, pool: Any) -> None:
    """Celery 5.6's AsynPool._help_stuff_finish, but a queue that yields a cut message is done with, not an error."""
    from celery.concurrency.asynpool import _select

    readers = {}
    for process in pool:
        with contextlib.suppress(OSError):
            readers[process.inq._reader.fileno()] = process.inq._reader
    while readers:
        readable, _, again = _select(set(readers), timeout=0.5)
        if again:
            continue
        if not readable:
            break
        for fd in readable:
            try:
                readers[fd].recv()
            except (EOFError, OSError):
                del readers[fd]  # shutting down: what it held is dropped, as upstream drops what it reads
        time.sleep(0)
