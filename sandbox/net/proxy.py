"""Raw TCP listeners that splice each connection to a backend chosen per connection."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable

log = logging.getLogger("sandbox.net.proxy")

# -> list of (ip, port) candidates, in the order to try them
BackendPicker = Callable[[], list[tuple[str, int]]]


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError, asyncio.IncompleteReadError):
        pass


def reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    writer.close()


class TCPProxy:
    """One listener on ip:port; each accepted connection goes to the first backend
    (from `pick()`, called per connection) that accepts it."""

    def __init__(self, ip: str, port: int, pick: BackendPicker, connect_timeout: float = 2.0) -> None:
        self.ip, self.port = ip, port
        self.pick = pick
        self.connect_timeout = connect_timeout
        self.server: asyncio.AbstractServer | None = None
        self._conns: set[asyncio.Task] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, self.ip, self.port, reuse_address=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._conns.add(task)
        up_writer = None
        try:
            for ip, port in self.pick():
                try:
                    up_reader, up_writer = await asyncio.wait_for(
                        asyncio.open_connection(ip, port), self.connect_timeout)
                    break
                except (TimeoutError, OSError):
                    continue
            if up_writer is None:
                reset(writer)
                return
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        except asyncio.CancelledError:
            # closing the listener: reset the client (the task must not end cancelled,
            # asyncio's stream callback would log it)
            reset(writer)
        finally:
            self._conns.discard(task)
            for w in (writer, up_writer):
                if w is not None:
                    w.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            for task in list(self._conns):
                task.cancel()
            await asyncio.gather(*self._conns, return_exceptions=True)
            try:
                await asyncio.wait_for(self.server.wait_closed(), 1.0)
            except TimeoutError:
                pass
            self.server = None
