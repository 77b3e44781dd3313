"""The whole product running for browser tests: Celery worker, watcher and web server
as real processes on the test database, against the test sandbox and a private Redis."""

from __future__ import annotations

import os

import pytest
from django.db import connection

from tests.services import PYTHON, Service, database_env, free_port, wait_for_port

# Playwright's sync API runs an event loop in the test thread; the tests' own
# database calls (and pytest-django's flush) are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def browser_type_launch_args():
    return {"executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def stack(django_db_setup, django_db_blocker, sandbox, redis_url):
    """Start the product's processes once for all browser tests."""
    with django_db_blocker.unblock():
        database = database_env(connection.settings_dict)
    env = {
        **database,
        "LIVEOPS_REDIS_URL": redis_url,
        "LIVEOPS_KUBECONFIG": sandbox.kubeconfig,
        "LIVEOPS_DNS_RESOLVERS": f"127.0.0.1:{sandbox.dns_port}",
        "LIVEOPS_DNS_UPDATE_SERVER": f"127.0.0.1:{sandbox.dns_port}",
        "LIVEOPS_LOG_LEVEL": "INFO",
    }
    port = free_port()
    web_args = [PYTHON, "-m", "uvicorn", "liveops.asgi:application", "--host", "127.0.0.1", "--port", str(port)]
    services = [
        Service("e2e-celery", [PYTHON, "-m", "celery", "-A", "liveops", "worker", "-l", "info", "--pool", "threads",
                               "--concurrency", "4", "-Q", "celery,balancers", "-n", f"e2e-{port}@%h"], env),
        # Tests recreate the Cluster row (a new id) after each database flush: the watcher looks for it
        # every second, not every 15 s as in production, or a test's first changes go unheard.
        Service("e2e-watcher", [PYTHON, "manage.py", "run_watcher", "--refresh", "1"], env),
        Service("e2e-web", web_args, env),
        # The checks and the traffic path have a worker of their own, as in production: a lab's cleanup
        # waits in its task (up to minutes) and must never hold back another test's checklist.
        Service("e2e-celery-live", [PYTHON, "-m", "celery", "-A", "liveops", "worker", "-l", "info", "--pool",
                                    "threads", "--concurrency", "2", "-Q", "live", "-n", f"e2e-live-{port}@%h"], env),
    ]

    def restart_web(while_down=None):
        """Stop the web server, run `while_down()`, start it again on the same port."""
        services[2].stop()
        if while_down:
            while_down()
        services[2] = Service("e2e-web-restarted", web_args, env)
        wait_for_port(port)

    try:
        wait_for_port(port)
        services[0].wait_for_log("ready", timeout=60)
        services[3].wait_for_log("ready", timeout=60)
        yield {"url": f"http://127.0.0.1:{port}", "env": env, "services": services, "restart_web": restart_web}
    finally:
        for svc in services:
            svc.stop()


@pytest.fixture
def live(stack, transactional_db, sandbox, settings):
    """A test's view of the running product, with the default cluster set to the sandbox."""
    from clouds.models import Cluster

    settings.LIVEOPS_DNS_RESOLVERS = [f"127.0.0.1:{sandbox.dns_port}"]
    settings.LIVEOPS_DNS_UPDATE_SERVER = f"127.0.0.1:{sandbox.dns_port}"
    Cluster.objects.update_or_create(name="sandbox", defaults={"kubeconfig_path": sandbox.kubeconfig, "is_default": True})
    return stack
