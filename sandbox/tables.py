"""meta.k8s.io/v1 Tables with the columns kubectl prints for the main kinds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from .selectors import selector_object_to_string


def _parse_time(ts: str | None) -> datetime | None:
    if not ts:
        return None
    try:
        return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def age(ts: str | None) -> str:
    """Like kubectl's duration.HumanDuration."""
    t = _parse_time(ts)
    if t is None:
        return "<unknown>"
    s = int((datetime.now(UTC) - t).total_seconds())
    if s < 0:
        s = 0
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = s // 3600
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if d < 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    return f"{d}d"


def _col(name: str, type_: str = "string", description: str = "", priority: int = 0, fmt: str = "") -> dict:
    return {"name": name, "type": type_, "format": fmt, "description": description, "priority": priority}


NAME = _col("Name", fmt="name", description="Name must be unique within a namespace.")
AGE = _col("Age", description="CreationTimestamp is a timestamp representing the server time when this object was created.")


def pod_status(pod: dict) -> tuple[str, int, str]:
    """-> (STATUS like kubectl computes it, restarts, ready "n/m")."""
    status = pod.get("status") or {}
    spec = pod.get("spec") or {}
    reason = status.get("reason") or status.get("phase") or "Pending"
    restarts = 0
    total = len(spec.get("containers") or [])
    ready = 0
    initializing = False
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        restarts += cs.get("restartCount", 0)
        state = cs.get("state") or {}
        term = state.get("terminated")
        if term and term.get("exitCode", 0) == 0:
            continue
        if term:
            reason = "Init:" + (term.get("reason") or f"ExitCode:{term.get('exitCode')}")
        elif (state.get("waiting") or {}).get("reason") not in (None, "", "PodInitializing"):
            reason = "Init:" + state["waiting"]["reason"]
        else:
            reason = f"Init:{i}/{len(spec.get('initContainers') or [])}"
        initializing = True
        break
    if not initializing:
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += cs.get("restartCount", 0)
            state = cs.get("state") or {}
            if (state.get("waiting") or {}).get("reason"):
                reason = state["waiting"]["reason"]
            elif (state.get("terminated") or {}).get("reason"):
                reason = state["terminated"]["reason"]
            elif state.get("terminated"):
                t = state["terminated"]
                reason = f"Signal:{t['signal']}" if t.get("signal") else f"ExitCode:{t.get('exitCode', 0)}"
            elif state.get("running") and cs.get("ready"):
                has_running = True
                ready += 1
            elif state.get("running"):
                has_running = True
        if reason == "Completed" and has_running:
            reason = "Running"
        if reason == "Running" and not any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
        ) and has_running:
            reason = "Running" if ready == total else "Running"
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return reason, restarts, f"{ready}/{total}"


def _pod_row(o: dict) -> list:
    reason, restarts, ready = pod_status(o)
    st = o.get("status") or {}
    gates = o.get("spec", {}).get("readinessGates") or []
    return [o["metadata"]["name"], ready, reason, restarts, age(o["metadata"].get("creationTimestamp")),
            st.get("podIP") or "<none>", o.get("spec", {}).get("nodeName") or "<none>",
            st.get("nominatedNodeName") or "<none>",
            "<none>" if not gates else f"0/{len(gates)}"]


def _ports(spec: dict) -> str:
    parts = []
    for p in spec.get("ports") or []:
        s = str(p.get("port"))
        if p.get("nodePort"):
            s += f":{p['nodePort']}"
        parts.append(f"{s}/{p.get('protocol', 'TCP')}")
    return ",".join(parts) or "<none>"


def _external_ip(o: dict) -> str:
    spec = o.get("spec") or {}
    stype = spec.get("type", "ClusterIP")
    ext = list(spec.get("externalIPs") or [])
    if stype == "LoadBalancer":
        ingress = ((o.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        ips = [i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")]
        ips += ext
        return ",".join(ips) if ips else "<pending>"
    if stype == "ExternalName":
        return spec.get("externalName") or "<none>"
    return ",".join(ext) if ext else "<none>"


def _svc_row(o: dict) -> list:
    spec = o.get("spec") or {}
    sel = spec.get("selector")
    return [o["metadata"]["name"], spec.get("type", "ClusterIP"), spec.get("clusterIP") or "<none>",
            _external_ip(o), _ports(spec), age(o["metadata"].get("creationTimestamp")),
            ",".join(f"{k}={v}" for k, v in sorted(sel.items())) if sel else "<none>"]


def _containers(o: dict) -> tuple[str, str]:
    cs = ((o.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


def _deploy_row(o: dict) -> list:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    names, images = _containers(o)
    return [o["metadata"]["name"], f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
            st.get("updatedReplicas", 0), st.get("availableReplicas", 0),
            age(o["metadata"].get("creationTimestamp")), names, images,
            selector_object_to_string(spec.get("selector")) or "<none>"]


def _rs_row(o: dict) -> list:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    names, images = _containers(o)
    return [o["metadata"]["name"], spec.get("replicas", 0), st.get("replicas", 0), st.get("readyReplicas", 0),
            age(o["metadata"].get("creationTimestamp")), names, images,
            selector_object_to_string(spec.get("selector")) or "<none>"]


def _endpoints_row(o: dict) -> list:
    addrs = []
    for s in o.get("subsets") or []:
        ports = s.get("ports") or [{}]
        for a in s.get("addresses") or []:
            for p in ports:
                addrs.append(f"{a.get('ip')}:{p.get('port')}" if p.get("port") else a.get("ip"))
    text = ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")
    return [o["metadata"]["name"], text or "<none>", age(o["metadata"].get("creationTimestamp"))]


def _event_row(o: dict) -> list:
    inv = o.get("involvedObject") or {}
    last = o.get("lastTimestamp") or o.get("eventTime") or o["metadata"].get("creationTimestamp")
    return [age(last), o.get("type", ""), o.get("reason", ""),
            f"{(inv.get('kind') or '').lower()}/{inv.get('name', '')}", o.get("message", ""),
            (o.get("source") or {}).get("component", ""), age(o.get("firstTimestamp")), o.get("count", 1),
            o["metadata"]["name"]]


def _node_row(o: dict) -> list:
    st = o.get("status") or {}
    ready = next((c for c in st.get("conditions") or [] if c.get("type") == "Ready"), None)
    status = "Ready" if ready and ready.get("status") == "True" else "NotReady"
    if (o.get("spec") or {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    labels = o["metadata"].get("labels") or {}
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))
    info = st.get("nodeInfo") or {}
    addrs = {a.get("type"): a.get("address") for a in st.get("addresses") or []}
    return [o["metadata"]["name"], status, ",".join(roles) or "<none>",
            age(o["metadata"].get("creationTimestamp")), info.get("kubeletVersion", ""),
            addrs.get("InternalIP", "<none>"), addrs.get("ExternalIP", "<none>"),
            info.get("osImage", "<unknown>"), info.get("kernelVersion", "<unknown>"),
            info.get("containerRuntimeVersion", "<unknown>")]


def _ns_row(o: dict) -> list:
    return [o["metadata"]["name"], (o.get("status") or {}).get("phase", "Active"),
            age(o["metadata"].get("creationTimestamp"))]


def _default_row(o: dict) -> list:
    return [o["metadata"]["name"], age(o["metadata"].get("creationTimestamp"))]


def _slice_row(o: dict) -> list:
    ports = ",".join(str(p.get("port")) for p in o.get("ports") or []) or "<unset>"
    eps = [a for e in o.get("endpoints") or [] for a in e.get("addresses") or []]
    text = ",".join(eps[:3]) + (f" + {len(eps) - 3} more..." if len(eps) > 3 else "")
    return [o["metadata"]["name"], o.get("addressType", ""), ports, text or "<unset>",
            age(o["metadata"].get("creationTimestamp"))]


COLUMNS: dict[str, tuple[list[dict], Callable[[dict], list]]] = {
    "pods": ([NAME, _col("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
              _col("Status", description="The aggregate status of the containers in this pod."),
              _col("Restarts", "string", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
              AGE, _col("IP", description="IP address allocated to the pod.", priority=1),
              _col("Node", description="Name of the node where the pod is running.", priority=1),
              _col("Nominated Node", description="Nominated node name.", priority=1),
              _col("Readiness Gates", description="Pod readiness gates.", priority=1)], _pod_row),
    "services": ([NAME, _col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"), AGE,
                  _col("Selector", priority=1)], _svc_row),
    "deployments": ([NAME, _col("Ready"), _col("Up-to-date", "integer"), _col("Available", "integer"), AGE,
                     _col("Containers", priority=1), _col("Images", priority=1), _col("Selector", priority=1)],
                    _deploy_row),
    "replicasets": ([NAME, _col("Desired", "integer"), _col("Current", "integer"), _col("Ready", "integer"), AGE,
                     _col("Containers", priority=1), _col("Images", priority=1), _col("Selector", priority=1)],
                    _rs_row),
    "endpoints": ([NAME, _col("Endpoints"), AGE], _endpoints_row),
    "endpointslices": ([NAME, _col("AddressType"), _col("Ports"), _col("Endpoints"), AGE], _slice_row),
    "events": ([_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Message"),
                _col("Source", priority=1), _col("First Seen", priority=1), _col("Count", "integer", priority=1),
                _col("Name", priority=1)], _event_row),
    "nodes": ([NAME, _col("Status"), _col("Roles"), AGE, _col("Version"), _col("Internal-IP", priority=1),
               _col("External-IP", priority=1), _col("OS-Image", priority=1), _col("Kernel-Version", priority=1),
               _col("Container-Runtime", priority=1)], _node_row),
    "namespaces": ([NAME, _col("Status"), AGE], _ns_row),
}


def _row_object(obj: dict, include: str) -> dict | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    meta = dict(obj.get("metadata") or {})
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}


def table(resource: str, objects: list[dict], *, include: str = "Metadata", resource_version: str = "",
          continue_token: str = "", remaining: int | None = None, headers: bool = True) -> dict:
    cols, row_fn = COLUMNS.get(resource, ([NAME, AGE], _default_row))
    rows = []
    for o in objects:
        row = {"cells": row_fn(o)}
        ro = _row_object(o, include)
        if ro is not None:
            row["object"] = ro
        rows.append(row)
    meta: dict = {"resourceVersion": resource_version}
    if continue_token:
        meta["continue"] = continue_token
    if remaining is not None:
        meta["remainingItemCount"] = remaining
    t = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "rows": rows}
    t["columnDefinitions"] = cols if headers else []
    return t
