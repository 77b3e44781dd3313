"""The Octavia load balancer itself: found by name, created on the nodes' subnet, waited for
(a brief look, then `Retry`), and deleted with cascade when it went to ERROR."""

from __future__ import annotations

import ipaddress
import time

from openstack.exceptions import NotFoundException

from ..base import BalancerFailed, BalancerSpec, Retry
from ..errors import busy_delay
from . import names

ACTIVE, ERROR = "ACTIVE", "ERROR"
GONE = ("DELETED", "PENDING_DELETE")
LOOK = 0.4  # seconds one pass may spend looking for ACTIVE again before raising Retry


def find(conn, name: str):
    """The live balancer named `name` (not PENDING_DELETE/DELETED), as cloud-provider-openstack looks it up."""
    found = [lb for lb in conn.load_balancer.load_balancers(name=name)
             if lb.name == name and lb.provisioning_status not in GONE]
    if len(found) > 1:
        raise BalancerFailed(
            "balancer-duplicate", f"The cloud has {len(found)} load balancers named {name}.",
            "Delete the extra ones in the cloud (keep the one the Service shows), then it is tried again.",
            retry_after=60)
    return found[0] if found else None


def find_all(conn, name: str) -> list:
    """Every balancer named `name`, whatever its status (delete and the sweep)."""
    return [lb for lb in conn.load_balancer.load_balancers(name=name) if lb.name == name]


def subnet_for(conn, spec: BalancerSpec):
    """The subnet the VIP goes on: `spec.subnet` by name or id, else the subnet holding the first node."""
    if spec.subnet:
        subnet = conn.network.find_subnet(spec.subnet, ignore_missing=True)
        if subnet is None:
            raise BalancerFailed(
                "no-subnet", f"The subnet {spec.subnet} the balancer's address should come from does not exist "
                "in the cloud project.",
                "Set the cluster's subnet of the nodes (admin) to the name or id of the subnet its nodes are on.",
                retry_after=None)
        return subnet
    for node in spec.nodes:
        address = ipaddress.ip_address(node)
        for subnet in conn.network.subnets():
            if address in ipaddress.ip_network(subnet.cidr, strict=False):
                return subnet
    raise BalancerFailed(
        "no-subnet", "No subnet of the cloud project holds the cluster's node addresses.",
        "Set the cluster's subnet of the nodes (admin) to the subnet the balancer's address should come from.",
        retry_after=None)


def create(conn, spec: BalancerSpec, subnet):
    attrs = {"name": spec.name, "description": names.balancer_description(spec), "vip_subnet_id": subnet.id,
             "tags": names.balancer_tags(spec)}
    if spec.availability_zone:
        attrs["availability_zone"] = spec.availability_zone
    return conn.load_balancer.create_load_balancer(**attrs)


def retry_delay(lb) -> float:
    """A delay that grows with how long the balancer has been busy (1 s at first, up to 15 s): most of
    Octavia's waits are a listener, pool or members updated on a running amphora, done in seconds."""
    return busy_delay(lb.updated_at or lb.created_at, first=1.0, cap=15.0)


def fault_reason(conn, lb) -> str:
    """What the cloud says about a balancer in ERROR (the sandbox's `sandbox_fault`; real Octavia says
    nothing beyond the statuses)."""
    try:
        response = conn.load_balancer.get(f"/lbaas/loadbalancers/{lb.id}", raise_exc=False)
        body = response.json().get("loadbalancer", {}) if response.status_code == 200 else {}
    except Exception:  # noqa: BLE001 - the reason is a nicety
        body = {}
    return str(body.get("sandbox_fault") or body.get("fault") or "")


def fail_errored(conn, lb, release) -> BalancerFailed:
    """Delete a balancer in ERROR (and our floating IP on it, via `release`) and say what happened."""
    reason = fault_reason(conn, lb)
    release(lb)
    conn.load_balancer.delete_load_balancer(lb, ignore_missing=True, cascade=True)
    statuses = f"provisioning status {lb.provisioning_status}, operating status {lb.operating_status}"
    return BalancerFailed(
        "balancer-error",
        f"The cloud's load balancer {lb.name} went to ERROR ({statuses})" + (f": {reason}" if reason else "")
        + ". It was deleted and a new one is built.",
        "Nothing to do if the next attempt works. If it keeps failing, ask the cloud's administrator to check "
        "Octavia (amphora image, compute capacity, quotas).",
        retry_after=5.0)


def wait_active(conn, lb, doing: str, release, look: float = LOOK):
    """The balancer once ACTIVE again, looking for at most `look` seconds; else Retry. ERROR: fail_errored."""
    deadline = time.monotonic() + look
    pause = 0.05
    while True:
        if lb.provisioning_status == ACTIVE:
            return lb
        if lb.provisioning_status == ERROR:
            raise fail_errored(conn, lb, release)
        if lb.provisioning_status in GONE:
            raise Retry(f"the load balancer {lb.name} is being deleted", delay=2.0)
        if time.monotonic() + pause > deadline:
            raise Retry(f"{doing}: the load balancer is {lb.provisioning_status}", delay=retry_delay(lb))
        time.sleep(pause)
        pause = min(pause * 2, 0.2)
        try:
            lb = conn.load_balancer.get_load_balancer(lb.id)
        except NotFoundException:
            raise Retry(f"{doing}: the load balancer {lb.name} disappeared", delay=1.0) from None
