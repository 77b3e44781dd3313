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


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Browser tests run last, those driving their own Playwright before those using the
    shared browser: the shared browser keeps an event loop in the main thread until the
    session ends, which async tests and other Playwright users cannot share."""

    def rank(item):
        if "tests/e2e/" not in item.nodeid.replace("\\", "/"):
            return 0
        return 2 if {"page", "browser"} & set(getattr(item, "fixturenames", ())) else 1

    items.sort(key=rank)
