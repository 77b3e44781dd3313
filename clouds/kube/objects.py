"""Pure readers of Kubernetes API objects (as the API's JSON dicts) and of a namespace's observed state.

`state` is {kind plural: {name: object}}, as clouds.watch keeps it. Nothing
here calls a cluster or a database.
"""

from __future__ import annotations

import copy

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def slim(obj: dict) -> dict:
    """A copy of an API object without the fields nobody here reads."""
    obj = copy.copy(obj)
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    annotations = meta.get("annotations")
    if annotations and LAST_APPLIED in annotations:
        annotations = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
        if annotations:
            meta["annotations"] = annotations
        else:
            meta.pop("annotations")
    obj["metadata"] = meta
    return obj


def meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def name_of(obj: dict) -> str:
    return meta(obj).get("name", "")


def objects(state: dict | None, kind: str) -> list[dict]:
    """The objects of one kind ("pods", "services"...), sorted by name."""
    items = (state or {}).get(kind) or {}
    values = items.values() if isinstance(items, dict) else items
    return sorted((o for o in values if isinstance(o, dict)), key=name_of)


def ready_addresses(state: dict, service_name: str) -> list[dict]:
    endpoints = ((state or {}).get("endpoints") or {}).get(service_name) or {}
    found = []
    for subset in endpoints.get("subsets") or []:
        found.extend(subset.get("addresses") or [])
    return found


def not_ready_addresses(state: dict, service_name: str) -> list[dict]:
    endpoints = ((state or {}).get("endpoints") or {}).get(service_name) or {}
    found = []
    for subset in endpoints.get("subsets") or []:
        found.extend(subset.get("notReadyAddresses") or [])
    return found


def lb_ingress(service: dict) -> tuple[str, str]:
    """(ip, hostname) of a LoadBalancer Service's first ingress, or empty strings."""
    for ingress in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
        if ingress.get("ip") or ingress.get("hostname"):
            return ingress.get("ip") or "", ingress.get("hostname") or ""
    return "", ""


def is_load_balancer(service: dict) -> bool:
    return (service.get("spec") or {}).get("type") == "LoadBalancer"


def pod_waiting_reasons(pod: dict) -> list[tuple[str, str, str]]:
    """(container, reason, message) of the containers that wait."""
    found = []
    status = pod.get("status") or {}
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            found.append((cs.get("name", ""), waiting["reason"], waiting.get("message", "")))
    return found


def pod_is_ready(pod: dict) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def deployment_pods(state: dict, deployment: dict) -> list[dict]:
    selector = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if not selector:
        return []
    return [p for p in objects(state, "pods") if labels_match(selector, meta(p).get("labels") or {})
            and not meta(p).get("deletionTimestamp")]


def labels_match(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def events_for(state: dict, kind: str, name: str) -> list[dict]:
    found = []
    for e in objects(state, "events"):
        involved = e.get("involvedObject") or e.get("regarding") or {}
        if involved.get("kind") == kind and involved.get("name") == name:
            found.append(e)
    return sorted(found, key=event_time)


def event_time(event: dict) -> tuple[str, int]:
    """When an event last happened; the resourceVersion orders events of the same second."""
    at = (event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
          or meta(event).get("creationTimestamp") or "")
    version = str(meta(event).get("resourceVersion") or "")
    return at, int(version) if version.isdecimal() else 0


LB_EVENT_REASONS = ("EnsuringLoadBalancer", "EnsuredLoadBalancer", "SyncLoadBalancerFailed", "DeletingLoadBalancer")


def latest_lb_event(state: dict, service_name: str) -> dict | None:
    events = [e for e in events_for(state, "Service", service_name) if e.get("reason") in LB_EVENT_REASONS]
    return events[-1] if events else None
