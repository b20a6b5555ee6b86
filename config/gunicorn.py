"""Gunicorn settings: no client address or query string in any log line, on purpose."""

import faulthandler
import gc
import json
import os
import signal
from typing import Any

from django.conf import settings
from gunicorn import glogging
from gunicorn import util as gunicorn_util

from config.production import RefusedSettings, load_settings_or_refuse, process_count, refuse

# In the master, before any worker forks: a production install without a strong SECRET_KEY stops
# here with one line and exit status 78, instead of every worker failing to boot in a loop.
load_settings_or_refuse()

bind = os.environ.get("BIND", "127.0.0.1:8000")
# Embedded (SQLite, one writer): two workers. Production: one worker per CPU this process may run on (a
# container's CPU set, not the host's), at least two, each with WEB_THREADS threads; WEB_CONCURRENCY overrides
# either. Not gunicorn's 2 * cores + 1, a rule for its sync workers: a gthread worker's threads already wait on
# Redis and PostgreSQL for each other, and the extra processes only took turns on the same cores. On 2 cores,
# 2 workers served 25-40% more widget pings per second than 5, at a quarter less CPU per ping
# (docs/scaling.md, "Web workers").
_default_workers = 2 if "DATABASE_URL" not in os.environ else max(2, len(os.sched_getaffinity(0)))


def _count(name: str, default: int) -> int:
    """A positive whole number from the environment (unset or empty: `default`), else the same one-line refusal as
    the settings' (exit 78)."""
    try:
        return process_count(name, default)
    except RefusedSettings as error:
        refuse(error)


workers = _count("WEB_CONCURRENCY", _default_workers)
threads = _count("WEB_THREADS", 4)
# gunicorn's gthread worker, whose quit cannot deadlock on its thread pool (config/gunicorn_worker.py).
worker_class = "config.gunicorn_worker.ThreadWorker"
# gunicorn 25.1+ opens a control socket (for `gunicornc`) at one path per user, ~/.gunicorn/gunicorn.ctl:
# a second Parley, a benchmark or a test server run by the same user would take it over, and the first
# to stop deletes it under the other. Parley does not use it (signals reload and resize: HUP, TTIN, TTOU).
# Older gunicorns ignore the name.
control_socket_disable = True
accesslog = "-" if os.environ.get("ACCESS_LOG", "1") == "1" else None


def post_worker_init(worker: Any) -> None:
    """A worker leaves Ctrl-C to the master. The terminal's SIGINT reaches the whole process group and the master
    then stops the workers itself (SIGQUIT): a worker handling both entered its quit twice, the second inside the
    first (see also config/gunicorn_worker.py).

    Then what the worker loaded (Django, the apps, the models) leaves the garbage collector's sight: it lives as
    long as the worker, and each full collection walked all of it again (~0.2 s of CPU, every few thousand first
    visits). See gc.freeze."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.freeze()


def worker_int(worker: Any) -> None:
    """A worker told to quit at once (the master's SIGQUIT after a Ctrl-C) exits within a moment. Should it still run
    ten seconds later, its threads' stacks go to the log: a rare hang kept one alive until the master's graceful
    timeout, and where it waits is what fixes it."""
    faulthandler.dump_traceback_later(10, exit=False)


class Logger(glogging.Logger):
    """Gunicorn's logger, with ACCESS_LOG=0 meaning no access log: gunicorn logs every request
    whenever logconfig_dict is set (below), whatever `accesslog` says."""

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if self.cfg.accesslog:
            super().access(resp, req, environ, request_time)


logger_class = Logger
# No client address (%(h)s) and no query string (%(r)s would log widget tokens and secrets).
access_log_format = '"%(m)s %(U)s" %(s)s %(b)s %(M)sms'
forwarded_allow_ips = os.environ.get("TRUSTED_PROXIES", "127.0.0.1")

# Gunicorn's own error log names the client address of malformed requests ("Invalid request from
# ip=…"); the same filter as Django's logging replaces every IP address with [ip]. Production logs
# are JSON lines with the request id, as Django's and Celery's (config/log_format.py).
_format = settings.LOG_FORMAT
_formatter = {
    "plain": {"format": "%(asctime)s [%(process)d] %(levelname)s %(message)s"},
    "json": settings.LOG_FORMATTERS["json"],
}[_format]
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": settings.LOG_FILTERS,
    "formatters": {_format: _formatter},
    "handlers": {
        name: {"class": "logging.StreamHandler", "formatter": _format, "filters": ["request_id", "no_ip"]}
        for name in ("error_console", "console")
    },
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
    },
}


def child_exit(server: Any, worker: Any) -> None:
    """A worker that exits leaves its /metrics counts to be added up by the others (multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


# What gunicorn refuses before Parley sees the request, by status: the part of the request each names.
_REFUSED_FIELDS = {414: "url", 431: "headers"}


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's answer to a request it refuses itself (a request line over its limit: 414; header fields too large:
    431; a malformed line or header: 400) as JSON, the shape of Parley's own refusals, not gunicorn's HTML page: a
    widget or API client reads every refusal the same way. Set as gunicorn.util.write_error (below), which gunicorn's
    workers call for exactly these answers."""
    error = {"code": reason.lower().replace(" ", "_"), "field": _REFUSED_FIELDS.get(status_int, "request")}
    error["message"] = f"{reason}: {mesg[:200]}" if mesg else reason  # gunicorn's words may quote the request
    body = json.dumps({"error": error}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"X-Content-Type-Options: nosniff\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)


gunicorn_util.write_error = write_json_error
