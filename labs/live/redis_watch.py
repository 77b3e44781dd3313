"""Open sockets catch up after Redis restarted or came back from an outage.

While Redis is away, what is published is lost: the watcher's changes and notify_session's "redraw this
part" never reach this process, whose sockets stay open (uvicorn holds them, the channel layer reconnects
quietly) and go on showing the past until that part changes again. A restart also loses what was published
before the channel layer subscribed again. So each web process keeps an eye on Redis: every CHECK_EVERY
seconds it reads `INFO server` (its run_id changes at every restart) and notes a failed read (an outage).
Once Redis answers again after either, every socket registered here resyncs (sends the present), each after
the channel layer had time to subscribe again and a random delay spread over SPREAD seconds, so a thousand
sockets do not all draw at once.

The monitor runs on the event loop of the sockets, started by the first one registered; it ends when the
last one leaves (a later socket starts it again: it resyncs on connect anyway).
"""

from __future__ import annotations

import asyncio
import logging
import random
import weakref

import redis.asyncio as aioredis
from django.conf import settings

logger = logging.getLogger(__name__)

CHECK_EVERY = 2.0
READ_TIMEOUT = 1.5  # a Redis that does not answer INFO within this is away
RESUBSCRIBE_GRACE = 1.5  # channels_redis's pub/sub reader tries its connection again every second
SPREAD = 2.0

# socket -> the name of its coroutine method that resyncs it (a weak key: a socket gone is forgotten)
_sockets: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_monitor: asyncio.Task | None = None


def register(consumer, resync: str = "request_resync") -> None:
    """Resync `consumer` (by awaiting its method `resync`) whenever Redis comes back."""
    global _monitor
    _sockets[consumer] = resync
    loop = asyncio.get_running_loop()
    if _monitor is None or _monitor.done() or _monitor.cancelling() or _monitor.get_loop() is not loop:
        _monitor = loop.create_task(_watch_redis(), name="liveops-redis-watch")


def unregister(consumer) -> None:
    _sockets.pop(consumer, None)
    if not _sockets and _monitor is not None and not _monitor.done() and _monitor.get_loop() is _running_loop():
        _monitor.cancel()  # the last socket of the process left: nothing to resync (the next one starts it)


def _running_loop():
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def _watch_redis() -> None:
    client = aioredis.from_url(settings.REDIS_URL, socket_connect_timeout=READ_TIMEOUT,
                               socket_timeout=READ_TIMEOUT)
    run_id, away = None, False
    try:
        while _sockets:
            try:
                now = (await asyncio.wait_for(client.info("server"), READ_TIMEOUT * 2)).get("run_id")
            except Exception as exc:  # noqa: BLE001 - Redis away, whatever the way it fails
                if not away:
                    logger.warning("Redis is away (%s): open pages resync once it is back", exc)
                away = True
            else:
                restarted = run_id is not None and now != run_id
                if away or restarted:
                    await _forget_kept_resyncs(client)
                    _resync_all("restarted" if restarted else "back")
                run_id, away = now, False
            await asyncio.sleep(CHECK_EVERY)
    finally:
        await client.aclose()


EPOCH_KEY = "liveops:resync:epoch"  # read by labs.live.resync_cache: part of every kept resync's stamp


async def _forget_kept_resyncs(client) -> None:
    """While Redis was away, the writers could not give their sessions a new version: a resync kept from
    before could look current. A new epoch makes every kept resync miss once."""
    try:
        await client.incr(EPOCH_KEY)
    except Exception:  # noqa: BLE001 - away again: the next return does it
        logger.warning("could not start a new resync epoch")


def _resync_all(why: str) -> None:
    loop = asyncio.get_running_loop()
    sockets = list(_sockets.items())
    logger.warning("Redis %s: resyncing %d open socket(s) of this process", why, len(sockets))
    for consumer, method in sockets:
        loop.call_later(RESUBSCRIBE_GRACE + random.uniform(0, SPREAD), _resync_one, weakref.ref(consumer), method)


def _resync_one(ref, method: str) -> None:
    consumer = ref()
    if consumer is not None and consumer in _sockets:  # not disconnected meanwhile
        asyncio.ensure_future(_resync(consumer, method))


async def _resync(consumer, method: str) -> None:
    try:
        await getattr(consumer, method)()
    except Exception:  # the socket may have closed meanwhile; the next change or resync heals it
        logger.exception("could not resync a socket after Redis came back")
