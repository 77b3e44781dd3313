"""The floating IP on the balancer's VIP port, from the credential's floating network: found by the
port first (a killed run again leaves exactly one), else an unattached one of ours for the same
Service, else a new one. None when the Service stays internal."""

from __future__ import annotations

from openstack.exceptions import ConflictException, NotFoundException

from ..base import BalancerFailed, BalancerSpec
from . import names
from .errors import details_of, neutron_type

QUOTA_FIX = ("Release a floating IP the project no longer needs, or ask the cloud's administrator for a larger "
             "floating-IP quota; the balancer gets its address as soon as one is free.")


def on_port(conn, port_id: str | None) -> list:
    if not port_id:
        return []
    return [fip for fip in conn.network.ips(port_id=port_id) if fip.port_id == port_id]


def release(conn, lb, progress=None) -> list[str]:
    """Delete the floating IPs of ours on the balancer's VIP port; detach the others (as
    cloud-provider-openstack does). -> the addresses released."""
    released = []
    for fip in on_port(conn, lb.vip_port_id):
        if names.is_our_floating_ip(fip):
            conn.network.delete_ip(fip, ignore_missing=True)
        else:
            conn.network.update_ip(fip, port_id=None)
        released.append(fip.floating_ip_address)
        if progress is not None:
            progress("floating-ip", f"Floating IP {fip.floating_ip_address} released.")
    return released


def release_unattached(conn, spec: BalancerSpec, progress=None) -> list[str]:
    """Delete the unattached floating IPs this product made for the Service (left by a balancer that was
    deleted under them)."""
    released = []
    for fip in conn.network.ips(description=names.floating_ip_description(spec)):
        if fip.description == names.floating_ip_description(spec) and not fip.port_id:
            conn.network.delete_ip(fip, ignore_missing=True)
            released.append(fip.floating_ip_address)
            if progress is not None:
                progress("floating-ip", f"Floating IP {fip.floating_ip_address} released.")
    return released


def floating_network(conn, spec: BalancerSpec):
    network = conn.network.find_network(spec.floating_network, ignore_missing=True)
    fix = ("Set the credential's public (floating) network (admin) to the name or id of an external network, "
           "or leave it empty to keep balancers internal.")
    if network is None:
        raise BalancerFailed("no-floating-network",
                             f"The floating network {spec.floating_network} does not exist in the cloud.", fix,
                             retry_after=None)
    if not network.is_router_external:
        raise BalancerFailed("no-floating-network",
                             f"The network {spec.floating_network} is not an external network: floating IPs "
                             "cannot come from it.", fix, retry_after=None)
    return network


def ensure(conn, lb, spec: BalancerSpec, progress):
    """The floating IP on the VIP port (None for an internal Service)."""
    attached = on_port(conn, lb.vip_port_id)
    if not spec.floating_network:
        for fip in attached:
            if names.is_our_floating_ip(fip):
                conn.network.delete_ip(fip, ignore_missing=True)
                progress("floating-ip", f"Floating IP {fip.floating_ip_address} released: the balancer is "
                                        "internal.")
        return None
    if attached:
        return attached[0]
    network = floating_network(conn, spec)
    description = names.floating_ip_description(spec)
    try:
        for fip in conn.network.ips(description=description, floating_network_id=network.id):
            if fip.description == description and not fip.port_id:
                fip = conn.network.update_ip(fip, port_id=lb.vip_port_id)
                progress("floating-ip", f"Floating IP {fip.floating_ip_address} attached to the balancer.")
                return fip
        fip = conn.network.create_ip(floating_network_id=network.id, port_id=lb.vip_port_id,
                                     description=description)
    except ConflictException as e:
        if neutron_type(e) == "OverQuota" or "quota" in details_of(e).lower():
            raise BalancerFailed("floating-ip-quota", "The cloud has no floating IP left for this project",
                                 QUOTA_FIX, retry_after=60) from None
        raise
    except NotFoundException as e:
        if neutron_type(e) == "ExternalGatewayForFloatingIPNotFound" or "not reachable" in details_of(e):
            raise BalancerFailed(
                "floating-ip-unreachable", f"The floating network {network.name} is not reachable from the "
                "balancer's subnet (no router joins them).",
                "Ask the cloud's administrator for a router between the nodes' subnet and the floating network, "
                "or choose another floating network.", retry_after=None) from None
        raise
    progress("floating-ip", f"Floating IP {fip.floating_ip_address} from {network.name} attached to the balancer.")
    return fip
