"""The web server's worker: gunicorn's gthread worker, quitting without taking its thread pool's lock."""

from typing import Any

from gunicorn.workers.base import Worker
from gunicorn.workers.gthread import ThreadWorker as GunicornThreadWorker


class ThreadWorker(GunicornThreadWorker):
    """gunicorn's gthread worker, whose quit (the master's SIGQUIT after a Ctrl-C) is the base worker's.

    gthread's own quit calls ThreadPoolExecutor.shutdown inside the signal handler. The handler runs in the main
    thread, which may be inside the pool's submit, holding the pool's (non-reentrant) shutdown lock while it starts a
    thread for a new connection: shutdown then waits for that lock forever, and the worker kept the port until the
    master killed it 30 s later (seen in CI, CPython #121649). The pool needs no shutdown here: the worker exits, and
    Python's exit ends the pool's idle threads itself."""

    def handle_quit(self, sig: int, frame: Any) -> None:
        Worker.handle_quit(self, sig, frame)
