"""The WebSocket of a lab page: live panel and session fragments as htmx out-of-band swaps."""

from __future__ import annotations

import asyncio
import logging
import time

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from clouds.watch import state as observed
from labs.access import can_view_session
from labs.live import panel
from labs.live.fragments import render_session_fragment
from labs.models import LabSession
from labs.notify import WHATS

logger = logging.getLogger(__name__)

FORBIDDEN = 4403
# A page may ask for a resync (after waking from sleep, a reconnect); asking more often
# than this gets one deferred resync, never one per message.
RESYNC_INTERVAL = 2.0


def _load_session(session_id):
    return LabSession.objects.select_related("cluster", "user").filter(pk=session_id).first()


def _allowed(user, session) -> bool:
    return session is not None and can_view_session(user, session)


def render_session_fragments(session_id, read_only: bool = False) -> str:
    """Every fragment of the session's page (on connect and resync), drawn from the database."""
    session = _load_session(session_id)
    if session is None:
        return ""
    return "".join(_render_fragment(what, session, read_only) for what in WHATS)


def _render_fragment(what: str, session: LabSession, read_only: bool) -> str:
    try:
        return render_session_fragment(what, session, read_only)
    except Exception:  # one broken fragment must not take the others down; the next change heals it
        logger.exception("could not draw %s of session %s", what, session.pk)
        return ""


def render_one_fragment(what: str, session_id, read_only: bool = False) -> str:
    session = _load_session(session_id)
    return _render_fragment(what, session, read_only) if session is not None else ""


class SessionConsumer(AsyncWebsocketConsumer):
    """ws/sessions/<id>/: resync on connect, then one swap per change."""

    group = None
    resync_due = None  # set before connect's checks: a refused socket's disconnect reads it too

    async def connect(self):
        self.session_id = self.scope["url_route"]["kwargs"]["session_id"]
        user = self.scope.get("user")
        session = await sync_to_async(_load_session)(self.session_id)
        allowed = user is not None and await sync_to_async(_allowed)(user, session)
        await self.accept()
        if not allowed:
            # Accepted first so the browser sees the code (and does not retry).
            await self.close(code=FORBIDDEN)
            return
        self.read_only = session.user_id != user.pk  # instructors watch; only the student acts
        self.cluster_id = session.cluster_id
        self.namespace = session.namespace
        self.group = session.group_name
        self.state = observed.empty_state()
        self.last_resync = 0.0
        self.resync_due = None  # a deferred resync (asked for too soon after the last one)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.resync()

    async def disconnect(self, code):
        if self.resync_due is not None:
            self.resync_due.cancel()
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        # The page may ask for a resync (e.g. after waking from sleep); nothing else is read.
        if self.group and text_data and "resync" in text_data:
            await self.request_resync()

    async def request_resync(self):
        """Resync now, or once when the interval is over if the last one was too recent."""
        wait = self.last_resync + RESYNC_INTERVAL - time.monotonic()
        if wait <= 0:
            await self.resync()
        elif self.resync_due is None:
            self.resync_due = asyncio.get_running_loop().call_later(wait, self._deferred_resync)

    def _deferred_resync(self):
        self.resync_due = None
        asyncio.ensure_future(self.resync())

    async def resync(self):
        """Send the present: every panel table and every session fragment (drawn off the event loop)."""
        self.last_resync = time.monotonic()
        try:
            self.state = await sync_to_async(observed.load_namespace, thread_sensitive=False)(
                self.cluster_id, self.namespace
            )
        except Exception:
            logger.exception("could not load the live state of %s", self.namespace)
        html = await sync_to_async(panel.render_full, thread_sensitive=False)(self.session_id, self.state)
        html += await sync_to_async(render_session_fragments)(self.session_id, self.read_only)
        await self.send(text_data=html)

    async def object_changed(self, event):
        if not self.group or event.get("cluster", self.cluster_id) != self.cluster_id:
            return
        html = panel.render_change(self.session_id, self.state, event["kind"], event["name"], event.get("object"))
        if html:
            await self.send(text_data=html)

    async def session_changed(self, event):
        if not self.group or event.get("what") not in WHATS:
            return
        html = await sync_to_async(render_one_fragment)(event["what"], self.session_id, self.read_only)
        if html:
            await self.send(text_data=html)
