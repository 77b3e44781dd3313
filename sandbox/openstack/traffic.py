"""Real TCP listeners on floating IPs, following the cloud's state.

- Octavia: a floating IP on the VIP port of an ACTIVE (or PENDING_UPDATE) balancer
  opens FIP:protocol_port for each TCP/HTTP/HTTPS listener that has a default pool,
  forwarding round robin to the pool's enabled members (address:protocol_port),
  skipping members that refuse; a PROXY / PROXYV2 pool sends a PROXY v1 / v2 header.
- Taikun LB: a floating IP on a port whose fixed IP is in the allowed_address_pairs
  of servers booted from the `taikun-lb` image opens each `bind` port of the HAProxy
  configuration of the ACTIVE server holding the VIP (userdata.py), forwarding to
  its backend's servers (`send-proxy` / `send-proxy-v2` -> PROXY v1 / v2 header).

Listeners close as soon as the state no longer wants them (FIP disassociated or
deleted, balancer or servers deleted or stopped). Bind failures are retried.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import struct
from collections.abc import Callable

from ..net.proxy import pipe, reset

log = logging.getLogger("sandbox.openstack.traffic")

# -> [(address, port, proxy mode or None)]
Picker = Callable[[], list[tuple[str, int, str | None]]]

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def proxy_header(mode: str, src: tuple[str, int], dst: tuple[str, int]) -> bytes:
    if mode == "v1":
        return f"PROXY TCP4 {src[0]} {dst[0]} {src[1]} {dst[1]}\r\n".encode()
    addrs = socket.inet_aton(src[0]) + socket.inet_aton(dst[0]) + struct.pack("!HH", src[1], dst[1])
    return V2_SIGNATURE + bytes([0x21, 0x11]) + struct.pack("!H", len(addrs)) + addrs


class Forwarder:
    """A listener on ip:port; each connection goes to the next backend (round robin)
    that accepts it, with a PROXY header first when the backend asks for one.
    (Like sandbox/net/proxy.py's TCPProxy, plus PROXY protocol.)"""

    def __init__(self, ip: str, port: int, pick: Picker, connect_timeout: float = 2.0) -> None:
        self.ip, self.port = ip, port
        self.pick = pick
        self.connect_timeout = connect_timeout
        self.server: asyncio.AbstractServer | None = None
        self._conns: set[asyncio.Task] = set()
        self._rr = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, self.ip, self.port, reuse_address=True)

    def _candidates(self) -> list[tuple[str, int, str | None]]:
        backends = self.pick()
        if not backends:
            return []
        i = self._rr % len(backends)
        self._rr += 1
        return backends[i:] + backends[:i]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._conns.add(task)
        up_writer = None
        try:
            for ip, port, mode in self._candidates():
                try:
                    up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(ip, port),
                                                                  self.connect_timeout)
                except (TimeoutError, OSError):
                    continue
                if mode:
                    peer = writer.get_extra_info("peername") or ("0.0.0.0", 0)
                    local = writer.get_extra_info("sockname") or (self.ip, self.port)
                    up_writer.write(proxy_header(mode, peer[:2], local[:2]))
                break
            if up_writer is None:
                reset(writer)
                return
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        except asyncio.CancelledError:
            reset(writer)
        finally:
            self._conns.discard(task)
            for w in (writer, up_writer):
                if w is not None:
                    w.close()

    async def close(self) -> None:
        if self.server is None:
            return
        self.server.close()
        for task in list(self._conns):
            task.cancel()
        await asyncio.gather(*self._conns, return_exceptions=True)
        try:
            await asyncio.wait_for(self.server.wait_closed(), 1.0)
        except TimeoutError:
            pass
        self.server = None


class Traffic:
    """Keeps the set of open Forwarders equal to what the cloud's state wants."""

    def __init__(self, cloud) -> None:
        self.cloud = cloud
        self.open: dict[tuple[str, int], tuple[tuple, Forwarder]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.failures: dict[tuple[str, int], str] = {}

    def poke(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="openstack-traffic")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for _, fwd in list(self.open.values()):
            await fwd.close()
        self.open.clear()

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), 1.0 if self.failures else 5.0)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.reconcile()
            except Exception:
                log.exception("reconciling floating-IP listeners failed")

    async def reconcile(self) -> None:
        wanted = self.wanted()
        for key in list(self.open):
            sig, fwd = self.open[key]
            if key not in wanted or wanted[key][0] != sig:
                del self.open[key]
                await fwd.close()
        self.failures = {}
        for key, (sig, pick) in wanted.items():
            if key in self.open:
                self.open[key][1].pick = pick
                continue
            fwd = Forwarder(key[0], key[1], pick)
            try:
                await fwd.start()
            except OSError as e:
                self.failures[key] = str(e)
                log.warning("cannot listen on %s:%s: %s", key[0], key[1], e)
                continue
            self.open[key] = (sig, fwd)

    # ---- what the state wants -------------------------------------------------------------------

    def wanted(self) -> dict[tuple[str, int], tuple[tuple, Picker]]:
        net = self.cloud.network
        out: dict[tuple[str, int], tuple[tuple, Picker]] = {}
        for fip in net.floatingips.values():
            port = net.ports.get(fip.get("port_id") or "")
            if port is None:
                continue
            address = fip["floating_ip_address"]
            vip = fip.get("fixed_ip_address") or net.port_address(port["id"])
            out.update(self._octavia(address, port))
            if vip:
                for key, value in self._taikun(address, vip).items():
                    out.setdefault(key, value)
        return out

    def _octavia(self, address: str, port: dict) -> dict:
        octavia = self.cloud.loadbalancer
        out = {}
        for lb in octavia.lbs.values():
            if lb["vip_port_id"] != port["id"] or not lb["admin_state_up"]:
                continue
            if lb["provisioning_status"] not in ("ACTIVE", "PENDING_UPDATE"):
                continue
            for lis in octavia.tables["listeners"].values():
                if lis["loadbalancer_id"] != lb["id"] or not lis["admin_state_up"]:
                    continue
                if lis["provisioning_status"] in ("PENDING_CREATE", "ERROR") or lis["protocol"] in ("UDP", "SCTP"):
                    continue
                pool_id = lis.get("default_pool_id")
                if not pool_id or pool_id not in octavia.tables["pools"]:
                    continue
                out[(address, int(lis["protocol_port"]))] = (("octavia", lb["id"], lis["id"]),
                                                             self._pool_picker(pool_id))
        return out

    def _pool_picker(self, pool_id: str) -> Picker:
        octavia = self.cloud.loadbalancer

        def pick() -> list[tuple[str, int, str | None]]:
            pool = octavia.tables["pools"].get(pool_id)
            if pool is None or not pool["admin_state_up"]:
                return []
            mode = {"PROXY": "v1", "PROXYV2": "v2"}.get(pool["protocol"])
            members = [m for m in octavia.tables["members"].values()
                       if m["pool_id"] == pool_id and m["admin_state_up"] and m["provisioning_status"] != "PENDING_CREATE"
                       and m.get("weight", 1) != 0]
            primary = [m for m in members if not m.get("backup")]
            chosen = primary or members
            return [(m["address"], int(m["protocol_port"]), mode) for m in chosen]
        return pick

    def _taikun(self, address: str, vip: str) -> dict:
        net = self.cloud.network
        compute = self.cloud.compute
        holders = []
        for server in compute.servers.values():
            config = server.get("_taikun")
            if config is None or server["status"] != "ACTIVE" or server["OS-EXT-STS:task_state"] == "deleting":
                continue
            if not any(_pair_covers(pair["ip_address"], vip)
                       for pid in server["_ports"] if pid in net.ports
                       for pair in net.ports[pid]["allowed_address_pairs"]):
                continue
            inst = config.holds(vip)
            if inst is None:
                continue
            holders.append((inst.priority, inst.state == "MASTER", server["name"], server))
        if not holders:
            return {}
        holders.sort(key=lambda h: (-h[0], not h[1], h[2]))
        server = holders[0][3]
        config = server["_taikun"]
        out = {}
        for front in config.frontends:
            for bind_addr, bind_port in front.binds:
                if bind_addr not in ("*", "0.0.0.0", "::", vip):
                    continue
                if front.backend not in config.backends:
                    continue
                out[(address, bind_port)] = (("taikun", server["id"], front.name, front.backend),
                                             self._haproxy_picker(server["id"], front.backend))
        return out

    def _haproxy_picker(self, server_id: str, backend: str) -> Picker:
        compute = self.cloud.compute

        def pick() -> list[tuple[str, int, str | None]]:
            server = compute.servers.get(server_id)
            if server is None or server.get("_taikun") is None:
                return []
            return [(b.address, b.port, b.proxy) for b in server["_taikun"].backends.get(backend, [])]
        return pick


def _pair_covers(pair: str, ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(pair, strict=False)
    except ValueError:
        return False
