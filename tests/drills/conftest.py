"""What the fault drills share: their own sandbox (cluster and cloud) and their own Redis, so that
killing, restarting and fault switches never reach another test; the product's real processes
(Celery workers, the watcher, the web server) started on the test database; and the test process
pointed at the drill's Redis, so that what it queues goes to the drill's workers."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from django.db import connection

from tests.sandbox.helpers import wait_for
from tests.sandbox.openstack.conftest import CloudSandbox, http, running_cloud
from tests.services import PYTHON, Service, database_env, free_port, start_redis, wait_for_port

# Redelivery of a lost worker's tasks within seconds, for the drill that loses one: production waits
# 600 s (liveops/settings.py), above its longest countdown and task. A task that runs longer than
# this is handed out twice, which the drill's tasks take in their stride (they are safe to run twice).
SHORT_VISIBILITY_TIMEOUT = "5"
RESTORE_INTERVAL = "0.5"


@dataclass
class DrillSandbox(CloudSandbox):
    """The sandbox of the drills, with the API server's own fault switches and restart."""

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def token(self) -> str:
        with open(self.kubeconfig) as f:
            return yaml.safe_load(f)["users"][0]["user"]["token"]

    def api_faults(self, **changes) -> dict:
        status, body = http("POST" if changes else "GET", self.api_url + "/sandbox/faults", body=changes or None,
                            headers={"Authorization": f"Bearer {self.token}"})
        assert status == 200, body
        return body

    def restart_api(self, down_seconds: float) -> None:
        status, body = http("POST", self.api_url + "/sandbox/restart", body={"down_seconds": down_seconds},
                            headers={"Authorization": f"Bearer {self.token}"})
        assert status == 202, body


@pytest.fixture(scope="package")
def drill_sandbox():
    with running_cloud("sandbox-drills", DrillSandbox, "--watch-history", "5000", fip_quota=200) as sandbox:
        yield sandbox


def point_at_redis(url: str, settings) -> None:
    """This test process's Celery producer, Redis client and channel layer use `url` from now on."""
    from channels.layers import channel_layers

    from liveops.celery import app

    settings.REDIS_URL = url
    settings.CELERY_BROKER_URL = url
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {"hosts": [url]}}}
    app.conf.broker_url = url
    app._after_fork()  # forget the pooled connections to the previous broker
    channel_layers.backends = {}


@pytest.fixture
def drill_redis(settings, redis_url, tmp_path):
    """A Redis of the drill's own that keeps its data as production should (append-only file):
    -> {"service", "url", "data_dir"}; the test process uses it until the test ends."""
    data_dir = tmp_path / "redis"
    svc, url = start_redis(data_dir=data_dir)
    handle = {"service": svc, "url": url, "data_dir": data_dir}
    point_at_redis(url, settings)
    yield handle
    point_at_redis(redis_url, settings)
    handle["service"].stop()


class Product:
    """The product's processes for one drill, on the test database, the drill's Redis and sandbox."""

    def __init__(self, redis_url: str, sandbox: DrillSandbox):
        self.env = {
            **database_env(connection.settings_dict),
            "LIVEOPS_REDIS_URL": redis_url,
            "LIVEOPS_KUBECONFIG": sandbox.kubeconfig,
            "LIVEOPS_LOG_LEVEL": "INFO",
        }
        self.services: list[Service] = []

    def _start(self, svc: Service) -> Service:
        self.services.append(svc)
        return svc

    def redeliver_quickly(self) -> None:
        """Workers started from now on hand out a lost worker's tasks again after seconds."""
        self.env["LIVEOPS_CELERY_VISIBILITY_TIMEOUT"] = SHORT_VISIBILITY_TIMEOUT
        self.env["LIVEOPS_CELERY_RESTORE_INTERVAL"] = RESTORE_INTERVAL

    def worker(self, name: str, concurrency: int = 1, queues: str = "", wait: bool = True) -> Service:
        """A Celery worker as production runs it (prefork pool; every queue unless `queues`)."""
        svc = self._start(Service(f"drill-{name}-{free_port()}", [
            PYTHON, "-m", "celery", "-A", "liveops", "worker", "-l", "info", "--concurrency", str(concurrency),
            "-n", f"{name}-{os.getpid()}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
            *(["-Q", queues] if queues else [])], self.env))
        if wait:
            svc.wait_for_log("ready", timeout=90)
        return svc

    def watcher(self) -> Service:
        return self._start(Service(f"drill-watcher-{free_port()}", [PYTHON, "manage.py", "run_watcher"], self.env))

    def web(self) -> tuple[Service, int]:
        port = free_port()
        svc = self._start(Service(f"drill-web-{port}", [
            PYTHON, "-m", "uvicorn", "liveops.asgi:application", "--host", "127.0.0.1", "--port", str(port)],
            self.env))
        wait_for_port(port, timeout=60)
        return svc, port

    def stop(self) -> None:
        for svc in self.services:
            svc.stop()


@pytest.fixture
def product(drill_redis, drill_sandbox, transactional_db):
    running = Product(drill_redis["url"], drill_sandbox)
    yield running
    running.stop()


def kill_worker(svc: Service) -> None:
    """SIGKILL a worker's main process and its pool: the machine under it is gone, nothing is given back."""
    os.killpg(svc.proc.pid, signal.SIGKILL)
    svc.proc.wait(10)


def pool_processes(svc: Service) -> list[int]:
    """The pool processes of a prefork worker (the children of its main process)."""
    pid = svc.proc.pid
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.05, message: str = "condition"):
    return wait_for(predicate, timeout=timeout, interval=interval, message=message)
