"""Names, descriptions and tags of the Octavia resources, as cloud-provider-openstack writes them,
plus the owner marks that let the sweep tell this product's resources from the rest of the project."""

from __future__ import annotations

import re

from ..base import OWNER_TAG, BalancerSpec, balancer_name

SERVICE_PREFIX = "kube_service_"
FIP_PREFIX = "Floating IP for Kubernetes external service"

# cloud-provider-openstack's defaults ([LoadBalancer] lb-method, monitor-delay/-timeout/-max-retries(-down)).
LB_METHOD = "ROUND_ROBIN"
MONITOR_DELAY = 5
MONITOR_TIMEOUT = 3
MONITOR_MAX_RETRIES = 1
MONITOR_MAX_RETRIES_DOWN = 3
CONNECTION_LIMIT = -1

_FIP_SERVICE = re.compile(rf"^{FIP_PREFIX} (?P<ns>[^/ ]+)/(?P<svc>\S+) from cluster (?P<cluster>.+) \({OWNER_TAG}\)$")


def _sprintf255(text: str) -> str:
    return text[:255]


def listener_name(index: int, spec: BalancerSpec) -> str:
    return _sprintf255(f"listener_{index}_{spec.name}")


def pool_name(index: int, spec: BalancerSpec) -> str:
    return _sprintf255(f"pool_{index}_{spec.name}")


def monitor_name(index: int, spec: BalancerSpec) -> str:
    return _sprintf255(f"monitor_{index}_{spec.name}")


def balancer_description(spec: BalancerSpec) -> str:
    return f"Kubernetes external service {spec.namespace}/{spec.service} from cluster {spec.cluster} ({OWNER_TAG})"


def balancer_tags(spec: BalancerSpec) -> list[str]:
    return [spec.name, OWNER_TAG]


def floating_ip_description(spec: BalancerSpec) -> str:
    return f"{FIP_PREFIX} {spec.namespace}/{spec.service} from cluster {spec.cluster} ({OWNER_TAG})"


def is_our_balancer(lb) -> bool:
    return (lb.name or "").startswith(SERVICE_PREFIX) and (
        OWNER_TAG in (lb.tags or []) or OWNER_TAG in (lb.description or ""))


def is_our_floating_ip(fip) -> bool:
    description = fip.description or ""
    return description.startswith(FIP_PREFIX) and OWNER_TAG in description


def balancer_of_floating_ip(fip) -> str:
    """The balancer name a floating IP of ours was made for (from its description), or ""."""
    m = _FIP_SERVICE.match(fip.description or "")
    return balancer_name(m["cluster"], m["ns"], m["svc"]) if m else ""
