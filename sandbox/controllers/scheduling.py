"""Where a pod may run, decided as kube-scheduler's default filters decide it, and the
message it writes when no node fits.

The filters run per node in the scheduler's order and stop at the first that rejects
the node: NodeUnschedulable, TaintToleration (a node that is not Ready counts as
tainted node.kubernetes.io/not-ready), NodeAffinity (spec.nodeSelector and required
node affinity), NodeResourcesFit (requests against allocatable minus the requests of
the pods already bound there, and the node's pod count). A pod that fits nowhere gets
the FitError text, with the preemption (PostFilter) summary the scheduler appends:

    0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available:
    3 No preemption victims found for incoming pod.

Every pod of the sandbox has the same priority, so preemption never finds a victim.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from fractions import Fraction

from .quantity import parse

NO_NODES = "no nodes available to schedule pods"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"
AFFINITY_MISMATCH = "node(s) didn't match Pod's node affinity/selector"
UNSCHEDULABLE_NODE = "node(s) were unschedulable"
TOO_MANY_PODS = "Too many pods"
# Pods bound to a node count for its "pods" allocatable, whatever they request.
PODS = "pods"


def _containers_request(containers: list[dict]) -> dict[str, Fraction]:
    total: dict[str, Fraction] = {}
    for c in containers:
        res = c.get("resources") or {}
        requests = dict(res.get("limits") or {})  # a request defaults to the limit
        requests.update(res.get("requests") or {})
        for name, value in requests.items():
            try:
                total[name] = total.get(name, Fraction(0)) + parse(value)
            except ValueError:
                continue
    return total


def pod_requests(pod: dict) -> dict[str, Fraction]:
    """What the pod asks of a node: the sum over its containers (and sidecars), at least
    each init container's request, plus the pod overhead."""
    spec = pod.get("spec") or {}
    init = spec.get("initContainers") or []
    sidecars = [c for c in init if c.get("restartPolicy") == "Always"]
    total = _containers_request(list(spec.get("containers") or []) + sidecars)
    running_sidecars: list[dict] = []
    for c in init:
        if c.get("restartPolicy") == "Always":
            running_sidecars.append(c)
            continue
        for name, value in _containers_request([c, *running_sidecars]).items():
            if value > total.get(name, Fraction(0)):
                total[name] = value
    for name, value in (spec.get("overhead") or {}).items():
        try:
            total[name] = total.get(name, Fraction(0)) + parse(value)
        except ValueError:
            continue
    return {k: v for k, v in total.items() if v}


def is_bound(pod: dict) -> bool:
    """A pod that holds room on its node: bound and not finished (terminating ones too)."""
    return bool((pod.get("spec") or {}).get("nodeName")) and \
        (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


class NodeUsage:
    """The requests of the pods bound to each node, kept current from pod events."""

    def __init__(self) -> None:
        self._pods: dict[str, tuple[str, dict[str, Fraction]]] = {}  # uid -> (node, requests)

    def observe(self, pod: dict, deleted: bool = False) -> bool:
        """Record a pod's current state; True if room was freed on a node."""
        uid = (pod.get("metadata") or {}).get("uid") or ""
        if not deleted and is_bound(pod):
            self._pods[uid] = (pod["spec"]["nodeName"], pod_requests(pod))
            return False
        return self._pods.pop(uid, None) is not None

    def used(self, node: str) -> dict[str, Fraction]:
        total: dict[str, Fraction] = {PODS: Fraction(0)}
        for bound_to, requests in self._pods.values():
            if bound_to != node:
                continue
            total[PODS] += 1
            for name, value in requests.items():
                total[name] = total.get(name, Fraction(0)) + value
        return total


# ---- the filters ---------------------------------------------------------------------------


@dataclass
class Rejection:
    reasons: list[str]
    resolvable: bool  # False: UnschedulableAndUnresolvable (preemption cannot help)


def _is_ready(node: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


def _tolerates(tolerations: list[dict], taint: dict) -> bool:
    for t in tolerations:
        effect = t.get("effect")
        if effect and effect != taint.get("effect"):
            continue
        key = t.get("key")
        operator = t.get("operator") or "Equal"
        if not key:
            if operator == "Exists":
                return True
            continue
        if key != taint.get("key"):
            continue
        if operator == "Exists" or (t.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def _taints(node: dict) -> list[dict]:
    taints = list((node.get("spec") or {}).get("taints") or [])
    if not _is_ready(node) and not any(t.get("key") == "node.kubernetes.io/not-ready" for t in taints):
        taints.append({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"})
    return taints


def _requirement_matches(expr: dict, values_of: dict) -> bool:
    key, op = expr.get("key", ""), expr.get("operator", "")
    values = [str(v) for v in expr.get("values") or []]
    present = key in values_of
    value = values_of.get(key)
    if op == "In":
        return present and value in values
    if op == "NotIn":
        return not present or value not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and len(values) == 1:
        try:
            have, bound = int(value), int(values[0])
        except (TypeError, ValueError):
            return False
        return have > bound if op == "Gt" else have < bound
    return False


def _term_matches(term: dict, node: dict) -> bool:
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False  # an empty term matches no objects
    labels = (node.get("metadata") or {}).get("labels") or {}
    node_fields = {"metadata.name": (node.get("metadata") or {}).get("name", "")}
    return all(_requirement_matches(e, labels) for e in expressions) and \
        all(_requirement_matches(f, node_fields) for f in fields)


def matches_node_affinity(pod: dict, node: dict) -> bool:
    """spec.nodeSelector and requiredDuringSchedulingIgnoredDuringExecution (terms ORed)."""
    spec = pod.get("spec") or {}
    labels = (node.get("metadata") or {}).get("labels") or {}
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != str(value):
            return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if required is None:
        return True
    return any(_term_matches(term, node) for term in required.get("nodeSelectorTerms") or [])


def _insufficient(requests: dict[str, Fraction], node: dict, used: dict[str, Fraction]) -> list[str]:
    allocatable = (node.get("status") or {}).get("allocatable") or {}

    def room(name: str) -> Fraction:
        try:
            return parse(allocatable.get(name, 0))
        except ValueError:
            return Fraction(0)

    reasons = []
    if used.get(PODS, 0) + 1 > room(PODS):
        reasons.append(TOO_MANY_PODS)
    ordered = [r for r in ("cpu", "memory", "ephemeral-storage") if r in requests]
    ordered += sorted(r for r in requests if r not in ordered)
    for name in ordered:
        if name == PODS:
            continue
        if used.get(name, Fraction(0)) + requests[name] > room(name):
            reasons.append(f"Insufficient {name}")
    return reasons


def filter_node(pod: dict, node: dict, used: dict[str, Fraction],
                requests: dict[str, Fraction] | None = None) -> Rejection | None:
    """None if the pod fits on the node, else why not (the first filter that rejects it)."""
    spec = pod.get("spec") or {}
    tolerations = spec.get("tolerations") or []
    if (node.get("spec") or {}).get("unschedulable") and not _tolerates(
            tolerations, {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}):
        return Rejection([UNSCHEDULABLE_NODE], resolvable=False)
    for taint in _taints(node):
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(tolerations, taint):
            return Rejection([f"node(s) had untolerated taint {{{taint.get('key', '')}: "
                              f"{taint.get('value') or ''}}}"], resolvable=False)
    if not matches_node_affinity(pod, node):
        return Rejection([AFFINITY_MISMATCH], resolvable=False)
    reasons = _insufficient(pod_requests(pod) if requests is None else requests, node, used)
    if reasons:
        return Rejection(reasons, resolvable=True)
    return None


# ---- the verdict --------------------------------------------------------------------------


def _histogram(reasons: Counter) -> str:
    return ", ".join(sorted(f"{count} {reason}" for reason, count in reasons.items()))


def fit_error(pod: dict, rejections: list[Rejection]) -> str:
    """The scheduler's FitError text for a pod no node accepts."""
    if not rejections:
        return NO_NODES
    n = len(rejections)
    reasons: Counter = Counter()
    for r in rejections:
        reasons.update(r.reasons)
    message = f"0/{n} nodes are available: {_histogram(reasons)}."
    if (pod.get("spec") or {}).get("preemptionPolicy") == "Never":
        return f"{message} preemption: not eligible due to preemptionPolicy=Never."
    preemption = Counter(NO_VICTIMS if r.resolvable else NOT_HELPFUL for r in rejections)
    return f"{message} preemption: 0/{n} nodes are available: {_histogram(preemption)}."


def feasible_nodes(pod: dict, nodes: list[dict], usage: NodeUsage) -> tuple[list[dict], str]:
    """The nodes the pod fits on, and the FitError message if there are none."""
    requests = pod_requests(pod)
    fits, rejections = [], []
    for node in nodes:
        rejection = filter_node(pod, node, usage.used(node["metadata"]["name"]), requests)
        if rejection is None:
            fits.append(node)
        else:
            rejections.append(rejection)
    return fits, ("" if fits else fit_error(pod, rejections))
