"""The WebSocket of a lab page: live panel and session fragments as htmx out-of-band swaps."""

from __future__ import annotations

import importlib
import logging

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string

from labs import panel
from labs import state as live_state
from labs.access import can_view_session
from labs.live import SESSION_FRAGMENTS, WHATS
from labs.models import LabSession

logger = logging.getLogger(__name__)

FORBIDDEN = 4403


def _load_session(session_id):
    return LabSession.objects.select_related("cluster", "user").filter(pk=session_id).first()


def _allowed(user, session) -> bool:
    return session is not None and can_view_session(user, session)


def render_session_fragment(what: str, session_id, read_only: bool = False) -> str:
    """One of the page's own fragments (status, checks, revisions, dns), from the database.

    Empty when the module or template that draws it is not there.
    """
    template, context_path = SESSION_FRAGMENTS[what]
    session = _load_session(session_id)
    if session is None:
        return ""
    module_name, _, func_name = context_path.rpartition(".")
    try:
        context_for = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError):
        return ""
    try:
        return render_to_string(template, {"session": session, **context_for(session), "read_only": read_only})
    except TemplateDoesNotExist:
        return ""
    except Exception:
        logger.exception("could not draw %s of session %s", what, session_id)
        return ""


def render_session_fragments(session_id, read_only: bool = False) -> str:
    return "".join(render_session_fragment(what, session_id, read_only) for what in WHATS)


class SessionConsumer(AsyncWebsocketConsumer):
    """ws/sessions/<id>/: resync on connect, then one swap per change."""

    group = None

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
        self.state = live_state.empty_state()
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.resync()

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        # The page may ask for a resync (e.g. after waking from sleep); nothing else is read.
        if self.group and text_data and "resync" in text_data:
            await self.resync()

    async def resync(self):
        """Send the present: every panel table and every session fragment."""
        try:
            self.state = await sync_to_async(live_state.load_namespace, thread_sensitive=False)(
                self.cluster_id, self.namespace
            )
        except Exception:
            logger.exception("could not load the live state of %s", self.namespace)
        html = panel.render_full(self.session_id, self.state)
        html += await sync_to_async(render_session_fragments)(self.session_id, self.read_only)
        await self.send(text_data=html)

    async def object_changed(self, event):
        if not self.group:
            return
        html = panel.render_change(self.session_id, self.state, event["kind"], event["name"], event.get("object"))
        if html:
            await self.send(text_data=html)

    async def session_changed(self, event):
        if not self.group or event.get("what") not in WHATS:
            return
        html = await sync_to_async(render_session_fragment)(event["what"], self.session_id, self.read_only)
        if html:
            await self.send(text_data=html)
