"""Telling open lab pages to redraw a part of themselves.

Lifecycle, revisions and checks call notify_session(session_id, what) after
they changed the database; each socket of the session redraws that part from
the database (its whole current state, so a lost message is healed by the next).
"""

from __future__ import annotations

import logging
import secrets
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction

from clouds.watch import state as observed
from labs.signals import session_notified

logger = logging.getLogger(__name__)

WHATS = ("status", "checks", "revisions", "dns", "balancer", "messages", "path")


def group_name(session_id) -> str:
    """The channel-layer group of a session (same as LabSession.group_name)."""
    if not isinstance(session_id, uuid.UUID):
        session_id = uuid.UUID(str(session_id))
    return f"session-{session_id.hex}"


def notify_session(session_id, what: str) -> None:
    """Ask every open page of the session to redraw `what` (status, checks, revisions, dns, balancer, messages
    or path).

    A plain function for views and Celery tasks (not for code already running
    in an event loop: await channel_layer.group_send there).
    """
    if what not in WHATS:
        raise ValueError(f"unknown part {what!r}; one of {', '.join(WHATS)}")
    session_changed(session_id)
    try:
        layer = get_channel_layer()
        async_to_sync(layer.group_send)(group_name(session_id), {"type": "session.changed", "what": what})
    except Exception:  # the page heals on the next message or on reconnect
        logger.exception("could not notify session %s", session_id)
    for receiver, result in session_notified.send_robust(sender=None, session_id=session_id, what=what):
        if isinstance(result, Exception):
            logger.error("%s failed on session %s: %r", receiver, session_id, result)


# A session's version: a random token replaced whenever what its page shows changed in the database.
# labs.live.resync_cache uses a drawn resync only under the version it was drawn at; a version gone
# (after a day without change) is drawn anew, and nothing kept before can match it.
VERSION_TTL = 24 * 3600


def version_key(session_id) -> str:
    if not isinstance(session_id, uuid.UUID):
        session_id = uuid.UUID(str(session_id))
    return f"liveops:session-version:{session_id.hex}"


def session_changed(*session_ids) -> None:
    """Give each session a new version: now, and inside a transaction once more when it committed (a resync
    drawn in between still read the old rows, and was kept under the first new version)."""
    if not session_ids:
        return
    _new_versions(session_ids)
    if connection.in_atomic_block:
        transaction.on_commit(lambda: _new_versions(session_ids))


def _new_versions(session_ids) -> None:
    try:
        pipe = observed.client().pipeline(transaction=False)
        for session_id in session_ids:
            pipe.set(version_key(session_id), secrets.token_hex(8), ex=VERSION_TTL)
        pipe.execute()
    except Exception:  # noqa: BLE001 - the writer goes on; a cached resync lives 15 minutes at most
        logger.exception("could not mark %d session(s) changed", len(session_ids))


def changed_since_drawn(part: str, session_id: uuid.UUID, digest: str) -> bool:
    """Whether a part of the session's page shows something else than when last drawn (`digest` of what it
    shows, kept a day in Redis). Without Redis, True: redraw every time rather than miss a change."""
    key = f"liveops:{part}:{session_id.hex}"
    try:
        r = observed.client()
        previous = r.getset(key, digest)
        r.expire(key, 24 * 3600)
    except Exception:  # noqa: BLE001
        return True
    return previous is None or previous.decode() != digest
