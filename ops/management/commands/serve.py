import signal
import subprocess
import sys
import threading
import time
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand

from ops.demo import demo_banner

READY_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 15


class Command(BaseCommand):
    help = "Run the web server (gunicorn) and one Celery worker with embedded beat, until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1:8000")

    def _banner_when_ready(self, bind: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://{bind}/healthz", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            return
        self.stdout.write("\n  Parley is ready.")
        for line in demo_banner():
            self.stdout.write(line)
        self.stdout.write("  Stop with Ctrl-C.\n")

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
        # The set-up banner has scrolled away under the logs by now: say it again once the web answers.
        threading.Thread(target=self._banner_when_ready, args=(options["bind"],), daemon=True).start()

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
                try:
                    process.wait(timeout=STOP_TIMEOUT_SECONDS)
                except subprocess.TimeoutExpired:
                    # A worker stuck in its warm shutdown (a held countdown task) must not outlive make run.
                    process.kill()
                    process.wait()
        stopped = (0, -signal.SIGTERM, -signal.SIGINT, -signal.SIGKILL)
        failed = [p.returncode for p in processes if p.returncode not in stopped]
        if failed:
            sys.exit(1)
