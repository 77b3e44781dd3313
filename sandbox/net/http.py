"""The HTTP server a running pod's container answers with: a minimal HTTP/1.1
server that looks like nginx (welcome page naming the pod, access log lines)."""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import html
import logging
import time
from collections.abc import Callable

log = logging.getLogger("sandbox.net.http")

SERVER = "nginx/1.27.3"

WELCOME = """<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html {{ color-scheme: light dark; }}
body {{ width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }}
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p>Served by pod <code>{pod}</code> on node <code>{node}</code></p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"""

ERROR = """<html>
<head><title>{code} {reason}</title></head>
<body>
<center><h1>{code} {reason}</h1></center>
<hr><center>nginx/1.27.3</center>
</body>
</html>
"""

REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Not Allowed",
           413: "Request Entity Too Large"}


def access_log_line(peer: str, method: str, target: str, version: str, status: int, size: int,
                    referer: str, agent: str) -> str:
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
    return (f'{peer} - - [{stamp}] "{method} {target} {version}" {status} {size} '
            f'"{referer or "-"}" "{agent or "-"}" "-"')


class PodHTTPServer:
    """Serves one pod's port. `on_log(line)` receives one access-log line per request."""

    def __init__(self, ip: str, port: int, pod: str, node: str, on_log: Callable[[str], None],
                 body: str | None = None, content_type: str = "text/html") -> None:
        self.ip, self.port = ip, port
        self.pod, self.node = pod, node
        self.on_log = on_log
        self.body = (body if body is not None else
                     WELCOME.format(pod=html.escape(pod), node=html.escape(node))).encode()
        self.content_type = content_type
        self.etag = '"' + hashlib.md5(self.body).hexdigest()[:12] + '"'
        self.last_modified = email.utils.formatdate(usegmt=True)
        self.server: asyncio.AbstractServer | None = None
        self._conns: set[asyncio.Task] = set()

    async def start(self) -> None:
        await self.bind()
        await self.serve()

    async def bind(self) -> None:
        """Take the address and port without accepting connections yet (they are refused,
        as by a container that has not started). Raises OSError if it cannot be bound."""
        if self.server is None:
            self.server = await asyncio.start_server(self._handle, self.ip, self.port, reuse_address=True,
                                                     start_serving=False)

    async def serve(self) -> None:
        """Start accepting connections. Raises OSError if the port cannot be listened on."""
        if self.server is None:
            await self.bind()
        assert self.server is not None
        await self.server.start_serving()

    async def close(self) -> None:
        if self.server is None:
            return
        self.server.close()
        for task in list(self._conns):
            task.cancel()
        await asyncio.gather(*self._conns, return_exceptions=True)
        self.server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._conns.add(task)
        peer = (writer.get_extra_info("peername") or ("-",))[0]
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 75)
                except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    break
                keep = await self._respond(head, reader, writer, peer)
                if not keep:
                    break
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass  # a cancelled handler must end normally (asyncio's stream callback would log it)
        finally:
            self._conns.discard(task)
            writer.close()

    async def _respond(self, head: bytes, reader, writer, peer: str) -> bool:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split()
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            await self._send(writer, 400, "GET", False)
            self.on_log(access_log_line(peer, *(parts + ["", "", ""])[:3], 400, 157, "", ""))
            return False
        method, target, version = parts
        length = int(headers.get("content-length") or 0)
        if length:
            if length > 1 << 20:
                await self._send(writer, 413, method, False)
                return False
            await reader.readexactly(length)
        conn = headers.get("connection", "").lower()
        keep = (version == "HTTP/1.1" and conn != "close") or (version == "HTTP/1.0" and conn == "keep-alive")
        path = target.split("?", 1)[0]
        if path not in ("/", "/index.html"):
            status = 404
        elif method not in ("GET", "HEAD"):
            status = 405
        else:
            status = 200
        size = await self._send(writer, status, method, keep)
        self.on_log(access_log_line(peer, method, target, version, status, size,
                                    headers.get("referer", ""), headers.get("user-agent", "")))
        return keep

    async def _send(self, writer, status: int, method: str, keep: bool) -> int:
        reason = REASONS.get(status, "Error")
        if status == 200:
            body, ctype = self.body, self.content_type
        else:
            body, ctype = ERROR.format(code=status, reason=reason).encode(), "text/html"
        head = [
            f"HTTP/1.1 {status} {reason}",
            f"Server: {SERVER}",
            f"Date: {email.utils.formatdate(usegmt=True)}",
            f"Content-Type: {ctype}",
            f"Content-Length: {len(body)}",
        ]
        if status == 200:
            head += [f"Last-Modified: {self.last_modified}", f"ETag: {self.etag}", "Accept-Ranges: bytes"]
        head += [f"Connection: {'keep-alive' if keep else 'close'}", f"X-Pod-Name: {self.pod}"]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if method != "HEAD":
            writer.write(body)
        await writer.drain()
        return len(body) if method != "HEAD" else 0


def nginx_startup_lines(version: str = "1.27.3") -> list[str]:
    stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime())
    return [
        "/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform configuration",
        "/docker-entrypoint.sh: Looking for shell scripts in /docker-entrypoint.d/",
        "/docker-entrypoint.sh: Launching /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh",
        "10-listen-on-ipv6-by-default.sh: info: Getting the checksum of /etc/nginx/conf.d/default.conf",
        "10-listen-on-ipv6-by-default.sh: info: Enabled listen on IPv6 in /etc/nginx/conf.d/default.conf",
        "/docker-entrypoint.sh: Sourcing /docker-entrypoint.d/15-local-resolvers.envsh",
        "/docker-entrypoint.sh: Launching /docker-entrypoint.d/20-envsubst-on-templates.sh",
        "/docker-entrypoint.sh: Launching /docker-entrypoint.d/30-tune-worker-processes.sh",
        "/docker-entrypoint.sh: Configuration complete; ready for start up",
        f'{stamp} [notice] 1#1: using the "epoll" event method',
        f"{stamp} [notice] 1#1: nginx/{version}",
        f"{stamp} [notice] 1#1: built by gcc 12.2.0 (Debian 12.2.0-14) ",
        f"{stamp} [notice] 1#1: OS: Linux 6.8.0-sandbox",
        f"{stamp} [notice] 1#1: getrlimit(RLIMIT_NOFILE): 1048576:1048576",
        f"{stamp} [notice] 1#1: start worker processes",
        f"{stamp} [notice] 1#1: start worker process 29",
        f"{stamp} [notice] 1#1: start worker process 30",
    ]
