"""A lab's WebSocket opens only from this site's own pages: scheme, host and port of the Origin must match."""

from liveops.origins import SameOriginValidator

validator = SameOriginValidator(application=None)


def opens(origin, host="127.0.0.1:8000", scheme="ws", extra=()):
    headers = [(b"host", host.encode())] + ([(b"origin", origin.encode())] if origin else []) + list(extra)
    return validator.allowed({"type": "websocket", "scheme": scheme, "headers": headers})


def test_it_opens_from_the_sites_own_pages():
    assert opens("http://127.0.0.1:8000")
    assert opens("https://127.0.0.1", host="127.0.0.1", scheme="wss")


def test_it_refuses_another_port_scheme_or_host():
    assert not opens("http://127.0.0.1:8080")  # same host, another port: another site
    assert not opens("https://127.0.0.1:8000")  # the page over https, the socket over plain http
    assert not opens("http://localhost:8000")  # another host name
    assert not opens("http://evil.example:8000")
    assert not opens(None)  # no Origin at all
    assert not opens("null")
    assert not opens("http://127.0.0.1:8000", host="evil.example:8000")  # not an allowed host


def test_it_opens_from_a_trusted_origin_and_behind_a_tls_proxy(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://labs.example.edu"]
    settings.ALLOWED_HOSTS = ["labs.example.edu", "127.0.0.1"]
    assert opens("https://labs.example.edu", host="127.0.0.1:8000")
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert opens("https://labs.example.edu", host="labs.example.edu", extra=[(b"x-forwarded-proto", b"https")])
    assert not opens("https://labs.example.edu:8443", host="labs.example.edu")
