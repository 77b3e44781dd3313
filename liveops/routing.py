from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import re_path

from clouds.openstack.routing import websocket_urlpatterns as cloud_patterns
from labs.routing import websocket_urlpatterns as lab_patterns
from teaching.routing import websocket_urlpatterns as teaching_patterns

NOT_FOUND = 4404


class NoSuchSocket(AsyncWebsocketConsumer):
    """Any other path: closed with 4404 (without it the router raises, a 500 and a traceback per stranger)."""

    async def connect(self):
        await self.accept()  # first, so that the browser sees the close code
        await self.close(code=NOT_FOUND)


websocket_urlpatterns = [*lab_patterns, *teaching_patterns, *cloud_patterns, re_path(r"", NoSuchSocket.as_asgi())]
