"""What the live panel shows of each object, computed the way kubectl prints it.

Inputs are API objects as JSON dicts (camelCase); outputs are plain dicts the
panel templates render without logic of their own.
"""

from __future__ import annotations

from datetime import UTC, datetime

EVENTS_SHOWN = 25


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """kubectl's HumanDuration (k8s.io/apimachinery/pkg/util/duration)."""
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    s = int(seconds)
    if s < 60 * 2:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def age(timestamp: str | None, now: datetime | None = None) -> dict:
    """{"iso": ..., "text": ...} for a <time> element; text "<unknown>" without a time."""
    when = parse_time(timestamp)
    if when is None:
        return {"iso": "", "text": "<unknown>"}
    now = now or datetime.now(UTC)
    return {"iso": when.isoformat().replace("+00:00", "Z"), "text": human_duration((now - when).total_seconds())}


def _meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def _has_ready_condition(pod: dict) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def pod_status(pod: dict) -> dict:
    """READY, STATUS and RESTARTS of `kubectl get pods` (printPod)."""
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    total = len(spec.get("containers") or [])
    ready = 0
    restarts = 0
    reason = status.get("reason") or status.get("phase") or "Pending"

    init_statuses = status.get("initContainerStatuses") or []
    init_count = len(spec.get("initContainers") or [])
    initializing = False
    for i, c in enumerate(init_statuses):
        restarts += c.get("restartCount") or 0
        state = c.get("state") or {}
        terminated = state.get("terminated")
        waiting = state.get("waiting")
        if terminated and terminated.get("exitCode") == 0:
            continue
        if terminated:
            if terminated.get("reason"):
                reason = "Init:" + terminated["reason"]
            elif terminated.get("signal"):
                reason = f"Init:Signal:{terminated['signal']}"
            else:
                reason = f"Init:ExitCode:{terminated.get('exitCode')}"
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{init_count}"
        initializing = True
        break

    if not initializing:
        restarts = 0
        has_running = False
        for c in reversed(status.get("containerStatuses") or []):
            restarts += c.get("restartCount") or 0
            state = c.get("state") or {}
            waiting = state.get("waiting")
            terminated = state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated and terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated:
                reason = (
                    f"Signal:{terminated['signal']}" if terminated.get("signal")
                    else f"ExitCode:{terminated.get('exitCode')}"
                )
            elif c.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _has_ready_condition(pod) else "NotReady"

    if _meta(pod).get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"

    return {"ready": f"{ready}/{total}", "status": reason, "restarts": restarts, "tone": status_tone(reason)}


GOOD = {"Running", "Completed", "Succeeded", "Available", "Bound"}
BUSY = {"Pending", "ContainerCreating", "PodInitializing", "Terminating", "NotReady"}


def status_tone(reason: str) -> str:
    """A CSS class for a status: ok, busy or bad."""
    if reason in GOOD:
        return "ok"
    if reason in BUSY or reason.startswith("Init:") and reason[5:6].isdigit():
        return "busy"
    return "bad"


def present_pod(pod: dict, now: datetime | None = None) -> dict:
    meta = _meta(pod)
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    return {
        "name": meta.get("name", ""),
        **pod_status(pod),
        "age": age(meta.get("creationTimestamp"), now),
        "node": spec.get("nodeName") or "<none>",
        "ip": status.get("podIP") or "<none>",
        "containers": [c.get("name") for c in spec.get("containers") or []],
        "labels": meta.get("labels") or {},
    }


def _conditions(obj: dict) -> dict[str, dict]:
    return {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or []}


def present_deployment(deploy: dict, now: datetime | None = None) -> dict:
    meta = _meta(deploy)
    spec = deploy.get("spec") or {}
    status = deploy.get("status") or {}
    desired = spec.get("replicas", 1)
    conditions = _conditions(deploy)
    shown = []
    for kind in ("Available", "Progressing", "ReplicaFailure"):
        c = conditions.get(kind)
        if c:
            healthy = (c.get("status") == "True") != (kind == "ReplicaFailure")
            shown.append({
                "type": kind,
                "status": c.get("status"),
                "reason": c.get("reason") or "",
                "message": c.get("message") or "",
                "tone": "ok" if healthy else "bad",
            })
    ready = status.get("readyReplicas") or 0
    return {
        "name": meta.get("name", ""),
        "ready": f"{ready}/{desired}",
        "replicas": desired,
        "up_to_date": status.get("updatedReplicas") or 0,
        "available": status.get("availableReplicas") or 0,
        "conditions": shown,
        "tone": "ok" if ready >= desired and desired > 0 else ("busy" if desired else "ok"),
        "age": age(meta.get("creationTimestamp"), now),
    }


def present_replicaset(rs: dict, now: datetime | None = None) -> dict:
    meta = _meta(rs)
    spec = rs.get("spec") or {}
    status = rs.get("status") or {}
    owner = next((o.get("name") for o in meta.get("ownerReferences") or [] if o.get("kind") == "Deployment"), "")
    desired = spec.get("replicas", 1)
    return {
        "name": meta.get("name", ""),
        "desired": desired,
        "current": status.get("replicas") or 0,
        "ready": status.get("readyReplicas") or 0,
        "owner": owner,
        "inactive": desired == 0,
        "age": age(meta.get("creationTimestamp"), now),
    }


def service_ports(svc: dict) -> str:
    """PORT(S) as kubectl prints it: 80:31234/TCP,443/TCP; <none> without ports."""
    parts = []
    for p in (svc.get("spec") or {}).get("ports") or []:
        protocol = p.get("protocol") or "TCP"
        if p.get("nodePort"):
            parts.append(f"{p.get('port')}:{p['nodePort']}/{protocol}")
        else:
            parts.append(f"{p.get('port')}/{protocol}")
    return ",".join(parts) or "<none>"


def _url(address: str, port: int | None) -> str:
    host = f"[{address}]" if ":" in address else address
    if port in (None, 80):
        return f"http://{host}/"
    return f"http://{host}:{port}/"


def service_external(svc: dict) -> dict:
    """EXTERNAL-IP: {"text", "pending", "links": [{"address", "url"}]}.

    Empty for a ClusterIP Service without external IPs, `<pending>` for a
    LoadBalancer that has no ingress yet, the addresses (each a link to
    http://address:port) once assigned, `<unknown>` for unknown types.
    """
    spec = svc.get("spec") or {}
    kind = spec.get("type") or "ClusterIP"
    external_ips = list(spec.get("externalIPs") or [])
    tcp_ports = [p.get("port") for p in spec.get("ports") or [] if (p.get("protocol") or "TCP") == "TCP"]
    port = tcp_ports[0] if tcp_ports else None
    addresses: list[str]
    if kind in ("ClusterIP", "NodePort"):
        addresses = external_ips
        if not addresses:
            return {"text": "" if kind == "ClusterIP" else "<none>", "pending": False, "links": []}
    elif kind == "LoadBalancer":
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        addresses = [i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")]
        addresses += external_ips
        if not addresses:
            return {"text": "<pending>", "pending": True, "links": []}
    elif kind == "ExternalName":
        name = spec.get("externalName") or ""
        return {"text": name, "pending": False, "links": []}
    else:
        return {"text": "<unknown>", "pending": False, "links": []}
    links = [{"address": a, "url": _url(a, port) if port is not None else ""} for a in addresses]
    return {"text": ",".join(addresses), "pending": False, "links": links}


def endpoint_addresses(endpoints: dict | None) -> dict:
    """ENDPOINTS: ready addresses as ip:port (first three, then "+ N more"), and counts."""
    if not endpoints:
        return {"text": "<none>", "ready": 0, "not_ready": 0}
    shown: list[str] = []
    ready = not_ready = 0
    for subset in endpoints.get("subsets") or []:
        ports = [p.get("port") for p in subset.get("ports") or []] or [None]
        for address in subset.get("addresses") or []:
            ready += 1
            for port in ports:
                shown.append(f"{address.get('ip')}:{port}" if port else address.get("ip", ""))
        not_ready += len(subset.get("notReadyAddresses") or [])
    if not shown:
        return {"text": "<none>", "ready": 0, "not_ready": not_ready}
    text = ",".join(shown[:3]) + (f" + {len(shown) - 3} more..." if len(shown) > 3 else "")
    more = len(shown) - 3 if len(shown) > 3 else 0
    return {"text": text, "shown": shown[:3], "more": more, "ready": ready, "not_ready": not_ready}


def present_service(svc: dict, endpoints: dict | None = None, now: datetime | None = None) -> dict:
    meta = _meta(svc)
    spec = svc.get("spec") or {}
    selector = spec.get("selector") or {}
    return {
        "name": meta.get("name", ""),
        "type": spec.get("type") or "ClusterIP",
        "cluster_ip": spec.get("clusterIP") or "<none>",
        "external": service_external(svc),
        "ports": service_ports(svc),
        "selector": ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>",
        "endpoints": endpoint_addresses(endpoints),
        "age": age(meta.get("creationTimestamp"), now),
    }


def event_time(event: dict) -> str:
    """The last time an event was seen (lastTimestamp, eventTime, series, or creation)."""
    return (
        event.get("lastTimestamp")
        or ((event.get("series") or {}).get("lastObservedTime"))
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or _meta(event).get("creationTimestamp")
        or ""
    )


def present_event(event: dict, now: datetime | None = None) -> dict:
    involved = event.get("involvedObject") or event.get("regarding") or {}
    kind = (involved.get("kind") or "").lower()
    count = event.get("count") or (event.get("series") or {}).get("count") or 1
    return {
        "name": _meta(event).get("name", ""),
        "type": event.get("type") or "Normal",
        "reason": event.get("reason") or "",
        "object": f"{kind}/{involved.get('name', '')}" if kind else involved.get("name", ""),
        "message": (event.get("message") or event.get("note") or "").strip(),
        "count": count,
        "age": age(event_time(event), now),
        "tone": "bad" if event.get("type") == "Warning" else "ok",
    }


def _sorted_by_name(objects: dict[str, dict]) -> list[dict]:
    return [objects[name] for name in sorted(objects)]


def newest_events(events: dict[str, dict], limit: int = EVENTS_SHOWN) -> list[dict]:
    ordered = sorted(events.values(), key=lambda e: (event_time(e), _meta(e).get("name", "")), reverse=True)
    return ordered[:limit]


def present_namespace(state: dict[str, dict[str, dict]], now: datetime | None = None) -> dict:
    """Everything the panel shows, from clouds.watch.state.load_namespace()."""
    now = now or datetime.now(UTC)
    endpoints = state.get("endpoints") or {}
    return {
        "pods": [present_pod(p, now) for p in _sorted_by_name(state.get("pods") or {})],
        "deployments": [present_deployment(d, now) for d in _sorted_by_name(state.get("deployments") or {})],
        "replicasets": [present_replicaset(r, now) for r in _sorted_by_name(state.get("replicasets") or {})],
        "services": [
            present_service(s, endpoints.get(name), now)
            for name, s in sorted((state.get("services") or {}).items())
        ],
        "events": [present_event(e, now) for e in newest_events(state.get("events") or {})],
        "event_total": len(state.get("events") or {}),
    }


def node_roles(labels: dict) -> str:
    """ROLES as kubectl prints it: from node-role.kubernetes.io/<role> labels (and kubernetes.io/role)."""
    roles = {key.split("/", 1)[1] for key in labels if key.startswith("node-role.kubernetes.io/")}
    if labels.get("kubernetes.io/role"):
        roles.add(labels["kubernetes.io/role"])
    return ",".join(sorted(r for r in roles if r)) or "<none>"


def present_node(node: dict, now: datetime | None = None) -> dict:
    """A row of `kubectl get nodes` with the capacity a student needs to explain a Pending pod."""
    meta = _meta(node)
    status = node.get("status") or {}
    ready = _conditions(node).get("Ready")
    text = {"True": "Ready", "False": "NotReady"}.get((ready or {}).get("status"), "Unknown")
    if (node.get("spec") or {}).get("unschedulable"):
        text += ",SchedulingDisabled"
    capacity = status.get("capacity") or {}
    allocatable = status.get("allocatable") or {}
    labels = meta.get("labels") or {}
    return {
        "name": meta.get("name", ""),
        "status": text,
        "tone": "ok" if text == "Ready" else "bad",
        "roles": node_roles(labels),
        "cpu": allocatable.get("cpu") or capacity.get("cpu") or "<unknown>",
        "memory": allocatable.get("memory") or capacity.get("memory") or "<unknown>",
        "pods": allocatable.get("pods") or capacity.get("pods") or "<unknown>",
        "labels": [f"{k}={v}" for k, v in sorted(labels.items())],
        "age": age(meta.get("creationTimestamp"), now),
    }


def present_nodes(nodes: dict[str, dict], now: datetime | None = None) -> list[dict]:
    now = now or datetime.now(UTC)
    return [present_node(n, now) for n in _sorted_by_name(nodes)]


# The status a session's namespace has while the session is in each state.
NAMESPACE_STATUS = {"provisioning": ("Creating", "busy"), "ready": ("Active", "ok"),
                    "ending": ("Terminating", "busy"), "ended": ("Deleted", "busy"), "failed": ("Unknown", "bad")}


def present_lab_namespace(name: str, session_state: str, labels: dict, quota: dict, limit_range: dict,
                          quota_name: str = "", limits_name: str = "") -> dict:
    """The session's namespace as the product made it: labels, quota and container defaults."""
    status, tone = NAMESPACE_STATUS.get(session_state, ("Unknown", "bad"))
    defaults = []
    for limit in limit_range.get("limits") or []:
        for what, key in (("request", "defaultRequest"), ("limit", "default")):
            values = limit.get(key) or {}
            if values:
                defaults.append({"what": what, "cpu": values.get("cpu", ""), "memory": values.get("memory", "")})
    return {
        "name": name,
        "status": status,
        "tone": tone,
        "labels": [f"{k}={v}" for k, v in sorted(labels.items())],
        "quota": sorted((quota.get("hard") or {}).items()),
        "quota_name": quota_name,
        "defaults": defaults,
        "limits_name": limits_name,
    }
