"""The sandbox OpenStack cloud: Keystone, Glance, Neutron, Octavia and Nova on ONE
loopback port with devstack's path prefixes, so `openstacksdk` works unchanged.

    /identity/v3     identity.py      Keystone (tokens, catalog)
    /image/v2        image.py         Glance (images; `taikun-lb` tagged image)
    /network/v2.0    network.py       Neutron (networks, subnets, ports, floating IPs, quotas)
    /load-balancer/v2 loadbalancer.py Octavia (balancers, listeners, pools, members, monitors)
    /compute/v2.1    compute.py       Nova (flavors, servers; Taikun user data: userdata.py)
    /sandbox/faults  faults.py        fault switches (admin token)

traffic.py opens real listeners on floating IPs (Octavia VIPs and Taikun VIPs).
Floating and fixed IPs come from the pools the cluster side uses (sandbox/net/ipam.py),
so they are checked free on the machine and held while used.

`cloud = Cloud(config, store)`; `await cloud.start()` listens on
`config.cloud_port` and writes `config.clouds_yaml` (mode 0600), with the clouds
`sandbox` (project lab), `sandbox-taikun` (project lab-taikun, no Octavia), their
application-credential twins `sandbox-appcred` and `sandbox-taikun-appcred`, and a
top-level `sandbox:` block (admin token, faults URL, network names).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Callable

import yaml
from aiohttp import web

from .base import Token
from .compute import Compute
from .faults import Faults, FaultsEndpoint
from .identity import Identity
from .image import Image
from .loadbalancer import LoadBalancer
from .network import Network
from .traffic import Traffic

log = logging.getLogger("sandbox.openstack")

__all__ = ["Cloud"]


class Cloud:
    def __init__(self, config, store=None) -> None:
        self.config = config
        self.store = store
        self.base_url = f"http://{config.host}:{config.cloud_port}"
        self.faults = Faults.from_config(config)
        self.admin_token = secrets.token_urlsafe(24)
        self.identity = Identity(self)
        self.image = Image(self)
        self.network = Network(self)
        self.loadbalancer = LoadBalancer(self)
        self.compute = Compute(self)
        self.services = [self.identity, self.image, self.network, self.loadbalancer, self.compute]
        self.traffic = Traffic(self)
        self._runner: web.AppRunner | None = None
        self._timers: set[asyncio.Task] = set()

    # ---- shared by the services ------------------------------------------------------------

    def check_token(self, token_id: str | None) -> Token:
        return self.identity.check(token_id)

    def octavia_enabled(self, project: dict | None) -> bool:
        return bool(project) and project["name"] == "lab" and not self.faults.octavia_disabled

    def node_addresses(self) -> list[str]:
        """The cluster's node addresses (never handed out as fixed IPs)."""
        out = []
        if self.store is not None:
            for node in self.store.list("nodes"):
                for addr in (node.get("status") or {}).get("addresses") or []:
                    if addr.get("type") == "InternalIP":
                        out.append(addr["address"])
        return out

    def changed(self) -> None:
        self.traffic.poke()

    def later(self, delay: float, fn: Callable[[], None]) -> None:
        async def run() -> None:
            await asyncio.sleep(delay)
            try:
                fn()
            except Exception:
                log.exception("delayed cloud transition failed")
            self.changed()

        task = asyncio.get_running_loop().create_task(run())
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    # ---- serving ----------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1024 * 1024)
        for service in self.services:
            for method, path, handler, auth in service.routes():
                app.router.add_route(method, path, service.wrap(handler, auth))
        for method, path, handler in FaultsEndpoint(self).routes():
            app.router.add_route(method, path, handler)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.cloud_port, reuse_address=True)
        await site.start()
        self.traffic.start()
        if self.config.clouds_yaml:
            self.write_clouds_yaml(self.config.clouds_yaml)

    async def stop(self) -> None:
        for task in list(self._timers):
            task.cancel()
        await asyncio.gather(*self._timers, return_exceptions=True)
        await self.traffic.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.network.floating_pool.close()
        self.network.fixed_pool.close()

    # ---- clouds.yaml ----------------------------------------------------------------------------------

    def clouds(self) -> dict:
        common = {"region_name": "RegionOne", "interface": "public", "identity_api_version": 3}
        auth_url = self.identity.base_url
        clouds = {}
        for cloud, project in (("sandbox", "lab"), ("sandbox-taikun", "lab-taikun")):
            clouds[cloud] = {"auth_type": "password", "auth": {
                "auth_url": auth_url, "username": self.identity.user["name"], "password": self.identity.password,
                "project_name": project, "user_domain_name": "Default", "project_domain_name": "Default"},
                **common}
            cred = self.identity.app_cred_for(project)
            clouds[cloud + "-appcred"] = {"auth_type": "v3applicationcredential", "auth": {
                "auth_url": auth_url, "application_credential_id": cred["id"],
                "application_credential_secret": cred["secret"]}, **common}
        return {"clouds": clouds, "sandbox": {
            "admin_token": self.admin_token, "faults_url": self.base_url + "/sandbox/faults",
            "floating_network": self.network.public["name"], "network": self.network.lab_net["name"],
            "subnet": self.network.lab_subnet["name"], "taikun_image_tag": "taikun-lb",
            "projects": {p["name"]: p["id"] for p in self.identity.projects.values()}}}

    def write_clouds_yaml(self, path: str) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(self.clouds(), f, sort_keys=False)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)

