"""The Kubernetes events a cloud controller writes on a Service (cloud-provider-openstack's reasons)."""

from __future__ import annotations

import logging
import uuid

from django.utils import timezone
from kubernetes.client.rest import ApiException

logger = logging.getLogger(__name__)

COMPONENT = "service-controller"  # as the cloud controller manager reports itself

ENSURING = "EnsuringLoadBalancer"
ENSURED = "EnsuredLoadBalancer"
UPDATED = "UpdatedLoadBalancer"
FAILED = "SyncLoadBalancerFailed"
DELETING = "DeletingLoadBalancer"
DELETED = "DeletedLoadBalancer"
FORCED_INTERNAL = "LoadBalancerForcedInternal"

WARNINGS = {FAILED, FORCED_INTERNAL}


def emit(core, service: dict, reason: str, message: str) -> None:
    """Write one event about `service` (never raises: an event is information, not the work)."""
    meta = service.get("metadata") or {}
    now = timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta.get('name')}.{uuid.uuid4().hex[:16]}", "namespace": meta.get("namespace")},
        "involvedObject": {"apiVersion": "v1", "kind": "Service", "name": meta.get("name"),
                           "namespace": meta.get("namespace"), "uid": meta.get("uid"),
                           "resourceVersion": meta.get("resourceVersion")},
        "reason": reason,
        "message": message[:1024],
        "type": "Warning" if reason in WARNINGS else "Normal",
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    try:
        core.create_namespaced_event(meta.get("namespace"), body, _request_timeout=10)
    except (ApiException, OSError) as exc:
        logger.warning("could not record event %s on service %s/%s: %s", reason, meta.get("namespace"),
                       meta.get("name"), getattr(exc, "status", exc))
