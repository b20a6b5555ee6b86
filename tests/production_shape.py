"""`make run-prod` started for real (gunicorn + Celery worker + one beat, from the Procfile) against
the test's PostgreSQL database and Redis, its output collected line by line for the tests to read.

Only meaningful on PostgreSQL + Redis: `skip_unless_production_backends` skips with the reason.
"""

import contextlib
import http.cookies
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from django.conf import settings

from tests.celery_support import _database_url, _purge_broker

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_SECONDS = 120
STOP_TIMEOUT_SECONDS = 40


def skip_unless_production_backends() -> None:
    """Skip on the embedded run: the production shape needs PostgreSQL, a Redis broker and a Redis cache."""
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("the production shape runs on PostgreSQL (set DATABASE_URL); this run uses SQLite")
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("the production shape runs with a Redis broker (set CELERY_BROKER_URL=redis://…)")
    if settings.CACHES["default"]["BACKEND"] != "common.redis_cache.RedisCache":
        pytest.skip("the production shape runs with a Redis cache (set CACHE_URL=redis://…)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ProductionShape:
    """`make run-prod PORT=…` in its own process group; `stop()` sends Ctrl-C as a terminal would.

    `processes`: which Procfile entries run (a web-only machine: "web"); `extra_env` overrides the
    environment (another DATABASE_URL, a DATABASE_REPLICA_URL…)."""

    def __init__(
        self, var_dir: Path, *, extra_env: dict[str, str] | None = None, processes: str = "web worker beat"
    ) -> None:
        self.processes_run = processes
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.lines: list[str] = []
        self.returncode: int | None = None
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CACHE_URL": os.environ["CACHE_URL"],
            "VAR_DIR": str(var_dir),
            # Production as behind a TLS proxy: HTTPS hardening on, X-Forwarded-Proto believed.
            "BEHIND_PROXY": "true",
            "TRUSTED_PROXIES": "127.0.0.1",
            "PYTHONUNBUFFERED": "1",
            "WEB_CONCURRENCY": "2",
            **(extra_env or {}),
        }
        # DJANGO_ALLOW_ASYNC_UNSAFE: the browser tests' conftest sets it for Playwright in this process;
        # `check --deploy` rightly refuses it in production.
        for test_only in ("HTTPS_ONLY", "PARLEY_INBOUND_EMAIL_REQUIRE_AUTH", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"):
            env.pop(test_only, None)
        self.env = env
        self.last_headers: dict[str, str] = {}
        self._started: list[psutil.Process] = []
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> "ProductionShape":
        _purge_broker()
        self._process = subprocess.Popen(  # noqa: S603 - fixed command line
            ["make", "--no-print-directory", "run-prod", f"PORT={self.port}", f"PROCESSES={self.processes_run}"],  # noqa: S607
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._collect, daemon=True).start()
        try:
            self.wait_until(self._ready, timeout=READY_TIMEOUT_SECONDS, what="/readyz answering 200")
        finally:
            self._started = self.processes()
        return self

    def _collect(self) -> None:
        assert self._process and self._process.stdout
        for line in self._process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def _ready(self) -> bool:
        try:
            return self.get("/readyz")[0] == 200
        except OSError:
            return False

    def request(self, method: str, path: str, *, body: bytes | None = None, headers: dict[str, str] | None = None):
        """(status, parsed JSON or text) of one request, sent as through the TLS proxy."""
        request = urllib.request.Request(  # noqa: S310 - our own local server
            self.base_url + path, data=body, method=method, headers={"X-Forwarded-Proto": "https", **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                status, raw, headers = answer.status, answer.read(), answer.headers
        except urllib.error.HTTPError as error:
            status, raw, headers = error.code, error.read(), error.headers
        self.last_headers = dict(headers.items())
        kind = headers.get("Content-Type", "")
        text = raw.decode()
        return status, (json.loads(text) if kind.startswith("application/json") else text)

    def get(self, path: str, **headers: str):
        return self.request("GET", path, headers=headers)

    def manage(self, *args: str) -> str:
        """`manage.py …` with this shape's environment (its database); returns what it printed."""
        return subprocess.run(  # noqa: S603 - fixed command line
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True, capture_output=True, text=True
        ).stdout

    def process_lines(self, *names: str) -> list[str]:
        """What the named Procfile processes (web, worker, beat) wrote, without honcho's prefix."""
        prefixes = tuple(f"{name}.1" for name in names)
        found = []
        for line in self.lines:
            _, _, rest = line.partition(" ")  # honcho: "HH:MM:SS web.1    | …"
            process, bar, text = rest.partition("| ")
            if bar and process.strip().startswith(prefixes):
                found.append(text)
        return found

    def wait_until(self, condition: Callable[[], bool], *, timeout: float = 60, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            if self._process and self._process.poll() is not None:
                raise AssertionError(f"make run-prod exited ({self._process.returncode}):\n{self.log}")
            time.sleep(0.3)
        raise AssertionError(f"Timed out after {timeout}s waiting for {what}. Output:\n{self.log}")

    def processes(self) -> list[psutil.Process]:
        """make, honcho and every process under them (honcho gives each Procfile entry its own group)."""
        assert self._process
        try:
            root = psutil.Process(self._process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> int:
        """Ctrl-C to make's process group (honcho then sends SIGTERM to web, worker and beat); returns
        make's exit status once every process that ran under it is gone."""
        assert self._process
        self._started = self._started or self.processes()
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGINT)
            try:
                self._process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.kill_leftovers()
                raise AssertionError(
                    f"make run-prod did not stop within {STOP_TIMEOUT_SECONDS}s:\n{self.log}"
                ) from None
        _, alive = psutil.wait_procs(self._started, timeout=STOP_TIMEOUT_SECONDS)
        if alive:
            self.kill_leftovers()
            raise AssertionError(f"still running after make run-prod stopped: {alive}\n{self.log}")
        self.returncode = self._process.returncode
        return self.returncode

    def kill_leftovers(self) -> None:
        """SIGKILL whatever of the run is still alive (a failed test must not leave a worker on the broker)."""
        for process in {*self._started, *self.processes()}:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None  # the caller sees the 302 and the cookies it sets


class AdminSession:
    """A teammate's browser on one web server of a shape: keeps the cookies it is given (the Secure ones
    too: the test speaks http as if behind the TLS proxy) and sends the CSRF token back with forms."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.cookies: dict[str, str] = {}
        self.set_cookie_headers: list[str] = []
        self._opener = urllib.request.build_opener(_NoRedirects)

    def request(self, method: str, path: str, form: list[tuple[str, str]] | None = None) -> tuple[int, str]:
        """(status, body) of one request; redirects are not followed."""
        origin = self.base_url.replace("http://", "https://")
        headers = {"X-Forwarded-Proto": "https", "Origin": origin, "Referer": origin + path}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        data = None
        if form is not None:
            data = urllib.parse.urlencode([*form, ("csrfmiddlewaretoken", self.cookies.get("csrftoken", ""))]).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with self._opener.open(request, timeout=20) as answer:
                status, raw, answer_headers = answer.status, answer.read(), answer.headers
        except urllib.error.HTTPError as error:
            status, raw, answer_headers = error.code, error.read(), error.headers
        for header in answer_headers.get_all("Set-Cookie") or []:
            self.set_cookie_headers.append(header)
            for name, morsel in http.cookies.SimpleCookie(header).items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return status, raw.decode()

    def get(self, path: str) -> tuple[int, str]:
        return self.request("GET", path)

    def post(self, path: str, form: list[tuple[str, str]]) -> tuple[int, str]:
        return self.request("POST", path, form)

    def log_in(self, username: str, password: str) -> "AdminSession":
        self.get("/admin/login/")
        status, page = self.post("/admin/login/", [("username", username), ("password", password), ("next", "/admin/")])
        assert status == 302, f"login refused ({status}): {page[:2000]}"
        return self
