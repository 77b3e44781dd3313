"""The WebSocket of a lab page: live panel and session fragments as htmx out-of-band swaps."""

from __future__ import annotations

import asyncio
import copy
import logging
import time

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from clouds.watch import state as observed
from labs.access import can_view_session
from labs.live import dialogs, nodes, panel, redis_watch, resync_cache
from labs.live.fragments import render_ended_swaps, render_session_fragment
from labs.models import LabSession
from labs.notify import WHATS

logger = logging.getLogger(__name__)

FORBIDDEN = 4403
# A page may ask for a resync (after waking from sleep, a reconnect); asking more often
# than this gets one deferred resync, never one per message.
RESYNC_INTERVAL = 2.0


def _load_session(session_id):
    return LabSession.objects.select_related("cluster", "user").filter(pk=session_id).first()


def load_if_allowed(user, session_id) -> LabSession | None:
    """The session if `user` may see it, else None (no such session, or not theirs to see): a connecting
    socket's checks in one thread hop."""
    session = _load_session(session_id)
    return session if session is not None and user is not None and can_view_session(user, session) else None


def _render_fragment(what: str, session: LabSession, watching: bool, state: dict | None = None) -> str:
    """Read-only for a watching instructor, and for everyone once the lab no longer takes changes."""
    try:
        return render_session_fragment(what, session, watching or not session.accepts_changes, watching=watching,
                                       state=state)
    except Exception:  # one broken fragment must not take the others down; the next change heals it
        logger.exception("could not draw %s of session %s", what, session.pk)
        return ""


def render_namespace_section(session_id) -> str:
    """The live view's Namespace tab, whose status follows the session's."""
    session = _load_session(session_id)
    return panel.render_namespace(session) if session is not None else ""


def render_one_fragment(what: str, session_id, watching: bool = False) -> str:
    session = _load_session(session_id)
    return _render_fragment(what, session, watching) if session is not None else ""


def ended_swaps(session_id) -> str:
    """Once the lab stops taking changes: the page's own controls (editor, apply, object actions)
    swapped out, so an open page turns read-only without a reload ("" while it runs)."""
    session = _load_session(session_id)
    if session is None or session.accepts_changes:
        return ""
    return render_ended_swaps(session)


def render_resync(session_id, cluster_id, namespace: str, watching: bool, ended: bool) -> tuple[dict, str, bool]:
    """Everything a (re)connecting page is sent, in one thread hop and one session read:
    -> (the namespace's observed state, the html, whether the lab no longer takes changes).

    Drawn once per session, view and present state, and kept in Redis for the sockets that follow
    (labs.live.resync_cache); drawn every time when Redis cannot be reached."""
    session = _load_session(session_id)
    if session is None:
        state = _load_state(cluster_id, namespace)
        return state, panel.render_full(session_id, state) + nodes.render_section(cluster_id), ended
    try:
        found = resync_cache.lookup(session, watching, ended)
    except Exception:
        logger.exception("could not read the kept resync of session %s", session_id)
        state = _load_state(cluster_id, namespace)
        html, now_ended = _draw_resync(session, state, nodes.render_section(cluster_id), watching, ended)
        return state, html, now_ended
    if found.html is not None:
        return found.state, found.html, found.ended
    nodes_html = found.nodes_html if found.nodes_html is not None else nodes.render_section(cluster_id,
                                                                                            found.loaded_nodes)
    html, now_ended = _draw_resync(session, found.state, nodes_html, watching, ended)
    resync_cache.keep(found, html, now_ended, nodes_html)
    return found.state, html, now_ended


def _load_state(cluster_id, namespace: str) -> dict:
    try:
        return observed.load_namespace(cluster_id, namespace)
    except Exception:
        logger.exception("could not load the live state of %s", namespace)
        return observed.empty_state()


def _draw_resync(session: LabSession, state: dict, nodes_html: str, watching: bool, ended: bool) -> tuple[str, bool]:
    """The resync's html from the database and `state`, and whether it turned the page read-only."""
    html = panel.render_full(session.pk, state) + nodes_html + panel.render_namespace(session)
    html += "".join(_render_fragment(what, session, watching, state) for what in WHATS)
    if not ended and not session.accepts_changes:
        html += render_ended_swaps(session)
        ended = True
    return html, ended


# In-flight resyncs of this process: (session, watching, ended) -> (started, task). After a web restart
# every socket of a session reconnects at once; they share one render instead of drawing it each.
_resyncs: dict[tuple, tuple[float, asyncio.Task]] = {}


async def shared_resync(session_id, cluster_id, namespace: str, watching: bool, ended: bool, not_before: float):
    """render_resync, shared: a socket joins a render of its session already under way only if that
    render started at or after `not_before` (when the socket joined the session's group), so it cannot
    miss a change made in between: any later change reaches the socket as a message of its own."""
    key = (session_id, watching, ended)
    asked = time.monotonic()
    running = _resyncs.get(key)
    if running is not None and running[0] >= not_before and not running[1].done():
        return await asyncio.shield(running[1])
    task = asyncio.ensure_future(database_sync_to_async(render_resync, thread_sensitive=False)(
        session_id, cluster_id, namespace, watching, ended))
    _resyncs[key] = (asked, task)
    task.add_done_callback(lambda done: _resyncs.pop(key, None) if _resyncs.get(key, (0, None))[1] is done else None)
    return await asyncio.shield(task)


def timing_comment(seen_at: float, received: float) -> str:
    """Where a change's time went, for bench/ws_latency.py (only with LIVEOPS_BENCH_TIMINGS): when the
    watcher received it, when this consumer got it from the channel layer, and when it sent the frame."""
    return f"<!-- liveops-timing seen={seen_at:.6f} received={received:.6f} sent={time.time():.6f} -->"


class LiveSocket(AsyncWebsocketConsumer):
    """A live page's socket whose database reads all go through database_sync_to_async (which closes its
    thread's old connections before and after each call)."""

    async def dispatch(self, message):
        """Channels' own dispatch, without its hop to the shared sync thread before every message to close
        that thread's old database connections: each call here closes its own, and the hop cost ~0.25 ms of
        CPU per socket and message (every change sent to every page, and each socket's connect)."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)


class SessionConsumer(LiveSocket):
    """ws/sessions/<id>/: resync on connect, then one swap per change."""

    group = None
    resync_due = None  # set before connect's checks: a refused socket's disconnect reads it too
    following = None  # the object the page's open dialog shows (labs.live.dialogs.Followed)

    async def connect(self):
        self.session_id = self.scope["url_route"]["kwargs"]["session_id"]
        session = await database_sync_to_async(load_if_allowed, thread_sensitive=False)(self.scope.get("user"),
                                                                                         self.session_id)
        await self.accept()
        if session is None:
            # Accepted first so the browser sees the code (and does not retry).
            await self.close(code=FORBIDDEN)
            return
        user = self.scope["user"]
        self.read_only = session.user_id != user.pk  # instructors watch; only the student acts
        self.ended = not session.accepts_changes  # the page was drawn read-only (labs.views.pages)
        self.cluster_id = session.cluster_id
        self.namespace = session.namespace
        self.group = session.group_name
        self.state = observed.empty_state()
        self.last_resync = 0.0
        self.resync_due = None  # a deferred resync (asked for too soon after the last one)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.channel_layer.group_add(nodes.group_name(self.cluster_id), self.channel_name)
        redis_watch.register(self)  # resynced when Redis comes back: what was published meanwhile is lost
        await self.resync(not_before=time.monotonic())

    async def disconnect(self, code):
        redis_watch.unregister(self)
        if self.resync_due is not None:
            self.resync_due.cancel()
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await self.channel_layer.group_discard(nodes.group_name(self.cluster_id), self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        # The page may ask for a resync (e.g. after waking from sleep), or say which object its dialog shows.
        if self.group and text_data and '"follow"' in text_data:
            await self.follow(text_data)
        elif self.group and text_data and "resync" in text_data:
            await self.request_resync()

    async def follow(self, text_data: str):
        """Keep the page's open object dialog following its object (or stop: no dialog open)."""
        self.following = followed = dialogs.parse_follow(text_data)
        if followed is not None and followed.name not in self.state.get(followed.kind, {}) and any(self.state.values()):
            # Deleted while this socket was away (the state did load: it holds other objects).
            self.following = None
            await self.send(text_data=dialogs.render_gone(followed.kind, followed.name))

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

    async def resync(self, not_before: float | None = None):
        """Send the present: every panel table and every session fragment, drawn off the event loop in
        one go, and shared by the sockets of the session that resync at the same time (shared_resync)."""
        self.last_resync = time.monotonic()
        state, html, ended = await shared_resync(self.session_id, self.cluster_id, self.namespace, self.read_only,
                                                 self.ended, self.last_resync if not_before is None else not_before)
        self.state = copy.deepcopy(state)  # each socket applies later changes to its own copy
        self.ended = self.ended or ended
        await self.send(text_data=html)

    async def object_changed(self, event):
        if not self.group or event.get("cluster", self.cluster_id) != self.cluster_id:
            return
        received = time.time()
        html = panel.render_change(self.session_id, self.state, event["kind"], event["name"], event.get("object"))
        if html:
            if settings.LIVEOPS_BENCH_TIMINGS:
                html += timing_comment(event.get("seen_at") or 0.0, received)
            await self.send(text_data=html)
        followed = self.following
        if followed is not None and followed.touched_by(event["kind"], event["name"], event.get("object")):
            deleted = (event["kind"], event["name"]) == (followed.kind, followed.name) and event.get("object") is None
            if deleted:
                self.following = None
            # A message of its own: after a table row, the browser's parser would take its form out of the table.
            dialog = await database_sync_to_async(dialogs.render_follow_update, thread_sensitive=False)(
                self.session_id, followed, self.state, not self.read_only, deleted)
            if dialog:
                await self.send(text_data=dialog)

    async def node_changed(self, event):
        """A node of the session's cluster changed: its row was drawn once, for every page (labs.live.nodes)."""
        if self.group and event.get("cluster", self.cluster_id) == self.cluster_id and event.get("html"):
            await self.send(text_data=event["html"])

    async def session_changed(self, event):
        if not self.group or event.get("what") not in WHATS:
            return
        if event["what"] == "status" and not self.ended and await database_sync_to_async(ended_swaps)(self.session_id):
            await self.resync()  # the lab ended: every part drawn again, read-only, and the controls swapped out
            return
        html = await database_sync_to_async(render_one_fragment)(event["what"], self.session_id, self.read_only)
        if event["what"] == "status":
            html += await database_sync_to_async(render_namespace_section)(self.session_id)
        if html:
            await self.send(text_data=html)
        followed = self.following
        if event["what"] == "balancer" and followed is not None and followed.kind == "services":
            # An open Service dialog describes its cloud balancer: a new step redraws it.
            dialog = await database_sync_to_async(dialogs.render_follow_update, thread_sensitive=False)(
                self.session_id, followed, self.state, not self.read_only)
            if dialog:
                await self.send(text_data=dialog)
