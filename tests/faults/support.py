"""Services a fault test controls: a private redis-server, a TCP proxy that can cut a connection
path, the real web server (gunicorn) on the test database, and a little steady load."""

import http.client
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from django.conf import settings

from tests.celery_support import ROOT, _database_url

READY_TIMEOUT_SECONDS = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition: Callable[[], bool], *, timeout: float = 15, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"Timed out after {timeout}s waiting for {what}")


class RedisServer:
    """A private redis-server on a free port, stopped and started again on the same port."""

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server is not installed")
        self.port = free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="parley-redis-"))
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> "RedisServer":
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--dir", str(self._dir), "--logfile", str(self._dir / "redis.log")]
        self._process = subprocess.Popen(command)  # noqa: S603 - fixed command line
        wait_until(self.answers, timeout=READY_TIMEOUT_SECONDS, what=f"redis-server on port {self.port}")
        return self

    def answers(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.2, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        """SIGKILL: the abrupt end a crash or an OOM kill gives (nothing saved, connections reset)."""
        if self._process and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def freeze(self) -> None:
        """SIGSTOP: a hung Redis, as its clients see it (connections accepted by the kernel, nothing answered)."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)


class TcpProxy:
    """Forwards a local port to `upstream`; `cut()` drops every connection and refuses new ones
    (a network partition or a dead server, as the client sees it) until `restore()`; `hold_replies()`
    passes requests on at once but keeps the server's replies until `release_replies()` (a server that ran
    a command but answered late: a fork, a stop between running and answering, another client's slow command)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._holding = threading.Event()
        self.restore()

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def hold_replies(self) -> None:
        self._holding.set()

    def release_replies(self) -> None:
        self._holding.clear()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for end in pair:
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()

    def close(self) -> None:
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, server))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        ends = [client, server]
        held: list[bytes] = []
        try:
            while True:
                readable, _, _ = select.select(ends, [], [], 0.05)
                if held and not self._holding.is_set():
                    client.sendall(b"".join(held))
                    held.clear()
                for end in readable:
                    chunk = end.recv(65536)
                    if not chunk:
                        return
                    if end is server and (held or self._holding.is_set()):
                        held.append(chunk)
                    else:
                        (server if end is client else client).sendall(chunk)
        except (OSError, ValueError):
            return
        finally:
            for end in ends:
                with suppress(OSError):
                    end.close()


class WebServer:
    """gunicorn (config/gunicorn.py) on the test database: the production web stack."""

    def __init__(self, *, extra_env: dict[str, str]) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "VAR_DIR": str(settings.VAR_DIR),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "SECRET_KEY": settings.SECRET_KEY,
            "HTTPS_ONLY": "false",
            "WEB_CONCURRENCY": "1",
            "WEB_THREADS": "4",
            "ACCESS_LOG": "0",
            "PYTHONUNBUFFERED": "1",
            # The load comes from one address and a few contacts: rate limits are not under test here.
            "PARLEY_WIDGET_RATE_PER_IP": "1000000",
            "PARLEY_WIDGET_RATE_PER_CONTACT": "1000000",
            **extra_env,
        }
        command = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "--bind", f"127.0.0.1:{self.port}"]
        self.log_lines: list[str] = []
        self._process = subprocess.Popen(  # noqa: S603 - fixed command line
            [*command, "config.wsgi"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        threading.Thread(target=self._collect_log, daemon=True).start()
        wait_until(lambda: self.request("GET", "/healthz").status == 200, timeout=60, what="gunicorn to answer")

    def _collect_log(self) -> None:
        assert self._process.stdout
        for line in self._process.stdout:
            self.log_lines.append(line.rstrip())

    def request(self, method: str, path: str, body: dict | None = None, headers: dict | None = None) -> "Answer":
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            payload = None if body is None else json.dumps(body)
            connection.request(method, path, payload, headers or {})
            response = connection.getresponse()
            return Answer(response.status, dict(response.getheaders()), response.read())
        except OSError:
            return Answer(0, {}, b"")
        finally:
            connection.close()

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Load:
    """Answers seen per phase ("up", "down", "back"), with a sample of each non-200 answer."""

    phase: str = "up"
    statuses: dict[str, Counter] = field(default_factory=dict)
    samples: dict[tuple[str, str, int], Answer] = field(default_factory=dict)
    stopping: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, phase: str, name: str, answer: Answer) -> None:
        with self._lock:
            self.statuses.setdefault(phase, Counter())[(name, answer.status)] += 1
            if answer.status != 200:
                self.samples.setdefault((phase, name, answer.status), answer)

    def count(self, phase: str, *, name: str | None = None, status: int | None = None) -> int:
        with self._lock:
            seen = list(self.statuses.get(phase, Counter()).items())
        return sum(
            n
            for (seen_name, seen_status), n in seen
            if (name is None or seen_name == name) and (status is None or seen_status == status)
        )

    def wait_for(self, phase: str, requests: int, *, timeout: float = 20, **match: object) -> None:
        try:
            wait_until(lambda: self.count(phase, **match) >= requests, timeout=timeout)  # type: ignore[arg-type]
        except AssertionError:
            raise AssertionError(f"{requests} answers {match} in phase {phase!r}? Seen: {self.statuses}") from None

    def statuses_seen(self) -> set[int]:
        with self._lock:
            return {status for counter in self.statuses.values() for (_, status) in counter}


@contextmanager
def steady_load(make_calls: Callable[[], dict[str, Callable[[str], Answer]]], *, clients: int = 4) -> Iterator[Load]:
    """`clients` threads, each with its own calls (e.g. its own visitor), making them in turn until
    the block ends; every call is told the phase it runs in and recorded under it."""
    load = Load()

    def client() -> None:
        calls = make_calls()
        while not load.stopping:
            for name, call in calls.items():
                phase = load.phase
                try:
                    answer = call(phase)
                except Exception as error:  # recorded, so that a test sees it instead of a stalled thread
                    answer = Answer(-1, {}, repr(error).encode())
                load.record(phase, name, answer)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield load
    finally:
        load.stopping = True
        for thread in threads:
            thread.join(timeout=15)


class SmtpServer:
    """A minimal SMTP server that records each message's recipients and can stall: after
    `stall_after` messages it withholds the reply to the next DATA (a send hangs mid-batch)."""

    def __init__(self, *, stall_after: int | None = None) -> None:
        self.port = free_port()
        self.stall_after = stall_after
        self.recipients: list[list[str]] = []
        self.released = threading.Event()
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def received(self) -> int:
        with self._lock:
            return len(self.recipients)

    def release(self) -> None:
        self.stall_after = None
        self.released.set()

    def close(self) -> None:
        self.release()
        with suppress(OSError):
            self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        reader = client.makefile("rb")
        try:
            client.sendall(b"220 parley-test ESMTP\r\n")
            rcpts: list[str] = []
            for raw in reader:
                command = raw.decode("latin-1").strip()
                verb = command[:4].upper()
                if verb in ("EHLO", "HELO"):
                    client.sendall(b"250 parley-test\r\n")
                elif verb == "MAIL":
                    rcpts = []
                    client.sendall(b"250 OK\r\n")
                elif verb == "RCPT":
                    rcpts.append(command.split(":", 1)[1].strip().strip("<>"))
                    client.sendall(b"250 OK\r\n")
                elif verb == "DATA":
                    client.sendall(b"354 End with .\r\n")
                    for line in reader:
                        if line in (b".\r\n", b".\n"):
                            break
                    with self._lock:
                        self.recipients.append(rcpts)
                        stall = self.stall_after is not None and len(self.recipients) > self.stall_after
                    if stall:
                        self.released.wait(60)
                    client.sendall(b"250 Queued\r\n")
                elif verb == "QUIT":
                    client.sendall(b"221 Bye\r\n")
                    return
                else:
                    client.sendall(b"250 OK\r\n")
        except OSError:
            return
        finally:
            with suppress(OSError):
                client.close()
