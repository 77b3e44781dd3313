"""Prepare and remove a session's namespace on its cluster (called by the lifecycle's Celery tasks)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from kubernetes import client
from kubernetes.client import ApiException
from urllib3.exceptions import HTTPError

from clouds import kube
from clouds.kube import api_message
from clouds.openstack.quota import floating_ip_headroom
from labs.content_loader import load_lab
from labs.models import LabSession

logger = logging.getLogger(__name__)
Progress = Callable[[str], None]
REQUEST_TIMEOUT = 15
NAMESPACE_LABEL = settings.LIVEOPS_LAB_NAMESPACE_LABEL
# The cloud controller's finalizer: it holds a Service until the cloud's balancer is gone.
# Never removed by the product (that would leak the balancer); its controller removes it.
LB_CLEANUP_FINALIZER = "service.kubernetes.io/load-balancer-cleanup"
# How long one cleanup waits for a Service or the namespace to go; then it fails and is retried later.
TEARDOWN_TIMEOUT = 180.0
QUOTA_NAME = "lab-quota"
LIMITS_NAME = "lab-limits"


class ProvisioningError(Exception):
    """A step failed; the message says which and why, in words for the student."""


def _unreachable(session: LabSession, exc: Exception) -> ProvisioningError:
    """The student's message names the cluster, not its address; the details go to the log."""
    logger.warning("cluster %s unavailable for session %s: %r", session.cluster.name, session.pk, exc)
    if isinstance(exc, (OSError, HTTPError)):
        return ProvisioningError(f"The cluster {session.cluster.name} cannot be reached; try again in a minute.")
    return ProvisioningError(f"The cluster {session.cluster.name} is not set up correctly; an admin has to fix it.")


# Pod Security Admission: the API server refuses pods below "baseline" (host namespaces, privileged
# containers, hostPath, host ports, added capabilities...) and warns below "restricted".
POD_SECURITY_LABELS = {
    "pod-security.kubernetes.io/enforce": "baseline",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/warn-version": "latest",
}
NETWORK_POLICY_NAME = "lab-isolation"


def namespace_labels(session: LabSession) -> dict:
    return {
        NAMESPACE_LABEL: session.id.hex,
        "liveops.dev/lab": session.lab_slug,
        "app.kubernetes.io/managed-by": "liveops-labs",
        **POD_SECURITY_LABELS,
    }


def network_policy_spec() -> dict:
    """Ingress to the session's pods: from its own pods, from namespaces that are no lab's (ingress
    controllers, monitoring), and from addresses outside the cluster's pod network (the load balancer and
    the nodes forward the student's traffic). Other labs' pods are refused; where the network plugin
    matches pod addresses against ipBlock, LIVEOPS_LAB_POD_CIDRS keeps their addresses out of it."""
    outside = {"cidr": "0.0.0.0/0"}
    if settings.LIVEOPS_LAB_POD_CIDRS:
        outside["except"] = list(settings.LIVEOPS_LAB_POD_CIDRS)
    return {
        "podSelector": {},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [
            {"podSelector": {}},
            {"namespaceSelector": {"matchExpressions": [{"key": NAMESPACE_LABEL, "operator": "DoesNotExist"}]}},
            {"ipBlock": outside},
        ]}],
    }


# kind -> (API version, client API class, method stem)
PROVISIONED_KINDS = {
    "ResourceQuota": ("v1", "CoreV1Api", "resource_quota"),
    "LimitRange": ("v1", "CoreV1Api", "limit_range"),
    "NetworkPolicy": ("networking.k8s.io/v1", "NetworkingV1Api", "network_policy"),
}


def _create_or_replace(api_client: client.ApiClient, session: LabSession, kind: str, name: str, spec: dict) -> None:
    """Create a namespaced object, or replace it when it exists (so provisioning can be retried)."""
    api_version, api_class, stem = PROVISIONED_KINDS[kind]
    api = getattr(client, api_class)(api_client)
    namespace = session.namespace
    body = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": namespace},
            "spec": spec}
    try:
        getattr(api, f"create_namespaced_{stem}")(namespace, body, _request_timeout=REQUEST_TIMEOUT)
    except ApiException as exc:
        if exc.status != 409:
            raise
        getattr(api, f"replace_namespaced_{stem}")(name, namespace, body, _request_timeout=REQUEST_TIMEOUT)


def check_cloud_headroom(session: LabSession, progress: Progress) -> None:
    """When this product builds the cluster's balancers: the cloud must still have a floating IP to give."""
    cluster = session.cluster
    if not cluster.balancers_by_product or not cluster.cloud_credential.floating_network:
        return
    progress("Checking that the cloud can give your load balancer an external IP")
    try:
        headroom = floating_ip_headroom(cluster.cloud_credential)
    except Exception as exc:  # the cloud's own errors are logged; the student reads what to do
        logger.warning("cloud of cluster %s unavailable for session %s: %s", cluster.name, session.pk,
                       type(exc).__name__)
        raise ProvisioningError("The cloud behind this lab cannot be reached right now, so your load balancer "
                                "could not get an external IP. Try again in a minute.") from None
    if headroom == 0:
        raise ProvisioningError("The cloud has no floating IP left for a new load balancer: every external IP "
                                "of the lab's project is in use. Ask your instructor to end unused labs or to "
                                "raise the project's floating-IP quota, then start again.")


def provision(session: LabSession, progress: Progress) -> None:
    ns = session.namespace
    check_cloud_headroom(session, progress)
    try:
        lab = load_lab(session.lab_slug)
        # One client for every step: finding it reads and checks the cluster's kubeconfig each time,
        # which costs more than a step's request when a whole class starts at once.
        api_client = kube.api_client(session.cluster)
        core = client.CoreV1Api(api_client)
        # One message for the four requests: each message is a database write and a redraw of every open
        # page of the session, which cost more than the requests themselves when a class starts at once.
        progress(f"Creating namespace {ns} with its resource quota, default limits and network isolation")
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": namespace_labels(session)}}
        try:
            core.create_namespace(body=body, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status != 409:
                raise
            # A retry, or a namespace made before these labels: make sure it has them all.
            core.patch_namespace(ns, {"metadata": {"labels": namespace_labels(session)}},
                                 _request_timeout=REQUEST_TIMEOUT)
        _create_or_replace(api_client, session, "ResourceQuota", QUOTA_NAME, lab.quota_spec())
        _create_or_replace(api_client, session, "LimitRange", LIMITS_NAME, lab.limitrange_spec())
        _create_or_replace(api_client, session, "NetworkPolicy", NETWORK_POLICY_NAME, network_policy_spec())
    except ApiException as exc:
        raise ProvisioningError(f"The cluster refused to prepare the namespace: {api_message(exc)}") from exc
    except Exception as exc:
        raise _unreachable(session, exc) from exc


def _finalizers(obj) -> list[str]:
    return list((obj.metadata.finalizers if obj is not None and obj.metadata else None) or [])


def release_unknown_finalizers(patch, obj, what: str, tell: Progress) -> list[str]:
    """Remove from a deleted object the finalizers no controller of a lab handles.

    Students may not set finalizers (the lab policy refuses them); one that is
    there anyway would hold the object, and so the namespace, forever. The
    cloud's load-balancer cleanup finalizer is kept: its controller removes it
    once the balancer is gone, and removing it would leak the balancer.
    """
    current = _finalizers(obj)
    unknown = [f for f in current if f != LB_CLEANUP_FINALIZER]
    if not unknown or obj.metadata.deletion_timestamp is None:
        return []
    kept = [f for f in current if f == LB_CLEANUP_FINALIZER]
    body = {"metadata": {"finalizers": kept or None, "resourceVersion": obj.metadata.resource_version}}
    try:
        # A JSON merge patch replaces the list (a strategic merge would merge it); the resourceVersion
        # makes it fail with 409 if the object changed since it was read.
        patch(body=body, _content_type="application/merge-patch+json", _request_timeout=REQUEST_TIMEOUT)
    except ApiException as exc:
        if exc.status not in (404, 409):  # gone, or changed meanwhile: the next look decides
            raise
        return []
    tell(f"Removed the finalizer {', '.join(unknown)} from {what}: no controller of this lab handles it")
    return unknown


def _wait_gone(read, what: str, tell: Progress, timeout: float, patch=None) -> None:
    """Wait until `read` answers 404; on timeout say what still holds the object."""
    deadline = time.monotonic() + timeout
    obj = None
    while time.monotonic() < deadline:
        try:
            obj = read(_request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status == 404:
                return
            raise
        if patch is not None:
            release_unknown_finalizers(patch, obj, what, tell)
        time.sleep(0.5)
    holding = _finalizers(obj)
    if LB_CLEANUP_FINALIZER in holding:
        raise ProvisioningError(
            f"{what[0].upper()}{what[1:]} is still held by the finalizer {LB_CLEANUP_FINALIZER} after {int(timeout)} s: "
            "the cloud's load-balancer controller has not released the balancer yet. The cleanup is retried; an "
            "admin should check the cloud controller.")
    if holding:
        raise ProvisioningError(f"Timed out after {int(timeout)} s waiting for {what} to be deleted: it is held by "
                                f"the finalizer {', '.join(holding)}.")
    raise ProvisioningError(f"Timed out after {int(timeout)} s waiting for {what} to be deleted")


def _release_namespace_objects(session: LabSession, tell: Progress) -> None:
    """While the namespace terminates: remove unknown finalizers from its deleted objects."""
    api = kube.api_client(session.cluster)
    for plural in ("deployments", "replicasets", "pods", "services", "configmaps"):
        if plural == "configmaps":
            lister = kube.core(session.cluster).list_namespaced_config_map
            patcher = kube.core(session.cluster).patch_namespaced_config_map
        else:
            kind = kube.kind(plural)
            lister = kind.list_in(api)
            patcher = getattr(kind.api(api), f"patch_namespaced_{kind.method}")
        for obj in lister(session.namespace, _request_timeout=REQUEST_TIMEOUT).items:
            name = obj.metadata.name
            release_unknown_finalizers(
                lambda name=name, patcher=patcher, **kw: patcher(name, session.namespace, **kw),
                obj, f"{plural[:-1]} {name}", tell)


def teardown(session: LabSession, progress: Progress, timeout: float | None = None) -> None:
    """Delete LoadBalancer Services first (their cloud load balancer is released), then the namespace.

    Bounded: each wait ends after `timeout` seconds with a ProvisioningError
    that says what holds the object; the caller retries later.
    """
    ns = session.namespace
    timeout = TEARDOWN_TIMEOUT if timeout is None else timeout

    def tell(message: str) -> None:
        """Shown as progress and kept in the session's history (the instructor and admin see it)."""
        progress(message)
        session.record("cleanup", message)
    try:
        core = kube.core(session.cluster)
        try:
            services = core.list_namespaced_service(ns, _request_timeout=REQUEST_TIMEOUT).items
        except ApiException as exc:
            if exc.status == 404:
                return
            raise
        for svc in services:
            if svc.spec.type != "LoadBalancer":
                continue
            name = svc.metadata.name
            ips = ", ".join(i.ip or i.hostname for i in (svc.status.load_balancer.ingress or [])) or "no address yet"
            progress(f"Deleting Service {name} and releasing its load balancer ({ips})")
            try:
                core.delete_namespaced_service(name, ns, _request_timeout=REQUEST_TIMEOUT)
            except ApiException as exc:
                if exc.status != 404:
                    raise
            _wait_gone(
                lambda name=name, **kw: core.read_namespaced_service(name, ns, **kw),
                f"the load balancer of Service {name}",
                tell,
                timeout,
                patch=lambda name=name, **kw: core.patch_namespaced_service(name, ns, **kw),
            )
        progress(f"Deleting namespace {ns}")
        try:
            core.delete_namespace(ns, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status != 404:
                raise

        def read_namespace(**kw):
            namespace = core.read_namespace(ns, **kw)
            _release_namespace_objects(session, tell)
            return namespace

        _wait_gone(read_namespace, f"namespace {ns}", tell, timeout)
    except ApiException as exc:
        raise ProvisioningError(f"The cluster refused the cleanup: {api_message(exc)}") from exc
    except ProvisioningError:
        raise
    except Exception as exc:
        raise _unreachable(session, exc) from exc
