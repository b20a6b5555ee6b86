import contextlib
import ctypes
import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.production import RefusedSettings, process_count, refuse
from ops.demo import demo_banner

READY_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 15
# A process that ended on its own is started again; one that keeps ending this soon after its start (a broken
# set-up, a port taken) is given up after this many tries, and everything stops with the reason.
QUICK_EXIT_SECONDS = 10
QUICK_EXITS_MAX = 5
_PR_SET_PDEATHSIG = 1
try:  # resolved here, not in the forked child (a lookup there could wait on a lock another thread held)
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: no signal when serve dies
    _prctl = None


def _refuse_a_taken_address(bind: str) -> None:
    """Stop before starting anything when the address is taken (another Parley, most often): its web server would
    answer this one's "ready" check, while a second worker and beat ran on the same data until the web server gave
    up. A bind that cannot be read is left to gunicorn, which says why."""
    host, _, port = bind.rpartition(":")
    if not port.isascii() or not port.isdigit():
        return
    with contextlib.closing(socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn: a closed server's TIME_WAIT is free
        try:
            probe.bind((host.strip("[]") or "0.0.0.0", int(port)))  # noqa: S104 - as gunicorn would bind
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise CommandError(
                    f"{bind} is already in use (another Parley?): stop it, or serve on another port "
                    "(make run PORT=8010)."
                ) from None


def _in_own_group_dying_with_us() -> None:
    """In the child, before exec: its own process group (so that its leftovers can be stopped as one, and a
    Ctrl-C reaches `serve` only, which stops everything in order) and a SIGTERM if `serve` itself dies."""
    os.setpgid(0, 0)
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class _Child:
    """One supervised process: its command, its name in messages, the process now running it."""

    def __init__(self, name: str, command: list[str]) -> None:
        self.name, self.command = name, command
        self.quick_exits = 0
        self.start()

    def start(self) -> None:
        self.started = time.monotonic()
        self.process = subprocess.Popen(self.command, preexec_fn=_in_own_group_dying_with_us)  # noqa: S603

    def stop_leftovers(self) -> None:
        """What it left behind (a prefork child of a killed Celery worker) goes with it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


def _ended(returncode: int) -> str:
    return f"killed by {signal.Signals(-returncode).name}" if returncode < 0 else f"exit code {returncode}"


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
        _refuse_a_taken_address(options["bind"])
        # gunicorn reads WEB_CONCURRENCY itself, before Parley's config: "four" stopped it with a traceback, and serve
        # started it again five times over. Said once, here.
        for name in ("WEB_CONCURRENCY", "WEB_THREADS"):
            try:
                process_count(name, 1)
            except RefusedSettings as error:
                refuse(error)
        python = sys.executable
        web = [python, "-m", "gunicorn", "-c", "config/gunicorn.py", "--bind", options["bind"], "config.wsgi"]
        worker = [
            python, "-m", "celery", "-A", "config.celery:app", "worker", "--beat", "--loglevel", "INFO",
            "--concurrency", "2", "--schedule", str(settings.VAR_DIR / "celerybeat-schedule"),
        ]  # fmt: skip
        if settings.CELERY_BROKER_IS_FILESYSTEM:
            worker += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        children = [_Child("The web server", web), _Child("The Celery worker", worker)]
        # The set-up banner has scrolled away under the logs by now: say it again once the web answers.
        threading.Thread(target=self._banner_when_ready, args=(options["bind"],), daemon=True).start()

        stopping = threading.Event()

        def stop(*_: object) -> None:
            stopping.set()
            for child in children:
                if child.process.poll() is None:
                    child.process.terminate()  # its main process, which stops its own children in order

        signal.signal(signal.SIGTERM, stop)
        failed = False
        try:
            while not failed and not stopping.is_set():
                time.sleep(0.5)
                for child in children:
                    if child.process.poll() is not None and not stopping.is_set():
                        failed = not self._restart(child)
        except KeyboardInterrupt:
            pass
        finally:
            stop()
            for child in children:
                try:
                    child.process.wait(timeout=STOP_TIMEOUT_SECONDS)
                except subprocess.TimeoutExpired:
                    # A worker stuck in its warm shutdown (a held countdown task) must not outlive make run.
                    child.process.kill()
                    child.process.wait()
                child.stop_leftovers()
        if failed:
            sys.exit(1)

    def _restart(self, child: _Child) -> bool:
        """Start again a process that ended on its own, saying so; False when it keeps ending at once."""
        child.stop_leftovers()
        ended = _ended(child.process.returncode)
        quick = time.monotonic() - child.started < QUICK_EXIT_SECONDS
        child.quick_exits = child.quick_exits + 1 if quick else 0
        if child.quick_exits >= QUICK_EXITS_MAX:
            self.stderr.write(
                f"\n  {child.name} stopped ({ended}) {QUICK_EXITS_MAX} times within seconds of starting: stopping "
                "Parley. Its log above says why.\n"
            )
            return False
        self.stderr.write(f"\n  {child.name} stopped ({ended}): starting it again.\n")
        child.start()
        return True
