"""Admission of namespaced objects: LimitRange defaults and limits, Pod Security (podsecurity.py), ResourceQuota.

`admit(store, resource, obj, operation)` is called before an object is created or
updated (by the API server, and by the controllers when they create pods). It
mutates `obj` in place (defaults) and raises the store's Forbidden like a real
cluster would.
"""

from __future__ import annotations

from fractions import Fraction

from . import podsecurity
from .controllers.quantity import format_quantity, parse
from .store import Forbidden

COMPUTE = ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "cpu", "memory")
# Object-count quota names of the core group that predate count/<resource>.
_LEGACY_COUNTS = {"pods", "services", "configmaps", "secrets", "resourcequotas",
                  "replicationcontrollers", "persistentvolumeclaims"}
_GROUPS = {"deployments": "apps", "replicasets": "apps", "statefulsets": "apps", "daemonsets": "apps",
           "jobs": "batch", "cronjobs": "batch", "endpointslices": "discovery.k8s.io"}


async def admit(store, resource: str, obj: dict, operation: str) -> list[str]:
    """Returns the warnings for the client (Pod Security's `warn` level)."""
    operation = operation.upper()
    namespace = (obj.get("metadata") or {}).get("namespace")
    if not namespace:
        return []
    if resource == "pods" and operation == "CREATE":
        apply_limit_ranges(store, obj)
    old = None
    if operation == "UPDATE":
        old = store.peek(resource, namespace, obj["metadata"].get("name", ""))
    # Pod Security runs after the mutating plugins and before the quota, as on a real API server.
    warnings = podsecurity.admit(store, resource, obj, operation, old)
    check_quota(store, resource, obj, old)
    return warnings


# ---- LimitRange --------------------------------------------------------------------------

def _containers(pod: dict) -> list[dict]:
    spec = pod.get("spec") or {}
    return list(spec.get("initContainers") or []) + list(spec.get("containers") or [])


def apply_limit_ranges(store, pod: dict) -> None:
    namespace = pod["metadata"]["namespace"]
    errors: list[str] = []
    notes: list[str] = []
    for lr in store.scan("limitranges", namespace):
        for item in (lr.get("spec") or {}).get("limits") or []:
            if item.get("type") != "Container":
                continue
            default = item.get("default") or {}
            default_request = dict(default)
            default_request.update(item.get("defaultRequest") or {})
            for c in _containers(pod):
                res = c.setdefault("resources", {})
                set_limits = [k for k in default if k not in (res.get("limits") or {})]
                set_requests = [k for k in default_request if k not in (res.get("requests") or {})
                                and k not in (res.get("limits") or {})]
                for k in set_limits:
                    res.setdefault("limits", {})[k] = default[k]
                for k in set_requests:
                    res.setdefault("requests", {})[k] = default_request[k]
                if set_requests:
                    notes.append(f"{', '.join(sorted(set_requests))} request for container {c.get('name')}")
                if set_limits:
                    notes.append(f"{', '.join(sorted(set_limits))} limit for container {c.get('name')}")
            for c in _containers(pod):
                res = c.get("resources") or {}
                for k, v in (item.get("max") or {}).items():
                    limit = (res.get("limits") or {}).get(k)
                    if limit is None:
                        errors.append(f"maximum {k} usage per Container is {v}.  No limit is specified")
                    elif parse(limit) > parse(v):
                        errors.append(f"maximum {k} usage per Container is {v}, but limit is {limit}")
                for k, v in (item.get("min") or {}).items():
                    request = (res.get("requests") or {}).get(k)
                    if request is None:
                        errors.append(f"minimum {k} usage per Container is {v}.  No request is specified")
                    elif parse(request) < parse(v):
                        errors.append(f"minimum {k} usage per Container is {v}, but request is {request}")
    # requests default to limits (pod defaulting)
    for c in _containers(pod):
        res = c.get("resources") or {}
        for k, v in (res.get("limits") or {}).items():
            if k not in (res.get("requests") or {}):
                res.setdefault("requests", {})[k] = v
    if notes:
        pod["metadata"].setdefault("annotations", {})["kubernetes.io/limit-ranger"] = (
            "LimitRanger plugin set: " + "; ".join(notes))
    if errors:
        raise Forbidden(errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")


# ---- ResourceQuota -----------------------------------------------------------------------

def _count_name(resource: str) -> str:
    group = _GROUPS.get(resource)
    return f"count/{resource}.{group}" if group else f"count/{resource}"


def _pod_compute(pod: dict) -> dict[str, Fraction]:
    spec = pod.get("spec") or {}
    out: dict[str, Fraction] = {}
    for kind in ("requests", "limits"):
        for res in ("cpu", "memory"):
            total = Fraction(0)
            for c in spec.get("containers") or []:
                v = ((c.get("resources") or {}).get(kind) or {}).get(res)
                if v is not None:
                    total += parse(v)
            for c in spec.get("initContainers") or []:
                v = ((c.get("resources") or {}).get(kind) or {}).get(res)
                if v is not None:
                    total = max(total, parse(v))
            out[f"{kind}.{res}"] = total
    out["cpu"] = out["requests.cpu"]
    out["memory"] = out["requests.memory"]
    return out


def usage(resource: str, obj: dict | None) -> dict[str, Fraction]:
    """What one object counts against a quota."""
    if obj is None:
        return {}
    out: dict[str, Fraction] = {_count_name(resource): Fraction(1)}
    if resource in _LEGACY_COUNTS:
        out[resource] = Fraction(1)
    if resource == "pods":
        if (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return {}
        out.update(_pod_compute(obj))
    elif resource == "services":
        spec = obj.get("spec") or {}
        stype = spec.get("type") or "ClusterIP"
        out["services.loadbalancers"] = Fraction(1 if stype == "LoadBalancer" else 0)
        nodeports = 0
        if stype in ("NodePort", "LoadBalancer"):
            nodeports = len(spec.get("ports") or [])
            if stype == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is False:
                nodeports = sum(1 for p in spec.get("ports") or [] if p.get("nodePort"))
        out["services.nodeports"] = Fraction(nodeports)
    return out


def namespace_usage(store, namespace: str, names) -> dict[str, Fraction]:
    """Current use of the named quota resources in a namespace."""
    names = set(names)
    used = {n: Fraction(0) for n in names}
    resources = {"pods", "services"}
    for n in names:
        if n in _LEGACY_COUNTS:
            resources.add(n)
        elif n.startswith("count/"):
            resources.add(n[len("count/"):].split(".")[0])
    for resource in resources:
        try:
            objects = store.scan(resource, namespace)
        except Exception:
            continue
        for obj in objects:
            for k, v in usage(resource, obj).items():
                if k in used:
                    used[k] += v
    return used


def _pretty(values: dict[str, Fraction]) -> str:
    return ",".join(f"{k}={format_quantity(k, v)}" for k, v in sorted(values.items()))


def check_quota(store, resource: str, obj: dict, old: dict | None) -> None:
    namespace = obj["metadata"]["namespace"]
    quotas = store.scan("resourcequotas", namespace)
    if not quotas:
        return
    new_usage = usage(resource, obj)
    old_usage = usage(resource, old)
    delta = {k: v - old_usage.get(k, Fraction(0)) for k, v in new_usage.items()}
    for quota in quotas:
        hard = {k: parse(v) for k, v in ((quota.get("spec") or {}).get("hard") or {}).items()}
        if resource == "pods" and old is None and new_usage:
            missing = set()
            for c in (obj.get("spec") or {}).get("containers") or []:
                res = c.get("resources") or {}
                for name in hard:
                    if name not in COMPUTE:
                        continue
                    kind, _, what = name.rpartition(".")
                    kind = kind or "requests"
                    if what not in (res.get(kind) or {}):
                        missing.add(name)
            if missing:
                raise Forbidden(f"failed quota: {quota['metadata']['name']}: must specify "
                                + ",".join(sorted(missing)))
        wanted = {k: v for k, v in delta.items() if k in hard and v > 0}
        if not wanted:
            continue
        used = namespace_usage(store, namespace, wanted)
        exceeded = [k for k, v in wanted.items() if used[k] + v > hard[k]]
        if exceeded:
            raise Forbidden(
                f"exceeded quota: {quota['metadata']['name']}, "
                f"requested: {_pretty({k: wanted[k] for k in exceeded})}, "
                f"used: {_pretty({k: used[k] for k in exceeded})}, "
                f"limited: {_pretty({k: hard[k] for k in exceeded})}"
            )
