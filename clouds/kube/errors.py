"""Kubernetes API errors turned into a message a student may read.

The message is the API server's own (it names the object and the field), or
its status; a connection failure says the cluster cannot be reached. It never
carries the cluster's address: the details of a connection error go to the log.
"""

from __future__ import annotations

import json
import logging

from kubernetes.client.rest import ApiException

logger = logging.getLogger(__name__)


def api_message(exc: BaseException) -> str:
    """What the cluster said, in its own words, without any address."""
    if isinstance(exc, ApiException):
        try:
            body = json.loads(exc.body) if exc.body else {}
        except (TypeError, ValueError):
            body = {}
        message = body.get("message") if isinstance(body, dict) else None
        return message or f"{exc.status} {exc.reason}"
    logger.warning("cluster request failed: %r", exc)
    return "the cluster did not answer"


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status == 404
