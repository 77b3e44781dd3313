"""Structured logs: each record says which request it belongs to."""

import io
import json
import logging

import pytest
from django.conf import settings
from pythonjsonlogger.json import JsonFormatter

from liveops.logs import ContextFilter

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_log():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    spec = settings.LOGGING["formatters"]["json"]
    handler.setFormatter(JsonFormatter(spec["fmt"], rename_fields=spec["rename_fields"]))
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


def test_it_logs_json_records_carrying_the_request_id(client, json_log):
    r = client.get("/no-such-page/", HTTP_X_REQUEST_ID="edge-7f3a")
    assert r.status_code == 404 and r["X-Request-ID"] == "edge-7f3a"
    record = json.loads(json_log.getvalue().splitlines()[-1])
    assert record["request_id"] == "edge-7f3a" and record["level"] == "WARNING" and record["logger"] == "django.request"
    assert "/no-such-page/" in record["message"]


def test_it_makes_its_own_id_when_the_given_one_is_not_an_id(client, json_log):
    r = client.get("/no-such-page/", HTTP_X_REQUEST_ID="<script>")
    rid = r["X-Request-ID"]
    assert rid != "<script>" and len(rid) == 32
    assert json.loads(json_log.getvalue().splitlines()[-1])["request_id"] == rid
