"""WebSockets only from this site's own pages: the Origin must match scheme, host and port.

Channels' AllowedHostsOriginValidator compares the host alone, so a page on
http://host:8080 (or plain http beside an https site) could open a student's
socket with their cookie. Here the Origin must be exactly the origin the
browser used to reach this server (its Host header, over http or https), or
one of CSRF_TRUSTED_ORIGINS; and the host must be an allowed host.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}


@functools.lru_cache(maxsize=256)  # a pure function of the text, asked at every connect
def normalise(origin: str) -> str | None:
    """scheme://host:port with the default port written out; None for anything that is not an origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return None
    if parts.scheme.lower() not in DEFAULT_PORTS or not parts.hostname or port is None:
        return None
    return f"{parts.scheme.lower()}://{parts.hostname.lower()}:{port}"


def _came_over_tls(scope, headers: dict) -> bool:
    if scope.get("scheme") in ("wss", "https"):
        return True
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        name, value = proxy
        header = name.removeprefix("HTTP_").replace("_", "-").lower().encode()
        return headers.get(header, b"").decode("latin-1") == value
    return False


class SameOriginValidator:
    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not self.allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)

    def allowed(self, scope) -> bool:
        headers = dict(scope.get("headers") or [])
        origin, host = headers.get(b"origin"), headers.get(b"host")
        if not origin or not host:
            return False
        host = host.decode("latin-1")
        domain, _port = split_domain_port(host)
        if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
            return False
        scheme = "https" if _came_over_tls(scope, headers) else "http"
        own = normalise(f"{scheme}://{host}")
        trusted = _trusted(tuple(settings.CSRF_TRUSTED_ORIGINS))
        given = normalise(origin.decode("latin-1"))
        return given is not None and (given == own or given in trusted)


@functools.lru_cache(maxsize=8)
def _trusted(origins: tuple[str, ...]) -> frozenset:
    return frozenset(normalise(o) for o in origins)
