import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveops.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.core.signals import request_finished  # noqa: E402
from django.db import connections  # noqa: E402
from django.dispatch import receiver  # noqa: E402

from liveops.origins import SameOriginValidator  # noqa: E402
from liveops.routing import websocket_urlpatterns  # noqa: E402
from liveops.static import StaticFiles  # noqa: E402


@receiver(request_finished, sender=ASGIHandler, dispatch_uid="liveops.asgi.close_request_connections")
def close_request_connections(**kwargs):
    """Django's ASGI handler runs each request's sync code in a thread of its own, so a connection kept
    open there (CONN_MAX_AGE) is never used again: closed as the request ends (kept, they piled up until a
    garbage collection, one every few requests). The sockets' threads live on and keep theirs."""
    for connection in connections.all(initialized_only=True):
        connection.close()


application = ProtocolTypeRouter(
    {
        "http": StaticFiles(django_asgi_app),
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
