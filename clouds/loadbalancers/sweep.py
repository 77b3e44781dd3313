"""The sweep: cloud resources this product made whose Service no longer exists.

For every credential bound to clusters whose balancers this product
provisions, it lists what the provider made in the project (balancers,
servers, ports, floating IPs) and compares their balancer names with the
LoadBalancer Services that exist in those clusters. What is left over is
recorded as an OrphanedResource (shown in the admin); with `remove` it is
removed from the cloud too.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone

from clouds import kube
from clouds.loadbalancers.base import Orphan, balancer_name
from clouds.loadbalancers.controller import FINALIZER, providers
from clouds.models import CloudCredential, Cluster, OrphanedResource
from clouds.openstack.connection import shared

logger = logging.getLogger(__name__)


def live_balancer_names(credential: CloudCredential) -> set[str] | None:
    """The balancer names of every Service that has (or is owed) a balancer; None when a cluster cannot say."""
    names = set()
    for cluster in Cluster.objects.filter(cloud_credential=credential, load_balancers_by="product"):
        try:
            services = kube.core(cluster).list_service_for_all_namespaces(_request_timeout=20).items
        except Exception as exc:  # one cluster that cannot answer makes every resource look orphaned: stop
            logger.warning("sweep: cluster %s cannot list its Services (%s)", cluster, type(exc).__name__)
            return None
        for svc in services:
            if svc.spec.type == "LoadBalancer" or FINALIZER in (svc.metadata.finalizers or []):
                names.add(balancer_name(cluster.name, svc.metadata.namespace, svc.metadata.name))
    return names


def sweep(credential: CloudCredential, remove: bool = False) -> list[OrphanedResource]:
    """Record (and with `remove`, delete) the credential's orphaned resources; returns the current orphans."""
    provider = providers().get(credential.load_balancers)
    live = live_balancer_names(credential)
    if provider is None or live is None:
        return []
    conn = shared(credential)
    found = []
    for name, orphan in provider.owned(conn):
        if name in live:
            continue
        row, _ = OrphanedResource.objects.update_or_create(
            credential=credential, kind=orphan.kind, cloud_id=orphan.cloud_id,
            defaults={"name": orphan.name, "detail": orphan.detail, "removed": None})
        if remove:
            provider.remove(conn, orphan)
            row.removed = timezone.now()
            row.save(update_fields=["removed"])
        found.append(row)
    # What a past sweep reported and is no longer in the cloud is gone now.
    still = {(r.kind, r.cloud_id) for r in found}
    for row in OrphanedResource.objects.filter(credential=credential, removed__isnull=True):
        if (row.kind, row.cloud_id) not in still:
            row.removed = timezone.now()
            row.save(update_fields=["removed"])
    return found


def sweep_all(remove: bool | None = None) -> dict:
    remove = settings.LIVEOPS_LB_SWEEP_REMOVE if remove is None else remove
    report = {}
    for credential in CloudCredential.objects.filter(cluster__load_balancers_by="product").distinct():
        try:
            report[credential.name] = len(sweep(credential, remove=remove))
        except Exception:
            logger.exception("sweep of credential %s failed", credential.name)
            report[credential.name] = None
    return report


def remove_orphans(orphan_ids: list[int]) -> None:
    """Remove the given orphans from their cloud (the admin's action), checking each is still orphaned."""
    by_credential: dict[int, list[OrphanedResource]] = {}
    for row in OrphanedResource.objects.filter(pk__in=orphan_ids, removed__isnull=True).select_related("credential"):
        by_credential.setdefault(row.credential_id, []).append(row)
    for rows in by_credential.values():
        credential = rows[0].credential
        current = {(r.kind, r.cloud_id) for r in sweep(credential, remove=False)}
        provider = providers()[credential.load_balancers]
        conn = shared(credential)
        for row in rows:
            if (row.kind, row.cloud_id) not in current:
                continue
            provider.remove(conn, Orphan(row.kind, row.cloud_id, row.name, row.detail))
            row.removed = timezone.now()
            row.save(update_fields=["removed"])
