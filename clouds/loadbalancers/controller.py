"""The load-balancer controller: makes the cloud match one Service, level-based and idempotent.

`reconcile(cluster_id, namespace, name)` reads the Service as it is now and
either ensures its balancer (finalizer first, then the provider builds, then
status.loadBalancer and the annotations) or, when the Service is being deleted
or no longer of type LoadBalancer, removes the balancer and only then the
finalizer `service.kubernetes.io/load-balancer-cleanup`. It returns the delay
after which it must run again (the cloud is still working, or a failure is
retried with backoff), or None when the Service and the cloud agree. It emits
the events a cloud controller emits, and records every step on the Service's
ServiceBalancer for the student's page.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging

import django.dispatch
from django.db import transaction
from django.utils import timezone
from kubernetes.client.rest import ApiException

from clouds import kube
from clouds.loadbalancers import events
from clouds.loadbalancers.base import (
    ANNOTATION_LB_ADDRESS,
    ANNOTATION_LB_ID,
    ANNOTATION_TAIKUN_PROXY_PROTOCOL,
    BalancerFailed,
    BalancerSpec,
    Provider,
    Retry,
    ServicePort,
    balancer_name,
)
from clouds.loadbalancers.errors import explain_cloud_error
from clouds.models import CloudCredential, Cluster, ServiceBalancer
from clouds.openstack.connection import shared

logger = logging.getLogger(__name__)

FINALIZER = "service.kubernetes.io/load-balancer-cleanup"
REQUEST_TIMEOUT = 15
MAX_RETRY = 300.0
MERGE = "application/merge-patch+json"

# Sent after every change of a ServiceBalancer (a step, a failure, done): cluster_id, namespace, service.
balancer_changed = django.dispatch.Signal()


def providers() -> dict[str, Provider]:
    from clouds.loadbalancers.octavia import OctaviaProvider
    from clouds.loadbalancers.taikun import TaikunProvider

    return {"octavia": OctaviaProvider(), "taikun": TaikunProvider()}


# -- reading the Service ----------------------------------------------------------


def wants_balancer(service: dict) -> bool:
    return (service.get("spec") or {}).get("type") == "LoadBalancer" and not (
        service.get("metadata") or {}).get("deletionTimestamp")


def finalizers(service: dict) -> list[str]:
    return list((service.get("metadata") or {}).get("finalizers") or [])


def service_ports(service: dict) -> tuple[ServicePort, ...]:
    ports = []
    for i, p in enumerate((service.get("spec") or {}).get("ports") or []):
        if p.get("nodePort"):
            ports.append(ServicePort(p.get("name") or f"port-{i}", p.get("protocol") or "TCP", int(p["port"]),
                                     int(p["nodePort"])))
    return tuple(ports)


def node_addresses(core) -> tuple[str, ...]:
    """The InternalIP of every Ready node (the balancer's members), sorted."""
    found = []
    for node in core.list_node(_request_timeout=REQUEST_TIMEOUT).items:
        ready = any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or []))
        internal = [a.address for a in (node.status.addresses or []) if a.type == "InternalIP"]
        if ready and internal:
            found.append(internal[0])
    return tuple(sorted(found))


def _read(core, namespace: str, name: str) -> dict | None:
    try:
        resp = core.read_namespaced_service(name, namespace, _preload_content=False,
                                            _request_timeout=REQUEST_TIMEOUT)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return json.loads(resp.data)


def signature(spec: BalancerSpec) -> str:
    """What the balancer is built from: a change of any of it makes the controller update the cloud."""
    raw = json.dumps([[dataclasses.astuple(p) for p in spec.ports], spec.nodes, spec.subnet, spec.floating_network,
                      spec.proxy_protocol, spec.flavor, spec.vrid])
    return hashlib.sha1(raw.encode()).hexdigest()[:16]


# -- the record the student's page reads ------------------------------------------------


class Record:
    """The ServiceBalancer of one Service, written step by step (each write is announced)."""

    def __init__(self, row: ServiceBalancer):
        self.row = row

    def _save(self, *fields: str) -> None:
        self.row.save(update_fields=[*fields, "updated"])
        balancer_changed.send(sender=ServiceBalancer, cluster_id=self.row.cluster_id,
                              namespace=self.row.namespace, service=self.row.service)

    def step(self, step: str, detail: str = "") -> None:
        self.row.steps = [*self.row.steps, {"step": step, "detail": detail, "at": timezone.now().isoformat()}]
        self._save("steps")

    def state(self, state: str, **fields) -> None:
        self.row.state = state
        for key, value in fields.items():
            setattr(self.row, key, value)
        self._save("state", *fields)


def _record_for(cluster: Cluster, service: dict, provider: str) -> Record:
    meta = service["metadata"]
    row, created = ServiceBalancer.objects.get_or_create(
        cluster=cluster, namespace=meta["namespace"], service=meta["name"],
        defaults={"provider": provider, "service_uid": meta.get("uid", ""),
                  "name": balancer_name(cluster.name, meta["namespace"], meta["name"])})
    record = Record(row)
    if not created and (row.service_uid != meta.get("uid", "") or row.state == ServiceBalancer.State.DELETED):
        # A new Service of the same name: a new build, with its own steps.
        record.state(ServiceBalancer.State.BUILDING, service_uid=row.service_uid, provider=provider, steps=[],
                     attempts=0, cause="", error="", address=None, cloud={})
    return record


def allocate_vrid(record: Record, credential: CloudCredential) -> int:
    """A keepalived virtual router id from the credential's range, unique among its live balancers."""
    if record.row.vrid:
        return record.row.vrid
    with transaction.atomic():
        taken = set(ServiceBalancer.objects.select_for_update()
                    .filter(cluster__cloud_credential=credential, vrid__isnull=False)
                    .exclude(state=ServiceBalancer.State.DELETED).exclude(pk=record.row.pk)
                    .values_list("vrid", flat=True))
        free = [v for v in range(credential.taikun_vrid_start, credential.taikun_vrid_end + 1) if v not in taken]
        if not free:
            raise BalancerFailed(
                "vrid-exhausted",
                f"Every virtual router id from {credential.taikun_vrid_start} to {credential.taikun_vrid_end} is "
                "used by another Taikun LB.", "An admin can widen the credential's virtual router id range.")
        ServiceBalancer.objects.filter(pk=record.row.pk).update(vrid=free[0])
        record.row.vrid = free[0]
    return free[0]


def spec_for(cluster: Cluster, service: dict, nodes: tuple[str, ...], vrid: int | None = None) -> BalancerSpec:
    meta = service["metadata"]
    credential = cluster.cloud_credential
    annotations = meta.get("annotations") or {}
    return BalancerSpec(
        name=balancer_name(cluster.name, meta["namespace"], meta["name"]),
        cluster=cluster.name, namespace=meta["namespace"], service=meta["name"], service_uid=meta.get("uid", ""),
        ports=service_ports(service), nodes=nodes, subnet=cluster.lb_subnet,
        floating_network=credential.floating_network,
        proxy_protocol=str(annotations.get(ANNOTATION_TAIKUN_PROXY_PROTOCOL, "")).lower() == "true",
        flavor=credential.taikun_flavor, availability_zone=credential.availability_zone, vrid=vrid)


# -- reconcile -------------------------------------------------------------------------


def reconcile(cluster_id, namespace: str, name: str) -> float | None:
    """Make the cloud match the Service now; the delay before running again, or None."""
    cluster = Cluster.objects.select_related("cloud_credential").filter(pk=cluster_id).first()
    if cluster is None or not cluster.balancers_by_product:
        return None
    core = kube.core(cluster)
    service = _read(core, namespace, name)
    if service is not None and wants_balancer(service):
        return _ensure(cluster, core, service)
    return _release(cluster, core, namespace, name, service)


def _backoff(record: Record, base: float) -> float:
    attempts = record.row.attempts + 1
    ServiceBalancer.objects.filter(pk=record.row.pk).update(attempts=attempts)
    record.row.attempts = attempts
    return min(base * 2 ** (attempts - 1), MAX_RETRY)


def _ensure(cluster: Cluster, core, service: dict) -> float | None:
    credential = cluster.cloud_credential
    meta = service["metadata"]
    provider_name = credential.load_balancers
    if FINALIZER not in finalizers(service):
        body = {"metadata": {"finalizers": [*finalizers(service), FINALIZER],
                             "resourceVersion": meta["resourceVersion"]}}
        core.patch_namespaced_service(meta["name"], meta["namespace"], body, _content_type=MERGE,
                                      _request_timeout=REQUEST_TIMEOUT)
        return 0.1  # read it again: the next pass works on the Service as stored
    if provider_name == CloudCredential.LoadBalancers.NONE:
        events.emit(core, service, events.FAILED, "Error syncing load balancer: the cloud credential "
                                                  f"{credential.name} provisions no load balancer")
        return None
    record = _record_for(cluster, service, provider_name)
    nodes = node_addresses(core)
    vrid = None
    try:
        if provider_name == CloudCredential.LoadBalancers.TAIKUN:
            vrid = allocate_vrid(record, credential)
        spec = spec_for(cluster, service, nodes, vrid)
    except BalancerFailed as failure:
        return _failed(record, core, service, failure)
    wanted = signature(spec)
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if (record.row.state == ServiceBalancer.State.ACTIVE and record.row.cloud.get("signature") == wanted
            and ingress and ingress[0].get("ip") == record.row.address):
        return None  # the cloud and the Service agree
    first_pass = record.row.state != ServiceBalancer.State.ACTIVE and not record.row.steps
    updating = record.row.state == ServiceBalancer.State.ACTIVE
    if first_pass:
        events.emit(core, service, events.ENSURING, "Ensuring load balancer")
        if not spec.floating_network:
            events.emit(core, service, events.FORCED_INTERNAL,
                        "The cloud credential has no floating network: the balancer gets no public address")
    if not spec.ports:
        return _failed(record, core, service, BalancerFailed(
            "no-ports", "The Service has no port with a node port yet.", "Give the Service a TCP port."))
    try:
        conn = shared(credential)
        ensured = providers()[provider_name].ensure(conn, spec, record.step)
    except Retry as wait:
        if record.row.state != ServiceBalancer.State.BUILDING and not updating:
            record.state(ServiceBalancer.State.BUILDING)
        return wait.delay
    except BalancerFailed as failure:
        return _failed(record, core, service, failure)
    except Exception as exc:  # the cloud's own errors, in plain words
        return _failed(record, core, service, explain_cloud_error(exc))
    _publish(core, service, ensured.address, ensured.balancer_id)
    cloud = {**ensured.cloud, "balancer_id": ensured.balancer_id, "signature": wanted}
    record.state(ServiceBalancer.State.ACTIVE, address=ensured.address, cloud=cloud, cause="", error="", attempts=0)
    if updating:
        events.emit(core, service, events.UPDATED, f"Updated load balancer with new hosts ({len(nodes)} nodes)")
    else:
        record.step("ready", f"The Service's external IP is {ensured.address}")
        events.emit(core, service, events.ENSURED, "Ensured load balancer")
    return None


def _failed(record: Record, core, service: dict, failure: BalancerFailed) -> float | None:
    text = failure.message + (f" {failure.fix}" if failure.fix else "")
    if record.row.error != text:
        events.emit(core, service, events.FAILED, f"Error syncing load balancer: {failure.message}")
    record.step("failed", text)
    record.state(ServiceBalancer.State.FAILED, cause=failure.cause, error=text)
    if failure.retry_after is None:
        return None
    return _backoff(record, failure.retry_after)


def _publish(core, service: dict, address: str, balancer_id: str) -> None:
    meta = service["metadata"]
    core.patch_namespaced_service_status(
        meta["name"], meta["namespace"], {"status": {"loadBalancer": {"ingress": [{"ip": address}]}}},
        _content_type=MERGE, _request_timeout=REQUEST_TIMEOUT)
    core.patch_namespaced_service(
        meta["name"], meta["namespace"],
        {"metadata": {"annotations": {ANNOTATION_LB_ID: balancer_id, ANNOTATION_LB_ADDRESS: address}}},
        _content_type=MERGE, _request_timeout=REQUEST_TIMEOUT)


def _release(cluster: Cluster, core, namespace: str, name: str, service: dict | None) -> float | None:
    """The Service is going (or stopped being a LoadBalancer): remove the balancer, then the finalizer."""
    row = ServiceBalancer.objects.filter(cluster=cluster, namespace=namespace, service=name).first()
    holding = service is not None and FINALIZER in finalizers(service)
    if (row is None or row.state == ServiceBalancer.State.DELETED) and not holding:
        return None
    record = Record(row) if row is not None else None
    if record is not None and row.state != ServiceBalancer.State.DELETED:
        if row.state != ServiceBalancer.State.DELETING:
            if service is not None:
                events.emit(core, service, events.DELETING, "Deleting load balancer")
            record.state(ServiceBalancer.State.DELETING)
            record.step("deleting", "Deleting the load balancer and releasing its floating IP")
        spec = BalancerSpec(name=row.name, cluster=cluster.name, namespace=namespace, service=name,
                            service_uid=row.service_uid, ports=(), nodes=(), subnet=cluster.lb_subnet,
                            floating_network=cluster.cloud_credential.floating_network, vrid=row.vrid)
        try:
            providers()[row.provider].delete(shared(cluster.cloud_credential), spec, record.step)
        except Retry as wait:
            return wait.delay
        except Exception as exc:
            failure = exc if isinstance(exc, BalancerFailed) else explain_cloud_error(exc)
            record.step("failed", f"Deleting the balancer failed: {failure.message}")
            if service is not None:
                events.emit(core, service, events.FAILED, f"Error deleting load balancer: {failure.message}")
            return _backoff(record, failure.retry_after or 30.0)
        record.step("deleted", "The load balancer is gone and its floating IP released")
        record.state(ServiceBalancer.State.DELETED, address=None, vrid=None, attempts=0)
        if service is not None:
            events.emit(core, service, events.DELETED, "Deleted load balancer")
    if service is not None:
        meta = service["metadata"]
        body = {"metadata": {"finalizers": [f for f in finalizers(service) if f != FINALIZER] or None,
                             "resourceVersion": meta["resourceVersion"]}}
        if not wants_balancer(service) and not meta.get("deletionTimestamp"):
            core.patch_namespaced_service_status(name, namespace, {"status": {"loadBalancer": {}}},
                                                 _content_type=MERGE, _request_timeout=REQUEST_TIMEOUT)
        try:
            core.patch_namespaced_service(name, namespace, body, _content_type=MERGE,
                                          _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status == 409:
                return 0.2  # changed meanwhile: look again
            if exc.status != 404:
                raise
    return None
