"""Journey 6: a new user runs `make run PORT=…` on a port other than 8000 and uses what it prints.

The real command (migrate, demo data, gunicorn + Celery worker + beat on the embedded defaults) runs
in a folder of its own; the visitor opens the printed demo page and writes, the teammate logs in
with the printed login and password, sees the conversation in the inbox and answers, and the
visitor sees the answer. Nothing is set up by the test but the port and the data folder.
"""

import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.celery]

ROOT = Path(__file__).resolve().parents[2]
# Settings a test run points at its own services; `make run` must work on its embedded defaults.
OWN_SERVICES = ("DATABASE_URL", "CACHE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "VAR_DIR")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MakeRun:
    """`make run PORT=<port>` in the background, its output collected line by line."""

    def __init__(self, port: int, var_dir: Path, **settings: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in OWN_SERVICES} | {"VAR_DIR": str(var_dir), **settings}
        self.lines: list[str] = []
        self.ready = threading.Event()  # "Parley is ready." was printed
        self.banner_done = threading.Event()  # and the banner after it, to its last line
        self.process = subprocess.Popen(  # noqa: S603
            ["make", "run", f"PORT={port}"],  # noqa: S607
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if "Parley is ready." in line:
                self.ready.set()
            if self.ready.is_set() and "Stop with Ctrl-C" in line:
                self.banner_done.set()
        self.ready.set()  # it ended: let the test fail on what it printed
        self.banner_done.set()

    def banner_after_ready(self) -> str:
        assert self.ready.wait(240), "make run printed no ready banner:\n" + "\n".join(self.lines[-40:])
        assert self.process.poll() is None, "make run exited:\n" + "\n".join(self.lines[-40:])
        assert self.banner_done.wait(30), "no banner after the ready line:\n" + "\n".join(self.lines[-40:])
        at = max(i for i, line in enumerate(self.lines) if "Parley is ready." in line)
        return "\n".join(self.lines[at:])

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


@pytest.fixture
def make_run(tmp_path):
    runs: list[MakeRun] = []

    def start(port: int, **settings: str) -> MakeRun:
        runs.append(MakeRun(port, tmp_path / "var", **settings))
        return runs[-1]

    yield start
    for run in runs:
        run.stop()


def test_make_run_on_another_port_serves_a_working_demo_and_admin(make_run, chromium, artifacts):
    port = _free_port()
    assert port != 8000
    run = make_run(port)

    banner = run.banner_after_ready()

    base = f"http://127.0.0.1:{port}"
    admin = re.search(r"Admin:\s+(\S+)\s+login: (\S+)\s+password: (\S+)", banner)
    assert admin, banner
    admin_url, login, password = admin.groups()
    assert admin_url == f"{base}/admin/"
    assert f"Demo page: {base}/demo/" in banner
    assert "Mail:      written to " in banner and "var/mail/" in banner  # where demo mail goes
    assert not any("[ip]" in line for line in run.lines if "Listening at" in line), run.lines

    visitor = chromium.new_context(viewport={"width": 1280, "height": 760})
    teammate = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        shop = visitor.new_page()
        problems: list[str] = []
        shop.on("pageerror", lambda error: problems.append(str(error)))
        shop.on("console", lambda line: problems.append(line.text) if line.type in ("error", "warning") else None)
        shop.goto(f"{base}/demo/")
        shop.locator("parley-messenger button.l").click()
        shop.locator("parley-messenger textarea").fill("Do you ship to Lisbon?")
        shop.keyboard.press("Enter")
        expect(shop.locator("parley-messenger .m.me .bu").last).to_have_text("Do you ship to Lisbon?")

        inbox = teammate.new_page()
        inbox.goto(admin_url)
        inbox.fill("#id_username", login)
        inbox.fill("#id_password", password)
        inbox.click("input[type=submit]")
        inbox.goto(f"{base}/admin/conversations/conversation/")
        row = inbox.locator("#result_list tbody tr", has_text="Do you ship to Lisbon?")
        expect(row).to_have_count(1, timeout=15_000)
        row.locator("a").first.click()
        inbox.locator("textarea[name=body]").fill("Yes, in two days.")
        inbox.get_by_role("button", name="Send reply").click()
        expect(inbox.locator(".parley-part", has_text="Yes, in two days.")).to_be_visible()

        # The messenger polls every 4 seconds and backs off after a poll that timed out: a loaded machine
        # serving web, worker and beat on one SQLite file can take a few rounds. On failure, say what happened.
        reply = shop.locator("parley-messenger .m .bu", has_text="Yes, in two days.")
        try:
            expect(reply).to_be_visible(timeout=45_000)
        except AssertionError as missing:
            raise AssertionError(f"{missing}\nbrowser: {problems}\nserver: {run.lines[-40:]}") from None
        shop.screenshot(path=str(artifacts / "make-run-visitor.png"))
        inbox.screenshot(path=str(artifacts / "make-run-agent.png"))
        assert problems == []
    finally:
        visitor.close()
        teammate.close()


def _celery_worker(run: MakeRun) -> psutil.Process:
    """The Celery worker's main process under `make run` (its prefork children are its own children)."""
    for process in psutil.Process(run.process.pid).children(recursive=True):
        command = process.cmdline()
        if "celery" in command and "worker" in command and "celery" not in process.parent().cmdline():
            return process
    raise AssertionError("no Celery worker under make run")


def _wait_for(condition, what: str, run: MakeRun, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}:\n" + "\n".join(run.lines[-40:])
        time.sleep(0.2)


@pytest.mark.faults
def test_a_killed_worker_is_started_again_and_leaves_nothing_behind(make_run):
    run = make_run(_free_port())
    run.banner_after_ready()
    _wait_for(lambda: any(" ready." in line and "celery@" in line for line in run.lines), "no worker ready", run)
    worker = _celery_worker(run)
    pool = worker.children()
    assert pool, "the worker has no pool processes"
    ready_before = sum(1 for line in run.lines if " ready." in line and "celery@" in line)
    worker.kill()
    _wait_for(lambda: any("The Celery worker stopped (killed by SIGKILL): starting it again." in line for line in run.lines),
              "make run did not say it restarts the worker", run)  # fmt: skip
    _wait_for(lambda: sum(1 for line in run.lines if " ready." in line and "celery@" in line) > ready_before,
              "the worker did not come back", run)  # fmt: skip
    assert run.process.poll() is None  # the web server and make run go on
    assert not any(process.is_running() and process.status() != psutil.STATUS_ZOMBIE for process in pool)
    assert _celery_worker(run).pid != worker.pid


def test_the_admin_says_so_while_the_worker_is_frozen_and_stops_once_it_runs_again(make_run, chromium, artifacts):
    run = make_run(_free_port(), PARLEY_WORKER_LATE_SECONDS="4")
    banner = run.banner_after_ready()
    admin_url, login, password = re.search(r"Admin:\s+(\S+)\s+login: (\S+)\s+password: (\S+)", banner).groups()
    _wait_for(lambda: any(" ready." in line and "celery@" in line for line in run.lines), "no worker ready", run)
    teammate = chromium.new_context(viewport={"width": 1280, "height": 800})
    worker = _celery_worker(run)
    try:
        page = teammate.new_page()
        page.goto(admin_url)
        page.fill("#id_username", login)
        page.fill("#id_password", password)
        page.click("input[type=submit]")
        notice = page.locator("#parley-worker-silent")
        expect(notice).to_have_count(0)
        worker.suspend()  # frozen, as a stuck or stopped worker is: no task runs, nothing says so by itself
        deadline = time.monotonic() + 60
        while not notice.count() and time.monotonic() < deadline:
            time.sleep(1)
            page.reload()
        expect(notice).to_contain_text("No background worker has been heard from")
        page.screenshot(path=str(artifacts / "make-run-worker-silent.png"))
        worker.resume()
        deadline = time.monotonic() + 30
        while notice.count() and time.monotonic() < deadline:
            time.sleep(1)
            page.reload()
        expect(notice).to_have_count(0)
    finally:
        if worker.is_running() and worker.status() == psutil.STATUS_STOPPED:
            worker.resume()
        teammate.close()
