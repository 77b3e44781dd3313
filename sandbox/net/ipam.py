"""Allocation of loopback addresses from a network: node addresses, pod IPs and
load-balancer IPs of the cluster, floating IPs and fixed IPs of the sandbox cloud
(sandbox/openstack/network.py). The one mechanism every address a sandbox hands out
goes through.

Several sandboxes can run on one machine (a `make run` beside a test run) with
the same ranges, and every loopback address is reachable by all of them, so an
address is only handed out when no other process has a socket on it:

- before picking, the pool reads the sockets of the machine from /proc/net
  (tcp, tcp6, udp, udp6: listening, bound or connected, any port) and skips
  every address one of them is bound to; one read per allocation;
- the address it picks is then claimed with a UDP socket bound to
  (address, CLAIM_PORT), held until the address is released. The kernel lets
  only one socket bind that pair, so two sandboxes picking the same address at
  the same moment cannot both get it, and the claim is what the other
  sandboxes' /proc reads see even while nothing else listens on the address
  (a node, a pod without ports).
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
from collections.abc import Callable, Iterable

log = logging.getLogger("sandbox.net.ipam")

# The UDP port of the claim sockets (the kubelet's old read-only port, on UDP:
# nothing in a sandbox serves UDP on pool addresses).
CLAIM_PORT = 10255

_PROC_TABLES = ("/proc/net/tcp", "/proc/net/tcp6", "/proc/net/udp", "/proc/net/udp6")
_V4_MAPPED = "0000000000000000FFFF0000"


class PoolExhausted(Exception):
    pass


def _hex_ipv4(word: str) -> str:
    """The 8 hex digits /proc/net writes for an IPv4 address (host byte order) -> dotted quad."""
    return socket.inet_ntoa(bytes.fromhex(word)[::-1])


def bound_addresses() -> set[str]:
    """IPv4 addresses (also as IPv4-mapped IPv6) that some socket of this machine is bound to.

    Wildcard binds (0.0.0.0, ::) name no address and are left out: they block a
    port on every address, which the kubelet finds out when it binds that port.
    """
    words: set[str] = set()  # each address once: a pod holds several sockets on its address
    for table in _PROC_TABLES:
        try:
            with open(table) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split(None, 2)
            if len(parts) < 2:
                continue
            addr = parts[1].rpartition(":")[0].upper()
            if len(addr) == 32:
                if not addr.startswith(_V4_MAPPED):
                    continue
                addr = addr[24:]
            if len(addr) != 8 or addr == "00000000":
                continue
            words.add(addr)
    out: set[str] = set()
    for addr in words:
        try:
            out.add(_hex_ipv4(addr))
        except ValueError:
            continue
    return out


def claim(ip: str) -> socket.socket | None:
    """Bind the claim socket of `ip`; None if another process holds that address.

    Raises OSError when the address cannot be bound at all (not a local address).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        try:
            sock.bind((ip, CLAIM_PORT))
            return sock
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                raise
        # Someone holds (ip, CLAIM_PORT): another sandbox's claim, unless it is a
        # wildcard socket on that port (then the address itself is still free).
        if ip in bound_addresses():
            sock.close()
            return None
        sock.bind((ip, 0))
        return sock
    except BaseException:
        sock.close()
        raise


class AddressPool:
    """Hands out host addresses of a network, cycling so freed ones are reused last,
    and never one that another process has a socket on (see the module docstring).

    `first` and `last` narrow what `allocate` hands out to a range of the network
    (offsets from the network address, like a subnet's allocation pool; default:
    every host address). `avoid` names addresses this pool must never hand out nor
    reserve although nothing may hold them yet (the cloud's fixed-IP pool shares the
    node network: the nodes' InternalIPs); it is asked once per allocation.
    """

    def __init__(self, network, first: int | None = None, last: int | None = None,
                 avoid: Callable[[], Iterable[str]] | None = None) -> None:
        self.network = ipaddress.IPv4Network(network, strict=False)
        base, top = int(self.network.network_address), int(self.network.broadcast_address)
        lo, hi = (base, top) if self.network.prefixlen >= 31 else (base + 1, top - 1)
        self._first = lo if first is None else max(lo, base + first)
        self._last = hi if last is None else min(hi, base + last)
        self._next = self._first
        self._avoid = avoid
        self.used: dict[str, str] = {}  # ip -> owner
        self._claims: dict[str, socket.socket] = {}

    def allocate(self, owner: str) -> str:
        """An address for `owner` (the one it holds already, if any)."""
        held = self.owner_ip(owner)
        if held is not None:
            return held
        taken = bound_addresses() | self._avoided()
        size = self._last - self._first + 1
        for _ in range(max(size, 0)):
            candidate = str(ipaddress.IPv4Address(self._next))
            self._next = self._next + 1 if self._next < self._last else self._first
            if candidate in self.used or candidate in taken:
                continue
            if self._claim(candidate):
                self.used[candidate] = owner
                return candidate
        raise PoolExhausted(f"no free IP address in pool {self.network}")

    def reserve(self, ip: str, owner: str) -> bool:
        """Hold a requested address of the network (inside or outside the range) for
        `owner`; False if it is taken, here or elsewhere on the machine."""
        if ip in self.used:
            return self.used[ip] == owner
        if ipaddress.IPv4Address(ip) not in self.network or ip in self._avoided():
            return False
        if ip in bound_addresses() or not self._claim(ip):
            return False
        self.used[ip] = owner
        return True

    def release(self, ip: str | None) -> None:
        if ip:
            self.used.pop(ip, None)
            sock = self._claims.pop(ip, None)
            if sock is not None:
                sock.close()

    def owner_ip(self, owner: str) -> str | None:
        for ip, who in self.used.items():
            if who == owner:
                return ip
        return None

    def close(self) -> None:
        """Release every address (the sandbox is stopping)."""
        for ip in list(self.used):
            self.release(ip)

    def _avoided(self) -> set[str]:
        return set(self._avoid()) if self._avoid is not None else set()

    def _claim(self, ip: str) -> bool:
        try:
            sock = claim(ip)
        except OSError as e:
            # Not bindable here at all: nothing else can be listening on it either.
            log.warning("cannot claim %s: %s", ip, e)
            return True
        if sock is None:
            return False
        self._claims[ip] = sock
        return True
