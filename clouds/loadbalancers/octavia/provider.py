"""The Octavia provider: builds a Service's balancer as cloud-provider-openstack does (balancer on the
nodes' subnet, then per port a listener, pool, members and health monitor, then a floating IP on the VIP
port), tears it down with cascade, and lists what it made for the sweep."""

from __future__ import annotations

import functools
import time

from openstack.exceptions import NotFoundException

from ..base import BalancerSpec, Ensured, Orphan, Progress, Retry
from . import balancer, floating, names
from .errors import cloud_errors
from .ports import PortsReconciler

DELETE_LOOK = 0.4  # seconds a delete pass may look for the balancer to be gone before raising Retry


class OctaviaProvider:
    name = "octavia"

    # ---- build -----------------------------------------------------------------------------------

    def ensure(self, conn, spec: BalancerSpec, progress: Progress) -> Ensured:
        with cloud_errors(conn):
            lb = balancer.find(conn, spec.name)
            fresh = lb is None or lb.provisioning_status == "PENDING_CREATE"
            if lb is None:
                subnet = balancer.subnet_for(conn, spec)
                lb = balancer.create(conn, spec, subnet)
                progress("balancer", f"Load balancer {spec.name} requested on subnet {subnet.name}.")
            release = functools.partial(floating.release, conn)

            lb = balancer.wait_active(conn, lb, "building the load balancer", release)
            if fresh or (spec.ports and not lb.listeners):
                progress("active", f"Load balancer is ACTIVE with the address {lb.vip_address}.")
            ids = PortsReconciler(conn, lb, spec, progress, release).run()
            fip = floating.ensure(conn, lb, spec, progress)
            cloud = {"load_balancer_id": lb.id, "vip_port_id": lb.vip_port_id, "vip_address": lb.vip_address,
                     "vip_subnet_id": lb.vip_subnet_id, **ids,
                     "floating_ip_id": fip.id if fip else None,
                     "floating_ip_address": fip.floating_ip_address if fip else None}
            return Ensured(address=fip.floating_ip_address if fip else lb.vip_address, balancer_id=lb.id,
                           cloud=cloud)

    # ---- tear down ----------------------------------------------------------------------------------

    def delete(self, conn, spec: BalancerSpec, progress: Progress) -> None:
        with cloud_errors(conn):
            lbs = balancer.find_all(conn, spec.name)
            deleting = []
            for lb in lbs:
                if lb.provisioning_status == "PENDING_DELETE":
                    deleting.append(lb)
                    continue
                if lb.provisioning_status.startswith("PENDING_"):
                    raise Retry(f"the load balancer is {lb.provisioning_status}", delay=balancer.retry_delay(lb))
                floating.release(conn, lb, progress)
                conn.load_balancer.delete_load_balancer(lb, ignore_missing=True, cascade=True)
                progress("balancer", f"Load balancer {lb.name} is being deleted.")
                deleting.append(lb)
            floating.release_unattached(conn, spec, progress)
            self._wait_gone(conn, deleting)

    @staticmethod
    def _wait_gone(conn, lbs: list) -> None:
        deadline = time.monotonic() + DELETE_LOOK
        pause = 0.05
        while lbs:
            lbs = [lb for lb in lbs if _exists(conn, lb.id)]
            if not lbs:
                return
            if time.monotonic() + pause > deadline:
                raise Retry("the load balancer is being deleted", delay=2.0)
            time.sleep(pause)
            pause = min(pause * 2, 0.2)

    # ---- the sweep --------------------------------------------------------------------------------------

    def owned(self, conn) -> list[tuple[str, Orphan]]:
        with cloud_errors(conn):
            out: list[tuple[str, Orphan]] = []
            by_port = {}
            for lb in conn.load_balancer.load_balancers():
                if names.is_our_balancer(lb):
                    by_port[lb.vip_port_id] = lb.name
                    out.append((lb.name, Orphan("load balancer", lb.id, lb.name,
                                                f"{lb.provisioning_status}, address {lb.vip_address}")))
            for fip in conn.network.ips():
                if names.is_our_floating_ip(fip):
                    owner = by_port.get(fip.port_id) or names.balancer_of_floating_ip(fip)
                    detail = "attached to the balancer" if fip.port_id else "not attached"
                    out.append((owner, Orphan("floating ip", fip.id, fip.floating_ip_address, detail)))
            return out

    def remove(self, conn, orphan: Orphan) -> None:
        with cloud_errors(conn):
            if orphan.kind == "load balancer":
                lb = conn.load_balancer.find_load_balancer(orphan.cloud_id, ignore_missing=True)
                if lb is None or lb.provisioning_status in balancer.GONE:
                    return
                if lb.provisioning_status.startswith("PENDING_"):
                    raise Retry(f"the load balancer is {lb.provisioning_status}", delay=balancer.retry_delay(lb))
                floating.release(conn, lb)
                conn.load_balancer.delete_load_balancer(lb, ignore_missing=True, cascade=True)
            elif orphan.kind == "floating ip":
                conn.network.delete_ip(orphan.cloud_id, ignore_missing=True)
            elif orphan.kind == "port":
                conn.network.delete_port(orphan.cloud_id, ignore_missing=True)
            else:
                raise ValueError(f"the Octavia provider does not make {orphan.kind!r} resources")


def _exists(conn, lb_id: str) -> bool:
    try:
        return conn.load_balancer.get_load_balancer(lb_id).provisioning_status != "DELETED"
    except NotFoundException:
        return False
