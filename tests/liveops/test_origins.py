"""A lab's WebSocket opens only from this site's own pages: scheme, host and port of the Origin must match."""

import pytest
from channels.generic.websocket import AsyncWebsocketConsumer

from liveops.origins import SameOriginValidator
from tests.labs.ws import WebsocketCommunicator

pytestmark = pytest.mark.asyncio


class Echo(AsyncWebsocketConsumer):
    channel_layer_alias = None  # the origin check alone: no channel layer

    async def connect(self):
        await self.accept()


async def opens(origin, host="127.0.0.1:8000", scheme="ws", extra=()):
    headers = [(b"host", host.encode())] + ([(b"origin", origin.encode())] if origin else []) + list(extra)
    communicator = WebsocketCommunicator(SameOriginValidator(Echo.as_asgi()), "/ws/x/", headers=headers)
    communicator.scope["scheme"] = scheme
    connected, _ = await communicator.connect(timeout=10)
    await communicator.disconnect()
    return connected


async def test_it_opens_from_the_sites_own_pages():
    assert await opens("http://127.0.0.1:8000")
    assert await opens("https://127.0.0.1", host="127.0.0.1", scheme="wss")


async def test_it_refuses_another_port_scheme_or_host():
    assert not await opens("http://127.0.0.1:8080")  # same host, another port: another site
    assert not await opens("https://127.0.0.1:8000")  # the page over https, the socket over plain http
    assert not await opens("http://localhost:8000")  # another host name
    assert not await opens("http://evil.example:8000")
    assert not await opens(None)  # no Origin at all
    assert not await opens("null")
    assert not await opens("http://127.0.0.1:8000", host="evil.example:8000")  # not an allowed host


async def test_it_opens_from_a_trusted_origin_and_behind_a_tls_proxy(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://labs.example.edu"]
    settings.ALLOWED_HOSTS = ["labs.example.edu", "127.0.0.1"]
    assert await opens("https://labs.example.edu", host="127.0.0.1:8000")
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert await opens("https://labs.example.edu", host="labs.example.edu",
                       extra=[(b"x-forwarded-proto", b"https")])
    assert not await opens("https://labs.example.edu:8443", host="labs.example.edu")
