"""What every load-balancer provider (Octavia, Taikun LB) offers the controller.

A provider is level-based and idempotent: `ensure` finds what already exists
in the cloud by name (never trusting only ids it was given), creates what is
missing, updates what differs, and returns once the balancer serves. A step
that must wait for the cloud raises `Retry` with a delay (the controller's task
is scheduled again); it never sleeps long. A killed task run again leaves
exactly one balancer and one floating IP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

# Annotations a cloud controller (cloud-provider-openstack) writes on the Service.
ANNOTATION_LB_ID = "loadbalancer.openstack.org/load-balancer-id"
ANNOTATION_LB_ADDRESS = "loadbalancer.openstack.org/load-balancer-address"
# Asked for by the student on the Service: HAProxy sends the PROXY protocol header to the backends.
ANNOTATION_TAIKUN_PROXY_PROTOCOL = "loadbalancer.taikun.cloud/proxy-protocol"
# Every cloud resource the product creates carries this tag (and/or description prefix), so the sweep
# can tell its own resources from the rest of the project.
OWNER_TAG = "liveops-labs"


def balancer_name(cluster_name: str, namespace: str, service: str) -> str:
    """The name cloud-provider-openstack gives a Service's balancer (max 255 characters)."""
    return f"kube_service_{cluster_name}_{namespace}_{service}"[:255]


@dataclass(frozen=True)
class ServicePort:
    name: str
    protocol: str  # TCP | UDP | SCTP
    port: int
    node_port: int


@dataclass(frozen=True)
class BalancerSpec:
    """Everything a provider needs to build one Service's balancer."""

    name: str  # balancer_name(...)
    cluster: str
    namespace: str
    service: str
    service_uid: str
    ports: tuple[ServicePort, ...]
    nodes: tuple[str, ...]  # the nodes' InternalIP addresses (members / HAProxy backends)
    subnet: str  # name or id of the nodes' subnet: the VIP is allocated there
    floating_network: str  # name or id; "" = internal only (no floating IP: LoadBalancerForcedInternal)
    proxy_protocol: bool = False  # Taikun LB: loadbalancer.taikun.cloud/proxy-protocol: "true"
    flavor: str = ""  # Taikun LB
    availability_zone: str = ""
    vrid: int | None = None  # Taikun LB: keepalived virtual_router_id allocated by the controller


@dataclass
class Ensured:
    """A serving balancer: the address to publish and the cloud's ids (kept on the ServiceBalancer)."""

    address: str  # the floating IP, or the VIP when internal
    balancer_id: str  # Octavia load balancer id, or the Taikun VIP port id
    cloud: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Orphan:
    kind: str  # "load balancer" | "server" | "floating ip" | "port"
    cloud_id: str
    name: str
    detail: str = ""


class Retry(Exception):
    """The cloud is still working (PENDING_*, BUILD): look again after `delay` seconds."""

    def __init__(self, message: str, delay: float = 2.0):
        super().__init__(message)
        self.message = message
        self.delay = delay


class BalancerFailed(Exception):
    """The balancer cannot be built now. `cause` is a short code, `message` says what happened and
    `fix` what the student (or admin) can do, both in plain words with no secret in them.
    `retry_after` None: only a change (of the Service, the cloud or the admin's settings) helps."""

    def __init__(self, cause: str, message: str, fix: str = "", retry_after: float | None = 30.0):
        super().__init__(message)
        self.cause = cause
        self.message = message
        self.fix = fix
        self.retry_after = retry_after


# progress(step, detail): one step of the build, shown to the student with its time. Steps are short
# keys the lab page knows ("balancer", "active", "listener", "pool", "members", "monitor",
# "floating-ip", "servers", "vip-port") with a detail in plain words.
Progress = Callable[[str, str], None]


class Provider(Protocol):
    name: str  # "octavia" | "taikun"

    def ensure(self, conn, spec: BalancerSpec, progress: Progress) -> Ensured:
        """Create or update the balancer until it serves; raise Retry while the cloud works."""

    def delete(self, conn, spec: BalancerSpec, progress: Progress) -> None:
        """Remove the balancer (or both servers), its VIP port and floating IP; raise Retry until gone."""

    def owned(self, conn) -> list[tuple[str, Orphan]]:
        """Every resource of the project this provider made, as (balancer name, resource): for the sweep."""

    def remove(self, conn, orphan: Orphan) -> None:
        """Remove one resource the sweep found orphaned."""
