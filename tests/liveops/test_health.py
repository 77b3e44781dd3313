"""Liveness and readiness endpoints for probes and load balancers."""

import time

import pytest

from clouds.watch import heartbeat
from tests.services import free_port

pytestmark = pytest.mark.django_db


def test_it_answers_liveness_without_a_login(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_it_is_ready_when_the_database_and_redis_answer(client):
    heartbeat.write("health-test", time.time() - 3, 8)
    r = client.get("/readyz")
    body = r.json()
    assert r.status_code == 200 and body["status"] == "ready"
    assert body["database"]["ok"] and body["redis"]["ok"]
    beat = body["watcher"]["health-test"]
    assert beat["open_watches"] == 8 and 2 <= beat["last_heard_s"] < 30 and beat["silent"] is False


def test_it_is_unavailable_without_redis_and_says_which(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    r = client.get("/readyz")
    body = r.json()
    assert r.status_code == 503 and body["status"] == "unavailable"
    assert body["redis"] == {"ok": False, "error": "ConnectionError"} and body["database"]["ok"]
    assert "127.0.0.1" not in r.content.decode()


def test_it_flags_a_watcher_that_has_not_heard_from_its_cluster(client):
    heartbeat.write("silent-test", time.time() - 600, 0)
    assert client.get("/readyz").json()["watcher"]["silent-test"]["silent"] is True
