"""Per Service port: a listener, its pool, the members (every node on the port's nodePort) and a
health monitor, reconciled as cloud-provider-openstack does; listeners of ports the Service no longer
has are removed. Every change waits for the balancer to be ACTIVE again (or raises Retry)."""

from __future__ import annotations

from openstack.exceptions import NotFoundException, raise_from_response

from ..base import BalancerSpec, ServicePort
from . import names
from .balancer import wait_active


class PortsReconciler:
    def __init__(self, conn, lb, spec: BalancerSpec, progress, release):
        self.conn, self.lb, self.spec, self.progress, self.release = conn, lb, spec, progress, release
        self.api = conn.load_balancer

    def settle(self, doing: str) -> None:
        self.lb = wait_active(self.conn, self.api.get_load_balancer(self.lb.id), doing, self.release)

    # ---- the whole balancer ----------------------------------------------------------------------

    def run(self) -> dict:
        """-> the cloud ids ({"listeners": {port: id}, "pools": ..., "monitors": ...})."""
        current = {(lis.protocol, lis.protocol_port): lis for lis in self.api.listeners(load_balancer_id=self.lb.id)
                   if self.lb.id in [x.get("id") for x in (lis.load_balancers or [])] or not lis.load_balancers}
        ids: dict = {"listeners": {}, "pools": {}, "monitors": {}}
        for index, port in enumerate(self.spec.ports):
            listener = current.pop((port.protocol, port.port), None) or self.create_listener(index, port)
            pool = self.ensure_pool(index, port, listener)
            self.ensure_members(port, pool)
            monitor_id = self.ensure_monitor(index, port, pool)
            key = str(port.port)
            ids["listeners"][key], ids["pools"][key], ids["monitors"][key] = listener.id, pool.id, monitor_id
        for listener in current.values():
            if not listener.tags or self.spec.name in listener.tags:
                self.delete_listener(listener)
        return ids

    # ---- listener --------------------------------------------------------------------------------

    def create_listener(self, index: int, port: ServicePort):
        listener = self.api.create_listener(
            name=names.listener_name(index, self.spec), loadbalancer_id=self.lb.id, protocol=port.protocol,
            protocol_port=port.port, connection_limit=names.CONNECTION_LIMIT, tags=[self.spec.name])
        self.progress("listener", f"Listener for port {port.port} ({port.protocol}) created.")
        self.settle(f"creating the listener for port {port.port}")
        return listener

    def delete_listener(self, listener) -> None:
        pool = self.pool_of(listener)
        if pool is not None:
            self.api.delete_pool(pool, ignore_missing=True)
            self.settle(f"removing the pool of port {listener.protocol_port}")
        self.api.delete_listener(listener, ignore_missing=True)
        self.progress("listener", f"Listener for port {listener.protocol_port} removed: the Service no longer "
                                  "has that port.")
        self.settle(f"removing the listener for port {listener.protocol_port}")

    # ---- pool ------------------------------------------------------------------------------------

    def pool_of(self, listener):
        if listener.default_pool_id:
            try:
                return self.api.get_pool(listener.default_pool_id)
            except NotFoundException:
                pass
        for pool in self.api.pools(loadbalancer_id=self.lb.id):
            if listener.id in [x.get("id") for x in (pool.listeners or [])]:
                return pool
        return None

    def ensure_pool(self, index: int, port: ServicePort, listener):
        protocol = "PROXY" if self.spec.proxy_protocol else listener.protocol
        pool = self.pool_of(listener)
        if pool is not None and pool.protocol != protocol:
            self.api.delete_pool(pool, ignore_missing=True)
            self.progress("pool", f"Pool of port {port.port} removed: it spoke {pool.protocol}, {protocol} is "
                                  "wanted.")
            self.settle(f"removing the {pool.protocol} pool of port {port.port}")
            pool = None
        if pool is not None and pool.lb_algorithm != names.LB_METHOD:
            self.api.update_pool(pool, lb_algorithm=names.LB_METHOD)
            self.settle(f"setting the pool of port {port.port} to round robin")
        if pool is None:
            pool = self.api.create_pool(name=names.pool_name(index, self.spec), listener_id=listener.id,
                                        protocol=protocol, lb_algorithm=names.LB_METHOD)
            self.progress("pool", f"Pool for port {port.port} created ({protocol}, round robin).")
            self.settle(f"creating the pool for port {port.port}")
        return pool

    # ---- members ---------------------------------------------------------------------------------

    def ensure_members(self, port: ServicePort, pool) -> None:
        wanted = {(address, port.node_port) for address in self.spec.nodes}
        have = {(m.address, m.protocol_port): m for m in self.api.members(pool)}
        if set(have) == wanted and all(m.name == m.address for m in have.values()):
            return
        body = {"members": [{"address": address, "protocol_port": node_port, "name": address,
                             "subnet_id": self.lb.vip_subnet_id} for address, node_port in sorted(wanted)]}
        response = self.api.put(f"/lbaas/pools/{pool.id}/members", json=body, raise_exc=False)
        raise_from_response(response)
        added = sorted(a for a, p in wanted - set(have))
        removed = sorted(a for a, p in set(have) - wanted)
        if not have:
            detail = f"{len(wanted)} nodes added as members on nodePort {port.node_port}."
        else:
            parts = ([f"added {', '.join(added)}"] if added else []) + (
                [f"removed {', '.join(removed)}"] if removed else [])
            detail = f"Members of port {port.port} follow the nodes: {'; '.join(parts) or 'names updated'}."
        self.progress("members", detail)
        self.settle(f"updating the members of port {port.port}")

    # ---- health monitor --------------------------------------------------------------------------

    def ensure_monitor(self, index: int, port: ServicePort, pool) -> str:
        kind = {"UDP": "UDP-CONNECT"}.get(port.protocol, port.protocol)
        name = names.monitor_name(index, self.spec)
        wanted = {"name": name, "delay": names.MONITOR_DELAY, "timeout": names.MONITOR_TIMEOUT,
                  "max_retries": names.MONITOR_MAX_RETRIES, "max_retries_down": names.MONITOR_MAX_RETRIES_DOWN}
        monitor = None
        monitor_id = self.api.get_pool(pool.id).health_monitor_id
        if monitor_id:
            try:
                monitor = self.api.get_health_monitor(monitor_id)
            except NotFoundException:
                monitor = None
        if monitor is not None and monitor.type != kind:
            self.api.delete_health_monitor(monitor, ignore_missing=True)
            self.settle(f"removing the {monitor.type} health monitor of port {port.port}")
            monitor = None
        if monitor is None:
            monitor = self.api.create_health_monitor(pool_id=pool.id, type=kind, **wanted)
            self.progress("monitor", f"Health monitor for port {port.port} created ({kind} every "
                                     f"{names.MONITOR_DELAY} s).")
            self.settle(f"creating the health monitor for port {port.port}")
        elif any(getattr(monitor, k) != v for k, v in wanted.items()):
            self.api.update_health_monitor(monitor, **wanted)
            self.progress("monitor", f"Health monitor for port {port.port} updated.")
            self.settle(f"updating the health monitor for port {port.port}")
        return monitor.id
