"""`python -m sandbox --port PORT --kubeconfig PATH [...]`: serve the Kubernetes API."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import secrets
import signal
import sys

from aiohttp import web

from .api import Api
from .config import Delays, SandboxConfig
from .kubeconfig import write_kubeconfig
from .listener import DualListener
from .store import Store
from .tls import self_signed, server_context

log = logging.getLogger("sandbox")

BUILTIN_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def parse_args(argv: list[str] | None = None) -> SandboxConfig:
    p = argparse.ArgumentParser(prog="python -m sandbox", description="Embedded Kubernetes API server")
    p.add_argument("--port", type=int, default=16443)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--fast", action="store_true", help="near-zero simulated delays (tests)")
    p.add_argument("--dns-port", type=int, default=0)
    p.add_argument("--pod-cidr")
    p.add_argument("--node-cidr")
    p.add_argument("--lb-cidr")
    p.add_argument("--lb-provider", choices=("builtin", "external"), default="builtin")
    p.add_argument("--image-allowlist", help="comma-separated image names")
    p.add_argument("--lb-delay", help="MIN,MAX seconds to provision a load balancer")
    p.add_argument("--token", help="bearer token (default: random)")
    p.add_argument("--nodes", type=int, default=3,
                   help="worker nodes (each 8 CPUs, 110 pods; a class of 1,000 needs about 30)")
    p.add_argument("--watch-history", type=int, default=2000,
                   help="changes a watch can resume from (older resourceVersions get 410 Expired)")
    p.add_argument("--log-level", default=os.environ.get("SANDBOX_LOG_LEVEL", "WARNING"))
    cloud = p.add_argument_group("OpenStack cloud", "Keystone, Glance, Neutron, Octavia and Nova on one port "
                                 "(see sandbox/openstack/)")
    cloud.add_argument("--cloud-port", type=int, default=0, help="port of the OpenStack APIs (0 = off)")
    cloud.add_argument("--clouds-yaml", help="where to write clouds.yaml (default: beside the kubeconfig)")
    cloud.add_argument("--floating-cidr", help="floating-IP network inside 127.0.0.0/8 (default 127.30.0.0/24)")
    cloud.add_argument("--cloud-fip-quota", type=int, default=10, help="floating IPs per project (0 = exhausted)")
    cloud.add_argument("--cloud-lb-errors", type=int, default=0,
                       help="the next N Octavia load balancers go to ERROR")
    cloud.add_argument("--cloud-unavailable", default="",
                       help="comma-separated service types answering 503 (identity,image,network,"
                            "load-balancer,compute)")
    cloud.add_argument("--cloud-octavia-disabled", action="store_true",
                       help="no Octavia for the lab project either")
    cloud.add_argument("--cloud-delay", type=float,
                       help="seconds an Octavia balancer or a Nova server takes to become ACTIVE")
    a = p.parse_args(argv)
    if not ipaddress.ip_address(a.host).is_loopback:
        p.error("--host must be a loopback address")
    if not 1 <= a.nodes <= 200:
        p.error("--nodes must be between 1 and 200")
    cfg = SandboxConfig(host=a.host, port=a.port, kubeconfig=a.kubeconfig, fast=a.fast,
                        token=a.token or secrets.token_urlsafe(32), dns_port=a.dns_port,
                        lb_provider=a.lb_provider, watch_history=a.watch_history, node_count=a.nodes)
    cfg.delays = Delays.fast() if a.fast else Delays()
    for name in ("pod_cidr", "node_cidr", "lb_cidr"):
        value = getattr(a, name)
        if value:
            net = ipaddress.IPv4Network(value, strict=False)
            if not net.subnet_of(ipaddress.IPv4Network("127.0.0.0/8")):
                p.error(f"--{name.replace('_', '-')} must be inside 127.0.0.0/8")
            setattr(cfg, name, net)
    if a.image_allowlist:
        cfg.image_allowlist = tuple(x.strip() for x in a.image_allowlist.split(",") if x.strip())
    if a.lb_delay:
        lo, _, hi = a.lb_delay.partition(",")
        cfg.delays.lb_provision_min = float(lo)
        cfg.delays.lb_provision_max = float(hi or lo)
    cfg.log_level = a.log_level  # type: ignore[attr-defined]
    _cloud_options(p, a, cfg)
    return cfg


def _cloud_options(p: argparse.ArgumentParser, a: argparse.Namespace, cfg: SandboxConfig) -> None:
    cfg.cloud_port = a.cloud_port
    cfg.clouds_yaml = a.clouds_yaml or os.path.join(os.path.dirname(os.path.abspath(a.kubeconfig)), "clouds.yaml")
    if a.floating_cidr:
        net = ipaddress.IPv4Network(a.floating_cidr, strict=False)
        if not net.subnet_of(ipaddress.IPv4Network("127.0.0.0/8")) or net.prefixlen > 30:
            p.error("--floating-cidr must be a network inside 127.0.0.0/8 with room for addresses")
        cfg.floating_cidr = net
    if a.cloud_fip_quota < 0 or a.cloud_lb_errors < 0:
        p.error("--cloud-fip-quota and --cloud-lb-errors must be >= 0")
    cfg.cloud_fip_quota = a.cloud_fip_quota
    cfg.cloud_lb_errors = a.cloud_lb_errors
    from .openstack.faults import SERVICES

    unavailable = tuple(x.strip() for x in a.cloud_unavailable.split(",") if x.strip())
    unknown = [x for x in unavailable if x not in SERVICES]
    if unknown:
        p.error(f"--cloud-unavailable: unknown service {unknown[0]!r} (one of {', '.join(SERVICES)})")
    cfg.cloud_unavailable = unavailable
    cfg.cloud_octavia_disabled = a.cloud_octavia_disabled
    if a.cloud_delay is not None:
        cfg.delays.os_lb_provision = cfg.delays.os_server_boot = a.cloud_delay


async def run(cfg: SandboxConfig) -> None:
    store = Store(cfg)
    for ns in BUILTIN_NAMESPACES:
        await store.create("namespaces", {"metadata": {"name": ns}})
    from . import controllers

    runtime = await controllers.start(store, cfg)

    api = Api(store, cfg.token)
    runner = web.AppRunner(api.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    cert_pem, key_pem = self_signed(cfg.host)
    listener = DualListener(cfg.host, cfg.port, runner.server, server_context(cert_pem, key_pem))
    await listener.start()
    from .faults import ApiFaults

    api.faults = ApiFaults(listener, runner.server)
    write_kubeconfig(cfg.kubeconfig, f"https://{cfg.host}:{cfg.port}", cfg.token, cfg.cluster_name,
                     ca_pem=cert_pem)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    cloud = None
    if cfg.cloud_port:
        from .openstack import Cloud

        cloud = Cloud(cfg, store)
        await cloud.start()
        print(f"sandbox cloud (OpenStack) on http://{cfg.host}:{cfg.cloud_port}/identity/v3 "
              f"(clouds.yaml {cfg.clouds_yaml})", flush=True)
    print(f"sandbox ready on https://{cfg.host}:{cfg.port} (http too; kubeconfig {cfg.kubeconfig})", flush=True)
    await stop.wait()
    log.info("shutting down")
    if cloud is not None:
        try:
            await cloud.stop()
        except Exception:
            log.exception("stopping the cloud failed")
    await store.close()
    try:
        if runtime is not None and hasattr(runtime, "stop"):
            await runtime.stop()
        else:
            await controllers.stop()
    except Exception:
        log.exception("stopping controllers failed")
    await listener.stop()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    cfg = parse_args(argv)
    logging.basicConfig(level=getattr(logging, str(cfg.log_level).upper(), logging.WARNING),  # type: ignore[attr-defined]
                        stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run(cfg))


if __name__ == "__main__":
    main()
