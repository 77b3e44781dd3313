"""Loopback addresses the sandbox cloud hands out (floating IPs, fixed IPs), checked
free on this machine when handed out, and held while they are in use.

An address is free when no socket of this machine (any process, TCP or UDP, IPv4)
is bound to it, read from /proc/net/{tcp,udp}. While the cloud owns an address it
holds a claim: a UDP socket bound to (address, ephemeral port). So a second sandbox
(or a second cloud) scanning /proc sees the address taken even before a real TCP
listener opens on it, and two sandboxes never answer for each other.
(The lead may merge this with the helper the cluster side uses.)
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path


def _proc_addresses(tables: Iterable[str] = ("tcp", "udp")) -> set[str]:
    out: set[str] = set()
    for table in tables:
        try:
            lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) < 4:
                continue
            hex_ip = parts[1].split(":", 1)[0]
            try:
                ip = socket.inet_ntoa(int(hex_ip, 16).to_bytes(4, "little"))
            except (ValueError, OverflowError):
                continue
            out.add(ip)
    return out


def address_in_use(ip: str) -> bool:
    """True if any socket on this machine is bound to `ip` (wildcard binds do not count)."""
    return ip in _proc_addresses()


class AddressExhausted(Exception):
    pass


class ClaimedPool:
    """Host addresses of a network handed out one by one, each checked free on the
    machine and claimed (see the module docstring) until released."""

    def __init__(self, network, first: int = 1, last: int | None = None, exclude: Iterable[str] = ()) -> None:
        self.network = ipaddress.IPv4Network(network, strict=False)
        base = int(self.network.network_address)
        top = int(self.network.broadcast_address) - 1
        self.first = base + first
        self.last = min(top, base + last) if last is not None else top
        self.exclude = set(exclude)
        self.claims: dict[str, socket.socket] = {}
        self._next = self.first

    def _candidates(self) -> Iterator[str]:
        size = self.last - self.first + 1
        for _ in range(max(size, 0)):
            ip = str(ipaddress.IPv4Address(self._next))
            self._next = self._next + 1 if self._next < self.last else self.first
            yield ip

    def allocate(self, busy: Iterable[str] = ()) -> str:
        busy = set(busy) | self.exclude
        in_use = _proc_addresses()
        for ip in self._candidates():
            if ip in self.claims or ip in busy or ip in in_use:
                continue
            if self._claim(ip):
                return ip
        raise AddressExhausted(f"no free address in {self.network}")

    def take(self, ip: str, busy: Iterable[str] = ()) -> bool:
        """Claim a requested address: False if it is taken (here or elsewhere on the machine)."""
        if ip in self.claims or ip in set(busy) or ip in self.exclude:
            return False
        if ipaddress.IPv4Address(ip) not in self.network or address_in_use(ip):
            return False
        return self._claim(ip)

    def _claim(self, ip: str) -> bool:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((ip, 0))
        except OSError:
            sock.close()
            return False
        self.claims[ip] = sock
        return True

    def release(self, ip: str | None) -> None:
        sock = self.claims.pop(ip or "", None)
        if sock is not None:
            sock.close()

    def close(self) -> None:
        for ip in list(self.claims):
            self.release(ip)
