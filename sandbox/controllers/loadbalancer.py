"""Service controller for type LoadBalancer, behind a provider seam.

The controller adds the cleanup finalizer, asks its LoadBalancerProvider to ensure
a load balancer, writes status.loadBalancer and, when the Service stops wanting
one (type change or deletion), asks the provider to release it and removes the
finalizer. The built-in provider gives each Service an IP from config.lb_cidr and
a real TCP listener per port that splices connections to ready endpoints.

With config.lb_provider == "external" no controller runs: an outside controller
(e.g. one backed by OpenStack) writes status.loadBalancer and removes the finalizer.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import random
from typing import Protocol

from ..net.ipam import AddressPool
from ..net.proxy import TCPProxy
from .base import Controller, Key, is_terminating
from .endpoints import ready_backends

log = logging.getLogger("sandbox.loadbalancer")

FINALIZER = "service.kubernetes.io/load-balancer-cleanup"


class LoadBalancerProvider(Protocol):
    async def ensure(self, service: dict) -> str:
        """Create or update the load balancer of a Service; return its IP."""

    async def release(self, service: dict) -> None:
        """Tear the load balancer of a Service down and free its IP."""


def _key(service: dict) -> Key:
    return (service["metadata"]["namespace"], service["metadata"]["name"])


class BuiltinProvider:
    """Loopback load balancers: an IP from the pool, one TCP proxy per Service port."""

    def __init__(self, store, config) -> None:
        self.store = store
        self.config = config
        self.pool = AddressPool(config.lb_cidr)
        self.listeners: dict[Key, dict[int, TCPProxy]] = {}
        self._rr: dict[tuple[Key, int], int] = {}

    def _owner(self, service: dict) -> str:
        return f"{service['metadata']['namespace']}/{service['metadata']['name']}/{service['metadata']['uid']}"

    def _picker(self, key: Key, port: int):
        def pick() -> list[tuple[str, int]]:
            svc = self.store.get("services", *key)
            if svc is None:
                return []
            sp = next((p for p in (svc.get("spec") or {}).get("ports") or []
                       if p.get("port") == port and (p.get("protocol") or "TCP") == "TCP"), None)
            if sp is None:
                return []
            backends = ready_backends(self.store, svc, sp)
            if not backends:
                return []
            n = self._rr.get((key, port), 0)
            self._rr[(key, port)] = n + 1
            i = n % len(backends)
            return backends[i:] + backends[:i]
        return pick

    async def ensure(self, service: dict) -> str:
        key = _key(service)
        for _attempt in range(16):
            # the pool only hands out addresses no other process holds (see net/ipam.py)
            ip = self.pool.allocate(self._owner(service))
            fresh = key not in self.listeners
            try:
                await self._listen(key, ip, service)
                return ip
            except OSError as e:
                if not fresh or e.errno != errno.EADDRINUSE:
                    raise RuntimeError(f"cannot listen on {ip}: {e.strerror or e}") from None
                # A port of this address is held all the same (a socket bound without
                # listening, or a wildcard one): give the address back, try the next one.
                await self.close_listeners(key)
                self.pool.release(ip)
        raise RuntimeError("every address tried in the load-balancer pool is in use outside the sandbox")

    async def _listen(self, key: Key, ip: str, service: dict) -> None:
        ports = {int(p["port"]) for p in (service.get("spec") or {}).get("ports") or []
                 if (p.get("protocol") or "TCP") == "TCP"}
        current = self.listeners.setdefault(key, {})
        for port in list(current):
            if port not in ports:
                await current.pop(port).close()
        for port in sorted(ports - set(current)):
            proxy = TCPProxy(ip, port, self._picker(key, port))
            await proxy.start()
            current[port] = proxy

    async def close_listeners(self, key: Key) -> None:
        for proxy in self.listeners.pop(key, {}).values():
            await proxy.close()
        for k in [k for k in self._rr if k[0] == key]:
            del self._rr[k]

    async def release(self, service: dict) -> None:
        await self.close_listeners(_key(service))
        await asyncio.sleep(self.config.delays.lb_release)
        self.pool.release(self.pool.owner_ip(self._owner(service)))

    async def close(self) -> None:
        for key in list(self.listeners):
            await self.close_listeners(key)
        self.pool.close()


def _wants_lb(svc: dict | None) -> bool:
    if svc is None or is_terminating(svc):
        return False
    spec = svc.get("spec") or {}
    return spec.get("type") == "LoadBalancer" and not spec.get("loadBalancerClass")


def _ports_signature(svc: dict) -> tuple:
    return tuple(sorted((p.get("port"), p.get("protocol") or "TCP", str(p.get("targetPort")), p.get("name") or "")
                        for p in (svc.get("spec") or {}).get("ports") or []))


class LoadBalancerController(Controller):
    name = "service-controller"
    primary = "services"

    def __init__(self, store, config, runtime, provider: LoadBalancerProvider | None = None) -> None:
        super().__init__(store, config, runtime)
        self.provider = provider or BuiltinProvider(store, config)
        self.state: dict[Key, tuple[str, tuple, str]] = {}  # key -> (ip, ports signature, uid)
        self._failures_lb: dict[Key, int] = {}

    async def shutdown(self) -> None:
        close = getattr(self.provider, "close", None)
        if close:
            await close()

    async def _event(self, svc: dict, reason: str, message: str, type: str = "Normal") -> None:
        await self.store.record_event(svc, reason, message, type=type, component="service-controller")

    async def reconcile(self, key: Key) -> None:
        ns, name = key
        svc = self.store.get("services", ns, name)
        state = self.state.get(key)
        if state and svc is not None and svc["metadata"]["uid"] != state[2]:
            # the Service was replaced by a new one of the same name
            await self._release({"metadata": {"namespace": ns, "name": name, "uid": state[2]}}, None)
            state = None
        if _wants_lb(svc):
            await self._ensure(key, svc, state)
            return
        fins = (svc or {}).get("metadata", {}).get("finalizers") or []
        if state is not None or FINALIZER in fins:
            await self._release(svc or {"metadata": {"namespace": ns, "name": name, "uid": state[2]}},
                                svc)

    async def _ensure(self, key: Key, svc: dict, state) -> None:
        ns, name = key
        if FINALIZER not in (svc["metadata"].get("finalizers") or []):
            svc = await self.store.mutate("services", ns, name, lambda o: o["metadata"].setdefault(
                "finalizers", []).append(FINALIZER) if FINALIZER not in (o["metadata"].get("finalizers") or [])
                else None)
            if svc is None:
                return
        sig = _ports_signature(svc)
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if state and state[1] == sig and ingress and ingress[0].get("ip") == state[0]:
            return
        await self._event(svc, "EnsuringLoadBalancer", "Ensuring load balancer")
        if state is None and not self._failures_lb.get(key):
            await asyncio.sleep(random.uniform(self.delays.lb_provision_min, self.delays.lb_provision_max))
            svc = self.store.get("services", ns, name)
            if not _wants_lb(svc):
                self.enqueue(key)
                return
            sig = _ports_signature(svc)
        try:
            ip = await self.provider.ensure(svc)
        except Exception as e:  # pool empty, bind error, cloud error...
            n = self._failures_lb.get(key, 0) + 1
            self._failures_lb[key] = n
            await self._event(svc, "SyncLoadBalancerFailed",
                              f"Error syncing load balancer: failed to ensure load balancer: {e}", "Warning")
            self.enqueue_after(key, min(self.delays.backoff * 2 ** (n - 1), self.delays.backoff * 60))
            return
        self._failures_lb.pop(key, None)
        self.state[key] = (ip, sig, svc["metadata"]["uid"])

        def apply(o: dict) -> None:
            o.setdefault("status", {})["loadBalancer"] = {"ingress": [{"ip": ip, "ipMode": "VIP"}]}

        await self.store.mutate("services", ns, name, apply)
        await self._event(svc, "EnsuredLoadBalancer", "Ensured load balancer")

    async def _release(self, target: dict, svc: dict | None) -> None:
        key = _key(target)
        if svc is not None:
            await self._event(svc, "DeletingLoadBalancer", "Deleting load balancer")
        await self.provider.release(target)
        self.state.pop(key, None)
        self._failures_lb.pop(key, None)
        if svc is None:
            return
        await self._event(svc, "DeletedLoadBalancer", "Deleted load balancer")

        def apply(o: dict) -> None:
            fins = [f for f in o["metadata"].get("finalizers") or [] if f != FINALIZER]
            if fins:
                o["metadata"]["finalizers"] = fins
            else:
                o["metadata"].pop("finalizers", None)
            if (o.get("status") or {}).get("loadBalancer"):
                o["status"]["loadBalancer"] = {}

        await self.store.mutate("services", key[0], key[1], apply)
