"""Production log lines: one JSON object per line, each with the request id.

The request id comes from django-guid: its middleware takes a valid `X-Request-ID` from the proxy or
makes one, answers with it, and its Celery integration carries it in the headers of every task the
request queues, so a task's lines share the id of the request that scheduled it (tasks that beat
sends get one of their own). IP addresses are replaced by [ip] in the whole line, tracebacks
included (config/log_filters.py); no field holds a client address, a query string or a body.
"""

import logging
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter

from config.log_filters import SERVER_ADDRESS_LINES, redact

JSON_FIELDS = "%(levelname)s %(name)s %(process)d %(message)s %(request_id)s %(task_id)s"
# Celery passes a task's arguments and return value as `extra={"data": …}`: never written out.
LEFT_OUT_ATTRIBUTES = [*RESERVED_ATTRS, "data"]
RENAMED_FIELDS = {"levelname": "level", "name": "logger"}
# gunicorn's access log atom for the response header django-guid sets (gunicorn lowercases names).
ACCESS_LOG_REQUEST_ID_ATOM = "{x-request-id}o"


class JsonFormatter(BaseJsonFormatter):
    """python-json-logger's formatter with an ISO `time` field and IP addresses redacted."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", JSON_FIELDS)
        kwargs.setdefault("rename_fields", RENAMED_FIELDS)
        kwargs.setdefault("timestamp", "time")
        kwargs.setdefault("reserved_attrs", LEFT_OUT_ATTRIBUTES)
        super().__init__(*args, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        return line if record.getMessage().startswith(SERVER_ADDRESS_LINES) else redact(line)


class RequestId(logging.Filter):
    """Sets `record.request_id` (django-guid's id of the request or task under way, else None) and
    `record.task_id` (the Celery task a line is about, else None).

    gunicorn's access lines are written after Django has answered, outside its context: their id is
    read from the response's X-Request-ID header among the access log atoms. Celery's "received"
    line is written before the task runs: it has the task id only, which joins it to the task's lines.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        from celery import current_task
        from django_guid import get_guid

        data = getattr(record, "data", None)
        task_id = data.get("id") if isinstance(data, dict) else None
        if task_id is None and current_task:
            task_id = current_task.request.id
        record.task_id = task_id
        request_id = get_guid()
        if request_id is None and isinstance(record.args, dict):
            request_id = record.args.get(ACCESS_LOG_REQUEST_ID_ATOM) or None
            if request_id == "-":
                request_id = None
        record.request_id = request_id
        return True
