"""kubectl-describe-like text of a pod, deployment, replica set or service, with its events."""

from __future__ import annotations

from datetime import UTC, datetime

from labs.live import presenters, rollouts

INDENT = "  "


def _kv(lines: list[str], key: str, value, width: int = 16, indent: str = "") -> None:
    text = "<none>" if value in (None, "", [], {}) else str(value)
    lines.append(f"{indent}{(key + ':').ljust(width)}{text}")


def _map(values: dict | None, width: int = 16) -> str:
    if not values:
        return "<none>"
    pad = "\n" + " " * width
    return pad.join(f"{k}={v}" for k, v in sorted(values.items()))


def _common(lines: list[str], obj: dict) -> None:
    meta = obj.get("metadata") or {}
    _kv(lines, "Name", meta.get("name"))
    _kv(lines, "Namespace", meta.get("namespace"))
    _kv(lines, "Labels", _map(meta.get("labels")))
    _kv(lines, "Annotations", _map(meta.get("annotations")))
    _kv(lines, "CreationTimestamp", meta.get("creationTimestamp"))
    for owner in meta.get("ownerReferences") or []:
        if owner.get("controller"):
            _kv(lines, "Controlled By", f"{owner.get('kind')}/{owner.get('name')}")
    if meta.get("deletionTimestamp"):
        _kv(lines, "Terminating", f"since {meta['deletionTimestamp']}")


def _ports(container: dict) -> str:
    ports = [f"{p.get('containerPort')}/{p.get('protocol') or 'TCP'}" for p in container.get("ports") or []]
    return ", ".join(ports) or "<none>"


def _containers(lines: list[str], containers: list[dict], statuses: list[dict] | None = None, indent: str = "") -> None:
    by_name = {s.get("name"): s for s in statuses or []}
    for c in containers:
        lines.append(f"{indent}{INDENT}{c.get('name')}:")
        inner = indent + INDENT * 2
        _kv(lines, "Image", c.get("image"), 14, inner)
        _kv(lines, "Port", _ports(c), 14, inner)
        if c.get("command"):
            _kv(lines, "Command", " ".join(c["command"]), 14, inner)
        status = by_name.get(c.get("name"))
        if status is not None:
            state = status.get("state") or {}
            if "running" in state:
                _kv(lines, "State", "Running", 14, inner)
                _kv(lines, "  Started", (state["running"] or {}).get("startedAt"), 14, inner)
            elif "waiting" in state:
                _kv(lines, "State", "Waiting", 14, inner)
                _kv(lines, "  Reason", (state["waiting"] or {}).get("reason"), 14, inner)
                if (state["waiting"] or {}).get("message"):
                    _kv(lines, "  Message", state["waiting"]["message"], 14, inner)
            elif "terminated" in state:
                term = state["terminated"] or {}
                _kv(lines, "State", "Terminated", 14, inner)
                _kv(lines, "  Reason", term.get("reason"), 14, inner)
                _kv(lines, "  Exit Code", term.get("exitCode"), 14, inner)
            _kv(lines, "Ready", "True" if status.get("ready") else "False", 14, inner)
            _kv(lines, "Restart Count", status.get("restartCount") or 0, 14, inner)
        requests = (c.get("resources") or {}).get("requests")
        limits = (c.get("resources") or {}).get("limits")
        if limits:
            _kv(lines, "Limits", ", ".join(f"{k}: {v}" for k, v in sorted(limits.items())), 14, inner)
        if requests:
            _kv(lines, "Requests", ", ".join(f"{k}: {v}" for k, v in sorted(requests.items())), 14, inner)


def _conditions(lines: list[str], obj: dict) -> None:
    conditions = (obj.get("status") or {}).get("conditions") or []
    if not conditions:
        return
    lines.append("Conditions:")
    lines.append(f"{INDENT}{'Type'.ljust(20)}{'Status'.ljust(8)}Reason")
    lines.append(f"{INDENT}{'----'.ljust(20)}{'------'.ljust(8)}------")
    for c in conditions:
        lines.append(f"{INDENT}{str(c.get('type')).ljust(20)}{str(c.get('status')).ljust(8)}{c.get('reason') or ''}")


def describe_pod(pod: dict, lines: list[str]) -> None:
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    _kv(lines, "Node", spec.get("nodeName"))
    _kv(lines, "Start Time", status.get("startTime"))
    _kv(lines, "Status", presenters.pod_status(pod)["status"])
    _kv(lines, "IP", status.get("podIP"))
    if spec.get("initContainers"):
        lines.append("Init Containers:")
        _containers(lines, spec["initContainers"], status.get("initContainerStatuses"))
    lines.append("Containers:")
    _containers(lines, spec.get("containers") or [], status.get("containerStatuses"))
    _conditions(lines, pod)


def describe_deployment(deploy: dict, lines: list[str], replicasets: list[dict] | None = None) -> None:
    spec = deploy.get("spec") or {}
    status = deploy.get("status") or {}
    desired = spec.get("replicas", 1)
    total = status.get("replicas") or 0
    available = status.get("availableReplicas") or 0
    _kv(lines, "Selector", ",".join(f"{k}={v}" for k, v in sorted(((spec.get("selector") or {}).get("matchLabels") or {}).items())))
    _kv(lines, "Replicas", f"{desired} desired | {status.get('updatedReplicas') or 0} updated | {total} total | "
                           f"{available} available | {status.get('unavailableReplicas') or 0} unavailable")
    _kv(lines, "StrategyType", (spec.get("strategy") or {}).get("type"))
    if spec.get("paused"):
        _kv(lines, "Paused", "true (a changed pod template waits until the Deployment is resumed)")
    template = spec.get("template") or {}
    lines.append("Pod Template:")
    _kv(lines, "Labels", _map((template.get("metadata") or {}).get("labels"), 16 + 2), 16, INDENT)
    annotations = (template.get("metadata") or {}).get("annotations")
    if annotations:
        _kv(lines, "Annotations", _map(annotations, 16 + 2), 16, INDENT)
    lines.append(f"{INDENT}Containers:")
    _containers(lines, (template.get("spec") or {}).get("containers") or [], indent=INDENT)
    _conditions(lines, deploy)
    if replicasets is not None:
        _replicaset_lines(lines, deploy, replicasets)


def _replicaset_lines(lines: list[str], deploy: dict, replicasets: list[dict]) -> None:
    """kubectl's OldReplicaSets / NewReplicaSet lines, with each one's revision."""
    current = rollouts.revision_of(deploy)
    owned = sorted(rollouts.owned_replicasets(deploy, replicasets), key=rollouts.revision_of, reverse=True)

    def line(rs: dict) -> str:
        spec, status = rs.get("spec") or {}, rs.get("status") or {}
        return (f"{rs['metadata']['name']} ({status.get('replicas') or 0}/{spec.get('replicas', 0)} replicas created, "
                f"revision {rollouts.revision_of(rs)})")

    new = [line(rs) for rs in owned if rollouts.revision_of(rs) == current and current]
    old = [line(rs) for rs in owned if rollouts.revision_of(rs) != current or not current]
    _kv(lines, "OldReplicaSets", ("\n" + " " * 16).join(old))
    _kv(lines, "NewReplicaSet", new[0] if new else None)


def describe_replicaset(rs: dict, lines: list[str]) -> None:
    spec = rs.get("spec") or {}
    status = rs.get("status") or {}
    _kv(lines, "Selector", ",".join(f"{k}={v}" for k, v in sorted(((spec.get("selector") or {}).get("matchLabels") or {}).items())))
    _kv(lines, "Replicas", f"{status.get('replicas') or 0} current / {spec.get('replicas', 1)} desired")
    _kv(lines, "Pods Status", f"{status.get('readyReplicas') or 0} Ready / {status.get('availableReplicas') or 0} Available")
    template = spec.get("template") or {}
    lines.append("Pod Template:")
    _kv(lines, "Labels", _map((template.get("metadata") or {}).get("labels"), 16 + 2), 16, INDENT)
    lines.append(f"{INDENT}Containers:")
    _containers(lines, (template.get("spec") or {}).get("containers") or [], indent=INDENT)
    _conditions(lines, rs)


def describe_balancer(lines: list[str], balancer: dict) -> None:
    """The cloud load balancer the product builds for the Service: where a pending EXTERNAL-IP explains itself."""
    lines.append("Cloud Load Balancer:")
    _kv(lines, "Provider", balancer.get("provider"), 14, INDENT)
    _kv(lines, "Name", balancer.get("name"), 14, INDENT)
    state = balancer.get("state")
    if balancer.get("step") and balancer.get("state_code") not in ("active", "deleted"):
        state = f"{state} (last step: {balancer['step']})"
    _kv(lines, "State", state, 14, INDENT)
    _kv(lines, "Address", balancer.get("address"), 14, INDENT)
    if balancer.get("error"):
        _kv(lines, "Problem", balancer["error"], 14, INDENT)


def describe_service(svc: dict, lines: list[str], endpoints: dict | None = None, balancer: dict | None = None) -> None:
    spec = svc.get("spec") or {}
    _kv(lines, "Selector", ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items())))
    _kv(lines, "Type", spec.get("type") or "ClusterIP")
    _kv(lines, "IP Families", ",".join(spec.get("ipFamilies") or []))
    _kv(lines, "IP", spec.get("clusterIP"))
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if (spec.get("type") or "ClusterIP") == "LoadBalancer":
        _kv(lines, "LoadBalancer Ingress", ", ".join(i.get("ip") or i.get("hostname") or "" for i in ingress) or "<pending>", 22)
    for p in spec.get("ports") or []:
        name = p.get("name") or "<unset>"
        _kv(lines, "Port", f"{name}  {p.get('port')}/{p.get('protocol') or 'TCP'}")
        _kv(lines, "TargetPort", f"{p.get('targetPort', p.get('port'))}/{p.get('protocol') or 'TCP'}")
        if p.get("nodePort"):
            _kv(lines, "NodePort", f"{name}  {p['nodePort']}/{p.get('protocol') or 'TCP'}")
        _kv(lines, "Endpoints", presenters.endpoint_addresses(endpoints)["text"])
    _kv(lines, "Session Affinity", spec.get("sessionAffinity") or "None")
    if spec.get("externalTrafficPolicy"):
        _kv(lines, "External Traffic Policy", spec["externalTrafficPolicy"], 25)
    if balancer:
        describe_balancer(lines, balancer)


def related_events(events: dict[str, dict], kind: str, name: str) -> list[dict]:
    wanted = {"pods": "Pod", "deployments": "Deployment", "replicasets": "ReplicaSet", "services": "Service"}[kind]
    found = [
        e for e in events.values()
        if (e.get("involvedObject") or {}).get("kind") == wanted and (e.get("involvedObject") or {}).get("name") == name
    ]
    return sorted(found, key=presenters.event_time)


def _events(lines: list[str], events: list[dict], now: datetime) -> None:
    if not events:
        lines.append("Events:           <none>")
        return
    lines.append("Events:")
    rows = [("Type", "Reason", "Age", "From", "Message"), ("----", "------", "----", "----", "-------")]
    for e in events:
        age = presenters.age(presenters.event_time(e), now)["text"]
        count = e.get("count") or 1
        if count > 1:
            age = f"{age} (x{count})"
        source = (e.get("source") or {}).get("component") or e.get("reportingComponent") or ""
        rows.append((e.get("type") or "", e.get("reason") or "", age, source, (e.get("message") or "").strip()))
    widths = [max(len(r[i]) for r in rows) + 2 for i in range(4)]
    for r in rows:
        lines.append(INDENT + "".join(r[i].ljust(widths[i]) for i in range(4)) + r[4])


def describe(kind: str, obj: dict, events: list[dict] | None = None, endpoints: dict | None = None,
             now: datetime | None = None, *, replicasets: list[dict] | None = None,
             balancer: dict | None = None) -> str:
    """The text; a Deployment's ReplicaSets (with their revisions) and a Service's cloud balancer when given."""
    now = now or datetime.now(UTC)
    lines: list[str] = []
    _common(lines, obj)
    if kind == "pods":
        describe_pod(obj, lines)
    elif kind == "deployments":
        describe_deployment(obj, lines, replicasets)
    elif kind == "replicasets":
        describe_replicaset(obj, lines)
    elif kind == "services":
        describe_service(obj, lines, endpoints, balancer)
    _events(lines, events or [], now)
    return "\n".join(lines) + "\n"
