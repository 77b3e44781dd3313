"""Allocation of loopback addresses from a network (pod IPs, load-balancer IPs)."""

from __future__ import annotations

import ipaddress


class PoolExhausted(Exception):
    pass


class AddressPool:
    """Hands out host addresses of a network, cycling so freed ones are reused last."""

    def __init__(self, network, skip_first: int = 0) -> None:
        self.network = ipaddress.IPv4Network(network)
        first = int(self.network.network_address) + 1 + skip_first
        last = int(self.network.broadcast_address) - 1
        if self.network.prefixlen >= 31:
            first, last = int(self.network.network_address), int(self.network.broadcast_address)
        self._first, self._last = first, last
        self._next = first
        self.used: dict[str, str] = {}  # ip -> owner

    def allocate(self, owner: str) -> str:
        for ip, who in self.used.items():
            if who == owner:
                return ip
        size = self._last - self._first + 1
        for _ in range(size):
            candidate = str(ipaddress.IPv4Address(self._next))
            self._next = self._next + 1 if self._next < self._last else self._first
            if candidate not in self.used:
                self.used[candidate] = owner
                return candidate
        raise PoolExhausted(f"no free IP address in pool {self.network}")

    def reserve(self, ip: str, owner: str) -> bool:
        if ip in self.used and self.used[ip] != owner:
            return False
        if ipaddress.IPv4Address(ip) not in self.network:
            return False
        self.used[ip] = owner
        return True

    def release(self, ip: str | None) -> None:
        if ip:
            self.used.pop(ip, None)

    def owner_ip(self, owner: str) -> str | None:
        for ip, who in self.used.items():
            if who == owner:
                return ip
        return None
