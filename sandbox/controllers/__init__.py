"""Everything that makes the sandbox cluster behave: nodes, controllers, the
scheduler and kubelet simulation, load balancers and the DNS server.

`await start(store, config)` starts them all as background tasks and returns a
handle; `await stop()` (or `await handle.stop()`) closes every task and listener.
"""

from __future__ import annotations

import logging

from .deployment import DeploymentController
from .endpoints import EndpointsController
from .kubelet import KubeletController
from .loadbalancer import LoadBalancerController
from .nodeports import NodePortController
from .nodes import NodeController, ServiceAccountController, node_ips
from .quota import QuotaController
from .replicaset import ReplicaSetController

log = logging.getLogger("sandbox.controllers")

_current: Runtime | None = None


class Runtime:
    """The running controllers of one sandbox (and its DNS server)."""

    def __init__(self, store, config) -> None:
        self.store = store
        self.config = config
        self.node_ips = node_ips(config)
        self.controllers = []
        self.dns = None

    def node_ip(self, node: str | None) -> str | None:
        return self.node_ips.get(node or "")

    async def start(self) -> None:
        kinds = [NodeController, ServiceAccountController, DeploymentController, ReplicaSetController,
                 KubeletController, EndpointsController, QuotaController, NodePortController]
        if self.config.lb_provider == "builtin":
            kinds.append(LoadBalancerController)
        elif self.config.lb_provider != "external":
            raise ValueError(f"unknown load-balancer provider {self.config.lb_provider!r}")
        self.controllers = [k(self.store, self.config, self) for k in kinds]
        for c in self.controllers:
            c.start()
        # register the nodes and default service accounts before anything is scheduled
        nodes = self.controllers[0]
        for key in nodes.all_keys():
            await nodes.reconcile(key)
        sa = self.controllers[1]
        for key in sa.all_keys():
            await sa.reconcile(key)
        if self.config.dns_port:
            from ..dns import DNSServer

            self.dns = DNSServer(self.config.host, self.config.dns_port, self.config.dns_zone)
            await self.dns.start()

    async def stop(self) -> None:
        if self.dns is not None:
            await self.dns.stop()
            self.dns = None
        for c in reversed(self.controllers):
            try:
                await c.stop()
            except Exception:
                log.exception("stopping %s failed", c.name)
        self.controllers = []


async def start(store, config) -> Runtime:
    global _current
    runtime = Runtime(store, config)
    await runtime.start()
    _current = runtime
    return runtime


async def stop() -> None:
    global _current
    if _current is not None:
        runtime, _current = _current, None
        await runtime.stop()
