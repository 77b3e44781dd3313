"""The WebSocket of a credential's admin page: its latest connection test, redrawn on every change (staff only)."""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from clouds.models import CloudCredential
from clouds.openstack.results import group_name, render_connection_test

logger = logging.getLogger(__name__)

FORBIDDEN = 4403
NOT_FOUND = 4404


def _allowed(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.is_staff
                and user.has_perm("clouds.view_cloudcredential"))


def _exists(credential_id) -> bool:
    return CloudCredential.objects.filter(pk=credential_id).exists()


class ConnectionTestConsumer(AsyncWebsocketConsumer):
    """ws/admin/credentials/<id>/test/: resync on connect, then one swap per change of the test."""

    group = None

    async def connect(self):
        self.credential_id = self.scope["url_route"]["kwargs"]["credential_id"]
        user = self.scope.get("user")
        allowed = await sync_to_async(_allowed)(user)
        await self.accept()  # first, so that the browser sees the close code (and does not retry)
        if not allowed:
            await self.close(code=FORBIDDEN)
            return
        if not await sync_to_async(_exists)(self.credential_id):
            await self.close(code=NOT_FOUND)
            return
        self.group = group_name(self.credential_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.redraw()

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        if self.group and text_data and "resync" in text_data:
            await self.redraw()

    async def redraw(self):
        """The whole latest test from the database (a lost message is healed by the next)."""
        try:
            html = await sync_to_async(render_connection_test)(self.credential_id, oob=True)
        except Exception:
            logger.exception("could not draw the connection test of credential %s", self.credential_id)
            return
        await self.send(text_data=html)

    async def connection_test_changed(self, event):
        if self.group:
            await self.redraw()
