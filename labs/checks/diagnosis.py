"""Why a student is stuck, read from the observed state of their namespace.

Each Diagnosis names the objects and values involved ("the Service selects
app=lb-tset, the pods are labelled app=lb-test") and carries the lab's hint for
its code, filled in with what was observed. The list follows the state: a
diagnosis disappears as soon as its cause does.
"""

from __future__ import annotations

import re
import string
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import mark_safe
from kubernetes.utils import parse_quantity

from clouds.kube.objects import (
    deployment_pods,
    event_time,
    events_for,
    is_load_balancer,
    latest_lb_event,
    lb_ingress,
    meta,
    name_of,
    objects,
    pod_is_ready,
    pod_waiting_reasons,
    ready_addresses,
)
from labs.checks.definitions import PROBE_KEYS
from labs.checks.evaluation import stored_probes
from labs.checks.recorded import CheckRecords
from labs.checks.targets import lb_target, target_signature
from labs.content_loader import lab_or_none
from labs.manifests.policy import image_repository
from labs.manifests.wording import closest
from labs.models import DnsRecord, LabSession

ERROR, WARNING, INFO = "error", "warning", "info"
IMAGE_PULL_REASONS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName"}
DEFAULT_ALLOWED_IMAGES = ("nginx",)

# Used when the lab has no hint for a code.
FALLBACK_HINTS = {
    "selector-mismatch": "The Service selects {selector} but the pods are labelled {labels}. Make the Service's "
                         "selector use exactly the pod labels.",
    "target-port-refused": "The load balancer reaches the pods, but nothing answers on port {port}. Set the "
                           "Service's targetPort to the containerPort of the container ({container_ports}).",
    "image-pull": "The pods cannot pull the image {image}. Check its spelling and tag.",
    "lb-pending": "The external IP is still <pending>: the cloud is creating the load balancer.",
    "lb-failed": "The cloud could not create the load balancer: {reason}.",
    "dns-not-resolving": "The name {name} does not resolve: {reason}.",
    "dns-wrong-ip": "The name {name} points to {found_ip}, not to your external IP {ip}.",
    "http-failed": "No answer from http://{ip}/: {reason}.",
    "service-not-loadbalancer": "The Service {service} is of type {type}: only a Service of type LoadBalancer "
                                "gets an external IP from the cloud. Set `type: LoadBalancer`.",
    "pods-not-ready": "{ready} of {desired} pods of {deployment} are ready: {reasons}.",
    "node-selector-unmatched": "The pods of {owner} stay Pending: no node has the labels they ask for "
                               "({constraints}). Remove `nodeSelector` and `affinity` from the pod template, or "
                               "ask only for labels the nodes have.",
    "insufficient-resources": "The pods of {owner} stay Pending: each asks for {requests}, and no node has "
                              "that much {short} free{offer}. Lower `resources.requests` in the pod template.",
    "pods-unschedulable": "The pods of {owner} stay Pending: the scheduler finds no node for them ({reasons}).",
    "quota-exceeded": "The namespace's quota {quota} refuses the pods of {owner}: {details}. Lower "
                      "`resources.requests` and `resources.limits`, or `replicas`, to fit in what is left.",
    "pod-security": "The namespace's Pod Security level **{level}** refuses the pods of {owner}: {violations}. "
                    "Remove these settings from the pod template: the lab's pods need none of them.",
}
TITLES = {
    "selector-mismatch": "The Service's selector matches no pod",
    "target-port-refused": "The pods refuse the connection on the target port",
    "image-pull": "The image cannot be pulled",
    "lb-pending": "The load balancer is being created",
    "lb-failed": "The load balancer could not be created",
    "dns-not-resolving": "The name does not resolve",
    "dns-wrong-ip": "The name points to another address",
    "http-failed": "The external IP does not answer",
    "service-not-loadbalancer": "The Service is not of type LoadBalancer",
    "pods-not-ready": "Pods are not ready",
    "node-selector-unmatched": "No node has the labels the pods select",
    "insufficient-resources": "No node has room for the pods' requests",
    "pods-unschedulable": "The pods cannot be scheduled",
    "quota-exceeded": "The namespace's quota refuses the pods",
    "pod-security": "Pod Security refuses the pods",
}


@dataclass
class Diagnosis:
    code: str
    title: str
    message: str  # plain text, the hint filled in
    severity: str = WARNING
    values: dict = field(default_factory=dict)
    html: str = ""  # the message rendered from the hint's Markdown, values escaped

    def visible(self) -> dict:
        return asdict(self)


class _Values(dict):
    def __missing__(self, key):
        return "{" + key + "}"


def _fill(template: str, values: dict, escape_values: bool) -> str:
    shown = {k: (escape(v) if escape_values else str(v)) for k, v in values.items()}
    try:
        return string.Formatter().vformat(template, (), _Values(shown))
    except (ValueError, IndexError):
        return template


def _markdown_inline(text: str) -> str:
    """The small Markdown subset hints use: **bold** and `code` (text already escaped)."""
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
    return text


def _plain(text: str) -> str:
    return re.sub(r"\*\*([^*]+)\*\*", r"\1", text).replace("`", "")


def hints_of(lab) -> dict:
    hints = (lab.get("hints") if isinstance(lab, dict) else getattr(lab, "hints", None)) if lab is not None else None
    return dict(hints or {})


def make(code: str, values: dict, lab=None, severity: str = WARNING, extra: str = "") -> Diagnosis:
    template = hints_of(lab).get(code) or FALLBACK_HINTS.get(code, "")
    template = " ".join(str(template).split())
    if extra:
        template = f"{template} {extra}"
    message = _plain(_fill(template, values, escape_values=False))
    # Escape the template and the values, then apply the Markdown subset.
    html = _markdown_inline(_fill(str(escape(template)), values, escape_values=True))
    return Diagnosis(code=code, title=TITLES.get(code, code), message=message, severity=severity,
                     values={k: str(v) for k, v in values.items()}, html=mark_safe(html))


def labels_text(labels: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "(no labels)"


def _policy_images(lab) -> tuple[str, ...]:
    if lab is None:
        return DEFAULT_ALLOWED_IMAGES
    settings = lab.get("policy") if isinstance(lab, dict) else getattr(lab, "policy_settings", None)
    images = (settings or {}).get("image_allowlist") if isinstance(settings, dict) else None
    return tuple(images or DEFAULT_ALLOWED_IMAGES)


# ---------------------------------------------------------------- the rules


def _selector_mismatch(state, lab):
    found = []
    pods = [p for p in objects(state, "pods") if not meta(p).get("deletionTimestamp")]
    if not pods:
        return found
    for service in objects(state, "services"):
        selector = (service.get("spec") or {}).get("selector") or {}
        if not selector or ready_addresses(state, name_of(service)):
            continue
        matching = [p for p in pods if all((meta(p).get("labels") or {}).get(k) == v for k, v in selector.items())]
        if matching:
            continue
        pod_labels = sorted({labels_text(meta(p).get("labels") or {}) for p in pods})
        differing = []
        for k, v in sorted(selector.items()):
            values = sorted({(meta(p).get("labels") or {}).get(k) for p in pods} - {None})
            if not values:
                differing.append(f"no pod has the label {k}")
            elif v not in values:
                differing.append(f"{k} is {v} in the selector but {' or '.join(values)} on the pods")
        found.append(make("selector-mismatch", {
            "service": name_of(service), "selector": labels_text(selector), "labels": " / ".join(pod_labels),
            "difference": "; ".join(differing),
        }, lab, ERROR))
    return found


def _container_ports(state, addresses) -> list[int]:
    pods = (state.get("pods") or {})
    names = {(a.get("targetRef") or {}).get("name") for a in addresses}
    ports = set()
    for name in names:
        pod = pods.get(name) or {}
        for c in (pod.get("spec") or {}).get("containers") or []:
            for p in c.get("ports") or []:
                if p.get("containerPort"):
                    ports.add(int(p["containerPort"]))
    return sorted(ports)


def _numeric_target_port(state, addresses, target_port):
    """A named targetPort ("http") resolved through the pods' container port names."""
    if isinstance(target_port, int) or (isinstance(target_port, str) and target_port.isdecimal()):
        return int(target_port)
    pods = state.get("pods") or {}
    for a in addresses:
        pod = pods.get((a.get("targetRef") or {}).get("name")) or {}
        for c in (pod.get("spec") or {}).get("containers") or []:
            for p in c.get("ports") or []:
                if p.get("name") == target_port and p.get("containerPort"):
                    return int(p["containerPort"])
    return target_port


def _http(state, lab, probes):
    target = lb_target(state)
    probe = (probes or {}).get("http-external-ip") or {}
    if not target or not target.get("ip") or not target.get("ready") or not probe or probe.get("ok"):
        return []
    if probe.get("signature") != target_signature(target):
        return []
    addresses = ready_addresses(state, target["service"])
    ports = _container_ports(state, addresses)
    target_port = _numeric_target_port(state, addresses, target.get("target_port"))
    mismatch = bool(ports) and target_port not in ports
    # A load balancer in front of a closed port accepts and then resets (or refuses):
    # with the Service's targetPort not among the containers' ports, that is the cause.
    if probe.get("error_kind") == "refused" or (mismatch and probe.get("error_kind") in ("reset", "timeout")):
        ports_text = ", ".join(f"containerPort {p}" for p in ports) or "no containerPort declared"
        return [make("target-port-refused", {
            "port": target.get("target_port"), "target_port": target.get("target_port"),
            "container_ports": ports_text, "service": target["service"], "ip": target["ip"],
        }, lab, ERROR, extra=(f"(The Service's targetPort is {target.get('target_port')}; the container listens "
                              f"on {', '.join(str(p) for p in ports)}.)" if ports else ""))]
    reason = probe.get("error") or (f"HTTP status {probe.get('status')}" if probe.get("status") else "no answer")
    ip = target["ip"] if target.get("port") in (80, None) else f"{target['ip']}:{target['port']}"
    return [make("http-failed", {"ip": ip, "reason": reason.rstrip("."), "service": target["service"]}, lab, ERROR)]


def _image_pull(state, lab):
    found = {}
    allowed = _policy_images(lab)
    for pod in objects(state, "pods"):
        spec_images = {c.get("name"): c.get("image") for c in (pod.get("spec") or {}).get("containers") or []}
        statuses = {cs.get("name"): cs for cs in (pod.get("status") or {}).get("containerStatuses") or []}
        for container, reason, message in pod_waiting_reasons(pod):
            if reason not in IMAGE_PULL_REASONS:
                continue
            image = (statuses.get(container) or {}).get("image") or spec_images.get(container) or ""
            found.setdefault(image, (pod, reason, message))
    for event in objects(state, "events"):
        involved = event.get("involvedObject") or {}
        if involved.get("kind") != "Pod" or event.get("reason") not in ("Failed", "ErrImagePull"):
            continue
        msg = event.get("message") or ""
        if "pull" not in msg.lower() and "image" not in msg.lower():
            continue
        pod = (state.get("pods") or {}).get(involved.get("name"))
        if pod is None or pod_is_ready(pod):
            continue  # an old event of a pod that is gone or fine now
        m = re.search(r'image "([^"]+)"', msg)
        if m and m.group(1) not in found:
            found[m.group(1)] = (pod, "ErrImagePull", msg)
    result = []
    for image, (pod, reason, message) in sorted(found.items()):
        suggestion = _suggest_image(image, allowed)
        extra = f"Did you mean {suggestion}?" if suggestion and suggestion != image else ""
        result.append(make("image-pull", {"image": image, "pod": name_of(pod), "reason": reason,
                                          "message": message, "suggestion": suggestion or ""}, lab, ERROR,
                           extra=extra))
    return result


def _suggest_image(image: str, allowed: tuple[str, ...]) -> str | None:
    ref = image.strip().split("@", 1)[0]
    slash, colon = ref.rfind("/"), ref.rfind(":")
    tag = ref[colon + 1:] if colon > slash else ""
    repo = image_repository(image)
    match = closest(repo, allowed, cutoff=0.5)
    if not match:
        return None
    if match == repo:
        return f"{match}:latest" if tag else None  # the tag is the problem
    return f"{match}:{tag}" if tag else match


def _load_balancer(state, lab):
    result = []
    services = objects(state, "services")
    lbs = [s for s in services if is_load_balancer(s)]
    if services and not lbs:
        for s in services:
            result.append(make("service-not-loadbalancer", {
                "service": name_of(s), "type": (s.get("spec") or {}).get("type") or "ClusterIP"}, lab, ERROR))
        return result
    for s in lbs:
        ip, hostname = lb_ingress(s)
        if ip or hostname:
            continue
        event = latest_lb_event(state, name_of(s))
        if event and event.get("reason") == "SyncLoadBalancerFailed":
            result.append(make("lb-failed", {"service": name_of(s), "reason": (event.get("message") or
                                                                              "no reason given").rstrip(".")},
                               lab, ERROR))
        else:
            message = (event or {}).get("message") or ""
            result.append(make("lb-pending", {"service": name_of(s), "reason": message}, lab, INFO,
                               extra=f"(Latest event: {message})" if message else ""))
    return result


def _pods_not_ready(state, lab):
    result = []
    for d in objects(state, "deployments"):
        desired = (d.get("spec") or {}).get("replicas", 1) or 0
        ready = (d.get("status") or {}).get("readyReplicas") or 0
        if not desired or ready >= desired:
            continue
        selector = ((d.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        reasons = {}
        for pod in objects(state, "pods"):
            labels = meta(pod).get("labels") or {}
            if not selector or any(labels.get(k) != v for k, v in selector.items()) or pod_is_ready(pod):
                continue
            pod_reasons = [r for (_, r, _) in pod_waiting_reasons(pod) if r not in IMAGE_PULL_REASONS]
            if any(r in IMAGE_PULL_REASONS for (_, r, _) in pod_waiting_reasons(pod)):
                continue  # explained by image-pull
            status = pod.get("status") or {}
            if _unschedulable_message(pod) is not None:
                continue  # explained by the scheduling diagnoses
            for cs in status.get("containerStatuses") or []:
                terminated = (cs.get("state") or {}).get("terminated")
                if terminated:
                    pod_reasons.append(terminated.get("reason") or "Terminated")
            if not pod_reasons:
                continue  # still starting: nothing to explain
            for r in pod_reasons:
                reasons.setdefault(r, []).append(name_of(pod))
        if reasons:
            text = "; ".join(f"{r} ({', '.join(sorted(pods))})" for r, pods in sorted(reasons.items()))
            result.append(make("pods-not-ready", {"deployment": name_of(d), "ready": ready, "desired": desired,
                                                  "reasons": text}, lab, WARNING))
    return result


# ---------------------------------------------------------------- scheduling and quota

# "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector.
#  preemption: ..." (kube-scheduler's FitError)
_FIT_ERROR = re.compile(r"^0/(?P<nodes>\d+) nodes are available: (?P<reasons>.*?)\.(?:\s|$)")
_FIT_REASON = re.compile(r"(\d+) ((?:[^,]|,(?! \d+ ))+)")
AFFINITY_MISMATCH = "node(s) didn't match Pod's node affinity/selector"
# "exceeded quota: lab-quota, requested: requests.cpu=3, used: requests.cpu=0, limited: requests.cpu=2"
_QUOTA = re.compile(r"exceeded quota: (?P<quota>[^,]+), requested: (?P<requested>\S*), used: (?P<used>\S*), "
                    r"limited: (?P<limited>\S*)")
_BINARY = (("Gi", 2 ** 30), ("Mi", 2 ** 20), ("Ki", 2 ** 10))


def _unschedulable_message(pod: dict) -> str | None:
    """The scheduler's message for a pod it could not place (None if it is not in that state)."""
    if meta(pod).get("deletionTimestamp") or (pod.get("spec") or {}).get("nodeName"):
        return None
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False" \
                and cond.get("reason") == "Unschedulable":
            return cond.get("message") or ""
    return None


def _scheduler_message(state, pod: dict) -> str:
    message = _unschedulable_message(pod) or ""
    if not message:
        events = [e for e in events_for(state, "Pod", name_of(pod)) if e.get("reason") == "FailedScheduling"]
        message = (events[-1].get("message") or "") if events else ""
    return message


def fit_reasons(message: str) -> tuple[int, dict[str, int]]:
    """(number of nodes, {reason: nodes}) of a FitError message; (0, {}) if it is not one."""
    m = _FIT_ERROR.match(message or "")
    if not m:
        return 0, {}
    return int(m.group("nodes")), {reason.strip(): int(n) for n, reason in _FIT_REASON.findall(m.group("reasons"))}


def _quantity(value) -> Decimal | None:
    try:
        return Decimal(parse_quantity(value))
    except (ValueError, TypeError, ArithmeticError):
        return None


def format_quantity(resource: str, value: Decimal) -> str:
    """cpu in cores or millicores, bytes with the largest exact binary suffix, counts as numbers."""
    if resource.split(".")[-1] == "cpu":
        return str(int(value)) if value == value.to_integral_value() else f"{int(value * 1000)}m"
    if resource.split(".")[-1] in ("memory", "ephemeral-storage", "storage"):
        for suffix, size in _BINARY:
            if value and value % size == 0:
                return f"{int(value / size)}{suffix}"
        for suffix, size in _BINARY:
            if value >= size:
                return f"{(value / size).quantize(Decimal('0.1')).normalize()}{suffix}"
    return f"{value.normalize():f}"


def _pod_requests(pod: dict) -> dict[str, Decimal]:
    total: dict[str, Decimal] = {}
    for c in (pod.get("spec") or {}).get("containers") or []:
        resources = c.get("resources") or {}
        requests = dict(resources.get("limits") or {})
        requests.update(resources.get("requests") or {})
        for resource, value in requests.items():
            q = _quantity(value)
            if q is not None:
                total[resource] = total.get(resource, Decimal(0)) + q
    return total


def _affinity_text(pod: dict) -> str:
    """The pod's node constraints in words: "nodeSelector disktype=ssd; affinity zone in (a, b)"."""
    spec = pod.get("spec") or {}
    parts = []
    selector = spec.get("nodeSelector") or {}
    if selector:
        parts.append("nodeSelector " + labels_text(selector))
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = []
    for term in required.get("nodeSelectorTerms") or []:
        exprs = []
        for e in (term.get("matchExpressions") or []) + (term.get("matchFields") or []):
            op, values = e.get("operator", ""), ", ".join(str(v) for v in e.get("values") or [])
            words = {"In": f"in ({values})", "NotIn": f"not in ({values})", "Exists": "exists",
                     "DoesNotExist": "does not exist", "Gt": f"> {values}", "Lt": f"< {values}"}.get(op, op)
            exprs.append(f"{e.get('key', '')} {words}")
        if exprs:
            terms.append(" and ".join(exprs))
    if terms:
        parts.append("node affinity " + " or ".join(terms))
    return "; ".join(parts) or "no node constraint"


def _owner_of(state, pod: dict) -> str:
    for d in objects(state, "deployments"):
        if any(name_of(p) == name_of(pod) for p in deployment_pods(state, d)):
            return name_of(d)
    return name_of(pod)


def _largest_offer(state, resources: list[str]) -> str:
    """What the biggest node offers of each resource, when the state holds the nodes."""
    offers = []
    for resource in resources:
        values = [_quantity(((n.get("status") or {}).get("allocatable") or {}).get(resource))
                  for n in objects(state, "nodes")]
        values = [v for v in values if v is not None]
        if values:
            offers.append(f"{format_quantity(resource, max(values))} {resource}")
    return f" (a node offers at most {' and '.join(offers)} in all)" if offers else ""


def _unschedulable(state, lab):
    groups: dict[str, tuple[dict, str, list[str]]] = {}
    for pod in objects(state, "pods"):
        if _unschedulable_message(pod) is None:
            continue
        message = _scheduler_message(state, pod)
        owner = _owner_of(state, pod)
        groups.setdefault(owner, (pod, message, []))[2].append(name_of(pod))
    result = []
    for owner, (pod, message, pods) in sorted(groups.items()):
        nodes, reasons = fit_reasons(message)
        values = {"owner": owner, "pods": ", ".join(sorted(pods)), "scheduler": message, "nodes": nodes,
                  "constraints": _affinity_text(pod),
                  "reasons": "; ".join(f"{n} node(s): {r}" for r, n in sorted(reasons.items())) or message}
        short = [r[len("Insufficient "):] for r in reasons if r.startswith("Insufficient ")]
        if nodes and reasons.get(AFFINITY_MISMATCH) == nodes:
            result.append(make("node-selector-unmatched", values, lab, ERROR))
        elif short:
            requests = _pod_requests(pod)
            matching = nodes - reasons.get(AFFINITY_MISMATCH, 0)
            values.update({
                "requests": " and ".join(f"{format_quantity(r, v)} {r}" for r, v in sorted(requests.items()))
                            or "nothing",
                "short": " or ".join(short),
                "offer": _largest_offer(state, short),
                "matching_nodes": matching,
            })
            extra = "" if matching == nodes else (f"(Only {matching} of the {nodes} nodes have the labels the pods "
                                                  f"ask for: {values['constraints']}.)")
            result.append(make("insufficient-resources", values, lab, ERROR, extra=extra))
        else:
            result.append(make("pods-unschedulable", values, lab, ERROR))
    return result


def _quota_values(text: str) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in text.split(",") if "=" in item)
    return {k.strip(): v.strip() for k, v in pairs}


def parse_quota_refusal(message: str) -> dict | None:
    """{"quota", "requested", "used", "limited", "left"} of an "exceeded quota" message, or None."""
    m = _QUOTA.search(message or "")
    if not m:
        return None
    requested, used, limited = (_quota_values(m.group(k)) for k in ("requested", "used", "limited"))
    left = {}
    for resource, limit in limited.items():
        lq, uq = _quantity(limit), _quantity(used.get(resource, "0"))
        if lq is not None and uq is not None:
            left[resource] = format_quantity(resource, max(lq - uq, Decimal(0)))
    return {"quota": m.group("quota").strip(), "requested": requested, "used": used, "limited": limited,
            "left": left}


def _refusal_in_words(refusal: dict) -> str:
    parts = []
    for resource, asked in sorted(refusal["requested"].items()):
        used = refusal["used"].get(resource, "0")
        limit = refusal["limited"].get(resource, "?")
        left = refusal["left"].get(resource, "?")
        if resource in ("pods", "count/pods"):
            parts.append(f"{used} of its {limit} pods are already in use, so no new pod is allowed")
        else:
            parts.append(f"a new pod asks for {resource} {asked}, but {used} of the {limit} allowed is already "
                         f"in use, so only {left} is left")
    return "; ".join(parts)


def _quota_exceeded(state, lab):
    result = []
    for rs in objects(state, "replicasets"):
        if meta(rs).get("deletionTimestamp"):
            continue
        desired = (rs.get("spec") or {}).get("replicas", 1) or 0
        if desired <= ((rs.get("status") or {}).get("replicas") or 0):
            continue  # it has its pods: an old refusal no longer matters
        # the latest FailedCreate event says why it cannot create them (else the ReplicaFailure condition)
        failures = [e for e in events_for(state, "ReplicaSet", name_of(rs)) if e.get("reason") == "FailedCreate"]
        if failures:
            message = max(failures, key=event_time).get("message") or ""
        else:
            message = next((c.get("message") or "" for c in (rs.get("status") or {}).get("conditions") or []
                            if c.get("type") == "ReplicaFailure" and c.get("status") == "True"), "")
        refusal = parse_quota_refusal(message)
        if refusal is None:
            continue
        owner = next((ref.get("name") for ref in meta(rs).get("ownerReferences") or []
                      if ref.get("kind") == "Deployment"), name_of(rs))

        def pairs(values: dict) -> str:
            return ", ".join(f"{k}={v}" for k, v in sorted(values.items()))

        result.append(make("quota-exceeded", {
            "owner": owner, "replicaset": name_of(rs), "quota": refusal["quota"],
            "requested": pairs(refusal["requested"]), "used": pairs(refusal["used"]),
            "limited": pairs(refusal["limited"]), "left": pairs(refusal["left"]),
            "details": _refusal_in_words(refusal),
        }, lab, ERROR))
    return result


# 'pods "x" is forbidden: violates PodSecurity "baseline:latest": privileged (container "c" must not ...)'
_POD_SECURITY = re.compile(r'violates PodSecurity "(?P<level>[a-z]+):[^"]*": (?P<violations>.+)$')


def _pod_security_refused(state, lab):
    """A ReplicaSet whose pods the namespace's Pod Security level refuses (its FailedCreate event says which
    settings: the same words as the API server's)."""
    result = []
    for rs in objects(state, "replicasets"):
        desired = (rs.get("spec") or {}).get("replicas", 1) or 0
        if meta(rs).get("deletionTimestamp") or desired <= ((rs.get("status") or {}).get("replicas") or 0):
            continue
        failures = [e for e in events_for(state, "ReplicaSet", name_of(rs)) if e.get("reason") == "FailedCreate"]
        message = (max(failures, key=event_time).get("message") or "") if failures else ""
        found = _POD_SECURITY.search(message)
        if found is None:
            continue
        owner = next((ref.get("name") for ref in meta(rs).get("ownerReferences") or []
                      if ref.get("kind") == "Deployment"), name_of(rs))
        result.append(make("pod-security", {"owner": owner, "replicaset": name_of(rs), "level": found["level"],
                                            "violations": found["violations"]}, lab, ERROR))
    return result


def _dns(session, state, lab, probes, records=None):
    result = []
    target = lb_target(state)
    ip = (target or {}).get("ip")
    if not ip:
        return result
    signature = target_signature(target)
    if records is not None:
        record = records.dns_record
    else:
        record = DnsRecord.objects.filter(session=session).first() if session is not None else None
    if record and record.address != ip:
        result.append(make("dns-wrong-ip", {"name": record.name, "found_ip": record.address, "ip": ip}, lab, WARNING))
        return result
    for key in ("dns-record", "dns-sslip"):
        probe = (probes or {}).get(key) or {}
        if not probe or probe.get("ok") or probe.get("signature") != signature:
            continue
        if key == "dns-record" and (record is None or probe.get("name") != record.name):
            continue
        if probe.get("dns_error"):
            result.append(make("dns-not-resolving", {"name": probe.get("name", ""),
                                                     "reason": probe["dns_error"].rstrip(".")}, lab, WARNING))
        elif probe.get("resolved") and ip not in probe["resolved"]:
            result.append(make("dns-wrong-ip", {"name": probe.get("name", ""),
                                                "found_ip": ", ".join(probe["resolved"]), "ip": ip}, lab, WARNING))
    return result


def diagnose(session: LabSession | None, state: dict | None, checks=None, lab=None,
             probes: dict | None = None, records: CheckRecords | None = None) -> list[Diagnosis]:
    """What keeps the student from passing the checks, most blocking first.

    `records`: the session's check results and DNS record when already read (a page reads them once).
    """
    state = state or {}
    if lab is None and session is not None:
        lab = lab_or_none(session.lab_slug)
    if probes is None and records is not None:
        probes = records.probes
    elif probes is None:
        probes = stored_probes(session) if session is not None else {}
    probes = {k: v for k, v in probes.items() if k in PROBE_KEYS}
    found = []
    found += _image_pull(state, lab)
    found += _pods_not_ready(state, lab)
    found += _unschedulable(state, lab)
    found += _quota_exceeded(state, lab)
    found += _pod_security_refused(state, lab)
    found += _selector_mismatch(state, lab)
    found += _load_balancer(state, lab)
    found += _http(state, lab, probes)
    found += _dns(session, state, lab, probes, records)
    order = {ERROR: 0, WARNING: 1, INFO: 2}
    return sorted(found, key=lambda d: order.get(d.severity, 3))
