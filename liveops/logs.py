"""Log records that say which request or Celery task they belong to.

A request keeps the id its proxy sent in `X-Request-ID` (when it looks like
one) or gets a new one, echoed in the response; a task's records carry its
Celery task id. With LIVEOPS_LOG_FORMAT=json every record is one JSON object
(python-json-logger) with `request_id` and `task_id`.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
task_id: contextvars.ContextVar[str] = contextvars.ContextVar("task_id", default="")
SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class ContextFilter(logging.Filter):
    """Adds request_id and task_id to every record (empty outside a request or a task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.task_id = task_id.get()
        return True


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get("X-Request-ID", "")
        rid = given if SAFE_ID.match(given) else uuid.uuid4().hex
        # Not reset on the way out: Django logs a 4xx/5xx after the middleware returns, and that
        # record must carry the id too. Each request sets its own id on the way in.
        request_id.set(rid)
        response = self.get_response(request)
        response["X-Request-ID"] = rid
        return response


class ClientFaultFilter(logging.Filter):
    """A request Django refused for its size or its number of fields is the client's doing, not a fault of
    the server: its record becomes a warning without a traceback (Django logs it as an error with one).
    Set on the `django.security.RequestDataTooBig`, `...TooManyFieldsSent` and `...TooManyFilesSent` loggers."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        record.exc_info = record.exc_text = None
        return True


def connect_celery_signals() -> None:
    """Task ids on the records of Celery tasks."""
    from celery.signals import task_postrun, task_prerun

    @task_prerun.connect(weak=False)
    def _started(task_id=None, **_kwargs):  # noqa: F811 - the signal's argument name
        _task_id.set(task_id or "")

    @task_postrun.connect(weak=False)
    def _finished(**_kwargs):
        _task_id.set("")


_task_id = task_id
