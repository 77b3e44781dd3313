"""Fixtures shared by every test: a private Redis wired into the settings."""

import pytest

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
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {"hosts": [redis_url]}}
    }
    settings.CELERY_BROKER_URL = redis_url
    app.conf.broker_url = redis_url
    channel_layers.backends = {}
    yield
