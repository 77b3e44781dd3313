"""Fixtures shared by every test: a private Redis wired into the settings."""

import os

import pytest

from tests.sandbox.conftest import SANDBOX_TMP
from tests.services import start_redis


@pytest.fixture(scope="session")
def redis_url():
    svc, url = start_redis()
    yield url
    svc.stop()


@pytest.fixture(scope="session", autouse=True)
def _wire_redis(redis_url):
    """Point the channel layer and Celery at the private Redis."""
    from channels.layers import channel_layers
    from django.conf import settings

    from liveops.celery import app

    settings.REDIS_URL = redis_url
    # The test sandboxes' kubeconfigs may be read, here and by the processes tests start.
    settings.LIVEOPS_KUBECONFIG_DIRS = [*settings.LIVEOPS_KUBECONFIG_DIRS, SANDBOX_TMP]
    os.environ["LIVEOPS_KUBECONFIG_DIRS"] = ",".join(settings.LIVEOPS_KUBECONFIG_DIRS)
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {"hosts": [redis_url]}}
    }
    settings.CELERY_BROKER_URL = redis_url
    app.conf.broker_url = redis_url
    channel_layers.backends = {}
    yield


# The sandbox cluster (a real subprocess) for the product's tests too, and the sandbox with its cloud.
from tests.sandbox.conftest import namespace, sandbox  # noqa: E402,F401
from tests.sandbox.openstack.conftest import cloud  # noqa: E402,F401


@pytest.fixture
def cluster(sandbox, db, settings):
    """The default Cluster row, pointing at the test sandbox (and its DNS)."""
    from clouds.models import Cluster

    settings.LIVEOPS_KUBECONFIG = sandbox.kubeconfig
    settings.LIVEOPS_DNS_RESOLVERS = [f"127.0.0.1:{sandbox.dns_port}"]
    settings.LIVEOPS_DNS_UPDATE_SERVER = f"127.0.0.1:{sandbox.dns_port}"
    cluster, _ = Cluster.objects.update_or_create(
        name="sandbox", defaults={"kubeconfig_path": sandbox.kubeconfig, "is_default": True}
    )
    return cluster


@pytest.fixture
def make_user(db):
    from django.contrib.auth import get_user_model

    def make(username="alice", password="pw-alice-123", **extra):
        return get_user_model().objects.create_user(username=username, password=password, **extra)

    return make


# What asks pytest-django for the database. pytest-django refuses database access to every other
# test ("Database access not allowed"), so a test without one of these cannot touch the database.
DATABASE_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback",
                     "django_db_setup", "live_server"}


def pytest_addoption(parser):
    parser.addoption("--database-tests-only", action="store_true",
                     help="run only the tests that use the database (those that ask pytest-django for it); "
                          "tests/run_on_postgres.py runs those again on PostgreSQL")


def pytest_itemcollected(item):
    """Under pytest-xdist (`--dist loadgroup`, as `make test` runs), the tests of a module that share a
    module- or class-scoped fixture (a provisioned load balancer, a browser of their own) all run on one
    worker, which builds that fixture once; every other test goes to whichever worker is free."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return
    shared = [d for name in item.fixturenames for d in info.name2fixturedefs.get(name, ())
              if d.scope in ("module", "class", "package") and d.baseid]  # the tests' own, not a plugin's
    if shared:
        item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


def uses_database(item) -> bool:
    return bool(DATABASE_FIXTURES & set(getattr(item, "fixturenames", ()))) or bool(
        item.get_closest_marker("django_db"))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Browser tests run last, those driving their own Playwright before those using the
    shared browser: the shared browser keeps an event loop in the main thread until the
    session ends, which async tests and other Playwright users cannot share.

    Under pytest-xdist every worker sorts the same way and is handed tests in this order,
    so each worker still runs its share of browser tests last, in the same ranks."""

    if config.getoption("database_tests_only"):
        kept = [item for item in items if uses_database(item)]
        deselected = [item for item in items if not uses_database(item)]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = kept

    def rank(item):
        if "tests/e2e/" not in item.nodeid.replace("\\", "/"):
            return 0
        return 2 if {"page", "browser"} & set(getattr(item, "fixturenames", ())) else 1

    items.sort(key=rank)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test databases, with every other connection to them ended before they are
    dropped: threads of this process (the watcher's debounced calls, Channels' database threads) keep
    their own connections open, and PostgreSQL refuses to drop a database someone is connected to."""
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        for connection in connections.all():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                   "WHERE datname = current_database() AND pid <> pg_backend_pid()")
