"""kube-proxy's nodePorts: for every Service of type NodePort or LoadBalancer, a
listener on every node's InternalIP at each port's nodePort, spreading connections
(round robin, skipping endpoints that refuse) over the Service's ready endpoints.

This is what an outside load balancer (the sandbox cloud's Octavia or Taikun LB)
forwards to: members are node addresses and nodePorts, as on a real cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from ..net.proxy import TCPProxy
from .base import Controller, Key, is_terminating
from .endpoints import ready_backends

log = logging.getLogger("sandbox.nodeports")


def _node_addresses(store) -> list[str]:
    out = []
    for node in store.scan("nodes"):
        for addr in (node.get("status") or {}).get("addresses") or []:
            if addr.get("type") == "InternalIP" and addr.get("address"):
                out.append(addr["address"])
    return sorted(set(out))


def _node_ports(svc: dict | None) -> dict[int, dict]:
    """nodePort -> Service port (TCP ports of NodePort/LoadBalancer Services)."""
    if svc is None or is_terminating(svc):
        return {}
    spec = svc.get("spec") or {}
    if spec.get("type") not in ("NodePort", "LoadBalancer"):
        return {}
    return {int(p["nodePort"]): p for p in spec.get("ports") or []
            if p.get("nodePort") and (p.get("protocol") or "TCP") == "TCP"}


class NodePortController(Controller):
    name = "kube-proxy"
    primary = "services"
    watches = ("services", "nodes")

    def __init__(self, store, config, runtime) -> None:
        super().__init__(store, config, runtime)
        # service key -> {(node ip, nodePort): proxy}
        self.listeners: dict[Key, dict[tuple[str, int], TCPProxy]] = {}
        self._rr: dict[tuple[Key, int], int] = {}

    def keys_for(self, resource: str, event_type: str, obj: dict) -> Iterable[Key]:
        if resource == "services":
            meta = obj.get("metadata") or {}
            yield (meta.get("namespace") or "", meta.get("name") or "")
        else:  # a node came or went: every Service's listeners change
            yield from self.all_keys()

    def all_keys(self) -> list[Key]:
        return sorted(set(self.store.keys("services")) | set(self.listeners))

    def _picker(self, key: Key, node_port: int):
        def pick() -> list[tuple[str, int]]:
            svc = self.store.peek("services", *key)
            sp = _node_ports(svc).get(node_port)
            if sp is None:
                return []
            backends = ready_backends(self.store, svc, sp)
            if not backends:
                return []
            n = self._rr.get((key, node_port), 0)
            self._rr[(key, node_port)] = n + 1
            i = n % len(backends)
            return backends[i:] + backends[:i]
        return pick

    async def reconcile(self, key: Key) -> None:
        svc = self.store.peek("services", *key)
        ports = _node_ports(svc)
        wanted = {(ip, np) for ip in _node_addresses(self.store) for np in ports}
        current = self.listeners.setdefault(key, {})
        for addr in list(current):
            if addr not in wanted:
                await current.pop(addr).close()
                self._rr.pop((key, addr[1]), None)
        failed = False
        for ip, np in sorted(wanted - set(current)):
            proxy = TCPProxy(ip, np, self._picker(key, np))
            try:
                await proxy.start()
            except OSError as e:
                failed = True
                log.warning("kube-proxy: cannot listen on %s:%d for %s/%s: %s", ip, np, key[0], key[1], e)
                continue
            current[(ip, np)] = proxy
        if not current:
            self.listeners.pop(key, None)
        if failed:
            self.enqueue_after(key, max(self.delays.backoff, 0.5))

    async def shutdown(self) -> None:
        for key in list(self.listeners):
            for proxy in self.listeners.pop(key).values():
                await proxy.close()
