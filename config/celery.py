"""Celery app `config.celery:app`, configured from Django settings (CELERY_ namespace)."""

import gc
import os
import sys
from pathlib import Path

from celery import Celery
from celery.signals import beat_init, setup_logging, worker_process_init, worker_ready

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
