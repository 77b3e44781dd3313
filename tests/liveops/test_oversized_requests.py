"""A request refused for its size is logged as the client's fault: a warning, without a traceback."""

import logging

import pytest

pytestmark = pytest.mark.django_db


def _security_records(caplog):
    return [r for r in caplog.records if r.name.startswith("django.security.")]


def test_it_logs_a_body_over_the_upload_limit_as_a_warning_without_traceback(client, caplog, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    with caplog.at_level(logging.INFO):
        r = client.post("/login/", {"username": "x" * 2000, "password": "pw"})
    assert r.status_code == 400 and b"too large" in r.content
    [record] = _security_records(caplog)
    assert record.name == "django.security.RequestDataTooBig"
    assert record.levelname == "WARNING" and record.exc_info is None
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_it_logs_too_many_fields_as_a_warning_without_traceback(client, caplog, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    with caplog.at_level(logging.INFO):
        r = client.post("/login/", {f"field{i}": "v" for i in range(20)})
    assert r.status_code == 400 and b"too many fields" in r.content
    [record] = _security_records(caplog)
    assert record.name == "django.security.TooManyFieldsSent"
    assert record.levelname == "WARNING" and record.exc_info is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
