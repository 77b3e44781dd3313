"""One loopback port that speaks both https (kubectl, the kubeconfig) and plain http:
the first byte of each connection tells a TLS handshake (0x16) from an HTTP request."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable

log = logging.getLogger("sandbox.listener")


class DualListener:
    def __init__(self, host: str, port: int, protocol_factory: Callable, ssl_context: ssl.SSLContext):
        self.host = host
        self.port = port
        self.protocol_factory = protocol_factory
        self.ssl_context = ssl_context
        self._sock: socket.socket | None = None
        self._task: asyncio.Task | None = None
        self._pending: set[asyncio.Task] = set()

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(256)
        sock.setblocking(False)
        self._sock = sock
        self._task = asyncio.get_running_loop().create_task(self._accept_loop())

    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._sock is not None
        while True:
            try:
                conn, _ = await loop.sock_accept(self._sock)
            except asyncio.CancelledError:
                raise
            except OSError as e:  # pragma: no cover - e.g. EMFILE
                log.warning("accept failed: %s", e)
                await asyncio.sleep(0.1)
                continue
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = loop.create_task(self._hand_off(conn))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _hand_off(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        readable = loop.create_future()
        loop.add_reader(conn.fileno(), lambda: readable.done() or readable.set_result(None))
        try:
            await asyncio.wait_for(readable, 30)
            first = conn.recv(1, socket.MSG_PEEK)
        except (TimeoutError, OSError):
            loop.remove_reader(conn.fileno())
            conn.close()
            return
        finally:
            if not conn._closed:  # type: ignore[attr-defined]
                loop.remove_reader(conn.fileno())
        if not first:
            conn.close()
            return
        tls = first == b"\x16"
        try:
            await loop.connect_accepted_socket(self.protocol_factory, conn,
                                               ssl=self.ssl_context if tls else None,
                                               ssl_handshake_timeout=10 if tls else None)
        except (TimeoutError, OSError, ssl.SSLError) as e:
            log.debug("connection dropped: %s", e)
            conn.close()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for t in list(self._pending):
            t.cancel()
        if self._sock:
            self._sock.close()
