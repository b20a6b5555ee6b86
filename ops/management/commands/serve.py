import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server (gunicorn) and one Celery worker with embedded beat, until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1:8000")

    def handle(self, *args, **options):
        python = sys.executable
        web = [python, "-m", "gunicorn", "-c", "config/gunicorn.py", "--bind", options["bind"], "config.wsgi"]
        worker = [
            python, "-m", "celery", "-A", "config.celery:app", "worker", "--beat", "--loglevel", "INFO",
            "--concurrency", "2", "--schedule", str(settings.VAR_DIR / "celerybeat-schedule"),
        ]  # fmt: skip
        if settings.CELERY_BROKER_IS_FILESYSTEM:
            worker += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        processes = [subprocess.Popen(command) for command in (web, worker)]  # noqa: S603 - fixed commands

        def stop(*_: object) -> None:
            for process in processes:
                if process.poll() is None:
                    process.terminate()

        signal.signal(signal.SIGTERM, stop)
        try:
            while all(process.poll() is None for process in processes):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            stop()
            for process in processes:
                process.wait(timeout=30)
        failed = [p.returncode for p in processes if p.returncode not in (0, -signal.SIGTERM, -signal.SIGINT)]
        if failed:
            sys.exit(1)
