"""Two Parley web servers run by one user (two installs, `make run` beside a benchmark, parallel test servers)
do not share anything per user: gunicorn's control socket (~/.gunicorn/gunicorn.ctl by default since 25.1),
which each would take over from the other, is off in config/gunicorn.py, the file every start uses."""

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
# Ports of this test's own two servers.
PORTS = (8836, 8837)


def _start(port: int, *, home: Path, var_dir: Path, log: Path) -> subprocess.Popen:
    """As the Procfile, `manage.py serve`, the Dockerfile and the benchmarks start the web server."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "XDG_RUNTIME_DIR")}
    env.update(HOME=str(home), VAR_DIR=str(var_dir), WEB_CONCURRENCY="1", ACCESS_LOG="0", HTTPS_ONLY="false")
    with log.open("w") as output:
        return subprocess.Popen(  # noqa: S603 - fixed command line
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "--bind", f"127.0.0.1:{port}", "config.wsgi"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _wait_until_it_answers(port: int, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while not _answers(port):
        assert server.poll() is None, f"gunicorn on {port} exited:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"gunicorn on {port} did not answer:\n{log.read_text()}"
        time.sleep(0.2)


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
def servers(tmp_path):
    started: list[subprocess.Popen] = []
    yield started
    for server in started:
        _stop(server)


def test_two_servers_of_one_user_both_run_without_a_shared_control_socket(tmp_path, servers):
    home = tmp_path / "home"  # the user's home, shared by both (as for one user running two installs)
    home.mkdir()
    logs = [tmp_path / f"gunicorn-{port}.log" for port in PORTS]
    for index, (port, log) in enumerate(zip(PORTS, logs, strict=True)):
        var_dir = tmp_path / f"var-{index}"
        var_dir.mkdir()
        servers.append(_start(port, home=home, var_dir=var_dir, log=log))
    for port, server, log in zip(PORTS, servers, logs, strict=True):
        _wait_until_it_answers(port, server, log)

    assert list(home.rglob("*")) == []  # no ~/.gunicorn/gunicorn.ctl for the two to take from each other
    _stop(servers[1])
    assert _answers(PORTS[0])  # the first goes on when the second stops
    output = "\n".join(log.read_text() for log in logs)
    assert "control socket" not in output.lower()


def _signal_mask(pid: int) -> str:
    return next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("SigIgn"))


def _ignores_sigint(pid: int) -> bool:
    import signal

    return bool(int(_signal_mask(pid).split()[1], 16) & (1 << (signal.SIGINT - 1)))


def test_ctrl_c_on_the_process_group_stops_every_worker_and_frees_the_port(tmp_path):
    """Ctrl-C reaches the master and its workers at once; the master stops the workers itself. A gthread worker
    that handled both entered its quit twice and could hang in ThreadPoolExecutor.shutdown, keeping the port (a
    new-user walk: 2 stops in 3 with a messenger open). Workers leave SIGINT to the master (config/gunicorn.py)."""
    import http.client
    import signal

    port, log = 8838, tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "XDG_RUNTIME_DIR")}
    env.update(
        HOME=str(tmp_path), VAR_DIR=str(tmp_path / "var"), WEB_CONCURRENCY="2", ACCESS_LOG="0", HTTPS_ONLY="false"
    )
    with log.open("w") as output:
        server = subprocess.Popen(  # noqa: S603 - fixed command line
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "--bind", f"127.0.0.1:{port}", "config.wsgi"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        _wait_until_it_answers(port, server, log)
        workers = [int(pid) for pid in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()]
        assert len(workers) == 2
        # SIGINT (2) is ignored: bit 1 of the SigIgn mask, once each worker finished booting (one may answer before the
        # other ran post_worker_init).
        deadline = time.monotonic() + 30
        while not all(_ignores_sigint(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(_ignores_sigint(pid) for pid in workers), [_signal_mask(pid) for pid in workers]
        kept_alive = http.client.HTTPConnection("127.0.0.1", port, timeout=5)  # a browser's open connection
        kept_alive.request("GET", "/healthz")
        kept_alive.getresponse().read()
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a worker still running: its threads' stacks are in the log by now
            pytest.fail(f"gunicorn still ran 30 s after Ctrl-C:\n{log.read_text()}")
        deadline = time.monotonic() + 15
        while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()], log.read_text()
        assert not _answers(port)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


# The worker's quit, as the master's SIGQUIT reaches it while its main thread is inside the thread pool's submit,
# holding the pool's shutdown lock (it starts a thread for a new connection there): the lock is taken here directly,
# the one way to hold that instant still.
_QUIT_DURING_SUBMIT = """
import os, signal, time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from config.gunicorn_worker import ThreadWorker
worker = ThreadWorker.__new__(ThreadWorker)
worker.tpool = ThreadPoolExecutor(max_workers=1)
worker.cfg = SimpleNamespace(worker_int=lambda worker: None)
signal.signal(signal.SIGQUIT, worker.handle_quit)
with worker.tpool._shutdown_lock:
    os.kill(os.getpid(), signal.SIGQUIT)
    time.sleep(20)
print("still running")
"""


def test_a_worker_told_to_quit_while_it_hands_a_connection_to_a_thread_exits():
    """gunicorn's own gthread worker shut its pool down in the signal handler and waited for a lock its own main
    thread held, forever (CPython #121649): a CI run's Ctrl-C left it holding the port."""
    run = subprocess.run(  # noqa: S603 - fixed command line
        [sys.executable, "-c", _QUIT_DURING_SUBMIT], cwd=ROOT, capture_output=True, text=True, timeout=15, check=False
    )
    assert (run.returncode, run.stdout) == (0, ""), run.stderr
