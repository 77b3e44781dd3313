"""Configuration of one sandbox process (built from the command line)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

DEFAULT_IMAGE_ALLOWLIST = (
    "nginx",
    "nginxinc/nginx-unprivileged",
    "httpd",
    "traefik/whoami",
    "hashicorp/http-echo",
    "busybox",
)


@dataclass
class Delays:
    """Simulated durations, in seconds. `fast()` makes them near zero."""

    schedule: float = 0.3
    image_pull: float = 2.0
    container_start: float = 1.0
    pod_terminate: float = 1.5
    lb_provision_min: float = 5.0
    lb_provision_max: float = 20.0
    lb_release: float = 2.0
    namespace_terminate: float = 1.0
    backoff: float = 5.0
    # the sandbox OpenStack cloud
    os_lb_provision: float = 8.0
    os_lb_update: float = 2.0
    os_lb_delete: float = 3.0
    os_server_boot: float = 10.0
    os_server_delete: float = 2.0

    @classmethod
    def fast(cls) -> Delays:
        return cls(
            schedule=0.01,
            image_pull=0.05,
            container_start=0.02,
            pod_terminate=0.02,
            lb_provision_min=0.1,
            lb_provision_max=0.2,
            lb_release=0.05,
            namespace_terminate=0.05,
            backoff=0.3,
            os_lb_provision=0.05,
            os_lb_update=0.02,
            os_lb_delete=0.05,
            os_server_boot=0.05,
            os_server_delete=0.02,
        )


@dataclass
class SandboxConfig:
    host: str = "127.0.0.1"
    port: int = 16443
    kubeconfig: str | None = None
    token: str = ""
    fast: bool = False
    delays: Delays = field(default_factory=Delays)
    # DNS server on host:dns_port (UDP and TCP); 0 disables it.
    dns_port: int = 0
    dns_zone: str = "lab.test"
    # Loopback networks: pod IPs, node addresses and load-balancer IPs.
    pod_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("127.10.0.0/16")
    node_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("127.11.0.0/24")
    lb_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("127.20.0.0/24")
    service_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.96.0.0/16")
    node_count: int = 3
    image_allowlist: tuple[str, ...] = DEFAULT_IMAGE_ALLOWLIST
    # "builtin": the sandbox provisions LoadBalancer Services itself.
    # "external": it leaves them to an outside controller (e.g. one backed by
    # OpenStack) that writes status.loadBalancer and removes the finalizer.
    lb_provider: str = "builtin"
    cluster_name: str = "sandbox"
    # How many recent changes a watch can resume from (older -> 410 Expired).
    watch_history: int = 2000
    # Bookmark interval of watches that ask for allowWatchBookmarks.
    bookmark_interval: float = 30.0
    # The sandbox OpenStack cloud (sandbox/openstack/) on host:cloud_port; 0 disables it.
    cloud_port: int = 0
    clouds_yaml: str | None = None  # default: clouds.yaml beside the kubeconfig
    floating_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("127.30.0.0/24")
    # Fault switches at start (also settable at runtime: POST /sandbox/faults).
    cloud_fip_quota: int = 10
    cloud_lb_errors: int = 0
    cloud_unavailable: tuple[str, ...] = ()
    cloud_octavia_disabled: bool = False
