"""Sending channel-layer messages from the watcher without waiting for Redis."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

logger = logging.getLogger(__name__)

MAX_PENDING_SENDS = 10000


class Publisher:
    """Sends channel-layer messages from one event loop in its own thread.

    publish() never waits for Redis: it queues the send and returns. If Redis
    stalls and too many sends pile up, new ones are dropped (each message
    carries the whole state, so the next one, or a reconnect, heals it).
    """

    def __init__(self, max_pending: int = MAX_PENDING_SENDS):
        from channels.layers import get_channel_layer

        self.layer = get_channel_layer()
        self.loop = asyncio.new_event_loop()
        self.max_pending = max_pending
        self.pending = 0
        self.sent = 0
        self.dropped = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.loop.run_forever, name="watcher-publisher", daemon=True)
        self._thread.start()

    def publish(self, group: str, message: dict) -> None:
        with self._lock:
            if self.pending >= self.max_pending:
                self.dropped += 1
                return
            self.pending += 1
        future = asyncio.run_coroutine_threadsafe(self.layer.group_send(group, message), self.loop)
        future.add_done_callback(self._done)

    def _done(self, future) -> None:
        with self._lock:
            self.pending -= 1
            self.sent += 1
        exc = future.exception()
        if exc is not None:
            logger.warning("could not publish a change: %s", exc)

    def flush(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while self.pending and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self.pending

    def stop(self) -> None:
        self.flush(2)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
