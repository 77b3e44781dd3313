"""The lab's checks, computed from the observed state of the session namespace.

Nothing here trusts what the page claims: cluster checks read the objects the
watcher observed, and the probe checks read the last HTTP and DNS probe that
the server itself made (labs.probes). Each CheckResult keeps the current state
and the first time the check was reached; a check that regresses shows as
failing now, "reached at ..." earlier.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from labs.models import CheckResult, DnsRecord, LabSession

log = logging.getLogger(__name__)

PASSED, FAILING, WAITING = "passed", "failing", "waiting"
PROBE_KEYS = ("http-external-ip", "dns-sslip", "dns-record")
PROBE_MIN_INTERVAL = 5  # seconds between two probes of the same target for one session
BAD_WAITING_REASONS = {
    "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CrashLoopBackOff", "CreateContainerConfigError",
    "CreateContainerError", "RunContainerError",
}

DEFAULT_CHECKS = [
    {"key": "deployment-ready", "title": "The Deployment's pods are ready", "optional": False},
    {"key": "service-selects-pods", "title": "The Service finds the pods", "optional": False},
    {"key": "external-ip", "title": "The load balancer has an external IP", "optional": False},
    {"key": "http-external-ip", "title": "The app answers on the external IP", "optional": False},
    {"key": "dns-sslip", "title": "The sslip.io name works", "optional": True},
    {"key": "dns-record", "title": "Your DNS record works", "optional": True},
]


@dataclass
class CheckStatus:
    key: str
    title: str
    state: str  # passed | failing | waiting
    message: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    optional: bool = False
    reached_at: datetime | None = None  # first time it passed (from the database)

    @property
    def passed(self) -> bool:
        return self.state == PASSED

    @property
    def regressed(self) -> bool:
        return not self.passed and self.reached_at is not None

    def visible(self) -> dict:
        data = asdict(self)
        data["reached_at"] = self.reached_at.isoformat() if self.reached_at else None
        return data


# ---------------------------------------------------------------- lab content


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def lab_for(session: LabSession):
    try:
        from labs.content_loader import load_lab

        return load_lab(session.lab_slug)
    except Exception:  # noqa: BLE001 - missing or broken content must not break the checklist
        log.exception("could not load lab %s", session.lab_slug)
        return None


def check_definitions(lab) -> list[dict]:
    """The lab's checks, in order: key, title, description, optional."""
    checks = _get(lab, "checks") if lab is not None else None
    if not checks:
        return [dict(c, description="") for c in DEFAULT_CHECKS]
    defs = []
    for c in checks:
        key = _get(c, "key")
        if not key:
            continue
        defs.append({"key": key, "title": _get(c, "title") or key, "description": _get(c, "description") or "",
                     "optional": bool(_get(c, "optional", False))})
    return defs


# ---------------------------------------------------------------- state helpers


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


def lb_target(state: dict | None) -> dict | None:
    """The LoadBalancer Service the probes aim at: the one with an address and ready endpoints first."""
    candidates = []
    for service in objects(state, "services"):
        if not is_load_balancer(service):
            continue
        ip, hostname = lb_ingress(service)
        ports = (service.get("spec") or {}).get("ports") or []
        port = next((p for p in ports if (p.get("protocol") or "TCP") == "TCP"), ports[0] if ports else {})
        addresses = ready_addresses(state, name_of(service))
        target = {
            "service": name_of(service),
            "ip": ip,
            "hostname": hostname,
            "port": port.get("port") or 80,
            "target_port": port.get("targetPort", port.get("port")),
            "ready": len(addresses),
            "addresses": sorted(a.get("ip", "") for a in addresses),
        }
        candidates.append(((bool(ip or hostname), bool(addresses)), target))
    if not candidates:
        return None
    candidates.sort(key=lambda c: c[0], reverse=True)
    return candidates[0][1]


def target_signature(target: dict) -> str:
    """What a probe result is about: a result for another address or port no longer counts."""
    raw = json.dumps([target.get(k) for k in ("service", "ip", "hostname", "port", "target_port")])
    return hashlib.sha1(raw.encode()).hexdigest()[:16]


def probe_signature(target: dict) -> str:
    """What makes a new probe worth it: the target or the set of ready endpoints changed."""
    raw = json.dumps([target_signature(target), target.get("addresses")])
    return hashlib.sha1(raw.encode()).hexdigest()[:16]


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


# ---------------------------------------------------------------- the checks


def _deployment_ready(state: dict) -> tuple[str, str, dict]:
    deployments = objects(state, "deployments")
    if not deployments:
        return WAITING, "No Deployment in your namespace yet.", {}
    best = None
    for d in deployments:
        spec, status = d.get("spec") or {}, d.get("status") or {}
        desired = spec.get("replicas", 1)
        ready = status.get("readyReplicas") or 0
        updated = status.get("updatedReplicas") or 0
        current = (status.get("observedGeneration") or 0) >= (meta(d).get("generation") or 0)
        detail = {"deployment": name_of(d), "ready": ready, "desired": desired}
        if desired and desired > 0 and ready == desired and updated == desired and current:
            return PASSED, f"Deployment {name_of(d)}: {ready}/{desired} replicas ready.", detail
        if best is None or ready > best[2]["ready"]:
            best = (d, desired, detail)
    d, desired, detail = best
    if not desired:
        return FAILING, f"Deployment {name_of(d)} asks for 0 replicas.", detail
    stuck = [r for p in deployment_pods(state, d) for (_, r, _) in pod_waiting_reasons(p) if r in BAD_WAITING_REASONS]
    message = f"Deployment {name_of(d)}: {detail['ready']}/{desired} replicas ready."
    if stuck:
        detail["reasons"] = sorted(set(stuck))
        return FAILING, message + f" Pods are stuck: {', '.join(sorted(set(stuck)))}.", detail
    return WAITING, message, detail


def _service_selects_pods(state: dict) -> tuple[str, str, dict]:
    services = objects(state, "services")
    if not services:
        return WAITING, "No Service in your namespace yet.", {}
    for s in services:
        addresses = ready_addresses(state, name_of(s))
        if addresses:
            pods = sorted(((a.get("targetRef") or {}).get("name") or a.get("ip", "")) for a in addresses)
            return PASSED, f"Service {name_of(s)} has {len(addresses)} ready endpoint(s).", {
                "service": name_of(s), "endpoints": len(addresses), "pods": pods}
    s = services[0]
    selector = (s.get("spec") or {}).get("selector") or {}
    pods = objects(state, "pods")
    detail = {"service": name_of(s), "endpoints": 0}
    if any(not_ready_addresses(state, name_of(x)) for x in services):
        return WAITING, f"Service {name_of(s)} found pods, but they are not ready yet.", detail
    if not selector:
        return FAILING, f"Service {name_of(s)} has no selector, so it sends traffic to no pod.", detail
    if pods and not any(labels_match(selector, meta(p).get("labels") or {}) for p in pods):
        return FAILING, f"Service {name_of(s)} selects no pod.", detail
    return WAITING, f"Service {name_of(s)} has no ready endpoints yet.", detail


def _external_ip(state: dict) -> tuple[str, str, dict]:
    services = objects(state, "services")
    lbs = [s for s in services if is_load_balancer(s)]
    if not lbs:
        if services:
            s = services[0]
            kind = (s.get("spec") or {}).get("type") or "ClusterIP"
            return FAILING, f"Service {name_of(s)} is of type {kind}; only type LoadBalancer gets an external IP.", {
                "service": name_of(s), "type": kind}
        return WAITING, "No Service of type LoadBalancer yet.", {}
    for s in lbs:
        ip, hostname = lb_ingress(s)
        if ip or hostname:
            return PASSED, f"Service {name_of(s)} has the external address {ip or hostname}.", {
                "service": name_of(s), "ip": ip, "hostname": hostname}
    s = lbs[0]
    failed = latest_lb_event(state, name_of(s))
    if failed and failed.get("reason") == "SyncLoadBalancerFailed":
        return FAILING, f"The cloud could not create the load balancer: {failed.get('message', '')}", {
            "service": name_of(s)}
    return WAITING, f"Service {name_of(s)}: external IP <pending>.", {"service": name_of(s)}


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
    return at, int(version) if version.isdigit() else 0


LB_EVENT_REASONS = ("EnsuringLoadBalancer", "EnsuredLoadBalancer", "SyncLoadBalancerFailed", "DeletingLoadBalancer")


def latest_lb_event(state: dict, service_name: str) -> dict | None:
    events = [e for e in events_for(state, "Service", service_name) if e.get("reason") in LB_EVENT_REASONS]
    return events[-1] if events else None


def probe_passed(result: dict | None) -> bool:
    return bool(result and result.get("ok"))


def _probe_check(key: str, state: dict, probes: dict, record: DnsRecord | None) -> tuple[str, str, dict]:
    target = lb_target(state)
    if not target or not target.get("ip"):
        return WAITING, "Waiting for an external IP.", {}
    if key == "dns-record" and record is None:
        return WAITING, "Set your DNS record below.", {}
    if not target["ready"]:
        return WAITING, "Waiting for the Service to have ready endpoints.", {}
    probe = probes.get(key) or {}
    if not probe or probe.get("signature") != target_signature(target) or (
            key == "dns-record" and probe.get("name") != record.name):
        return WAITING, "Checking from the server…", {}
    detail = {k: probe.get(k) for k in ("url", "status", "latency_ms", "pod", "welcome", "name", "resolved",
                                         "at", "error") if probe.get(k) is not None}
    if probe.get("ok"):
        return PASSED, probe.get("summary", "OK"), detail
    return FAILING, probe.get("summary") or probe.get("error") or "The check failed.", detail


CLUSTER_CHECKS = {
    "deployment-ready": _deployment_ready,
    "service-selects-pods": _service_selects_pods,
    "external-ip": _external_ip,
}


def stored_probes(session: LabSession) -> dict[str, dict]:
    return {r.key: (r.detail or {}).get("probe") or {}
            for r in CheckResult.objects.filter(session=session, key__in=PROBE_KEYS)}


def evaluate(session: LabSession, state: dict | None, probes: dict | None = None,
             lab=None) -> list[CheckStatus]:
    """The lab's checks computed from `state` and the last probe results (read from the database)."""
    state = state or {}
    if probes is None:
        probes = stored_probes(session)
    lab = lab if lab is not None else lab_for(session)
    record = DnsRecord.objects.filter(session=session).first()
    reached = dict(CheckResult.objects.filter(session=session).values_list("key", "passed_at"))
    statuses = []
    for definition in check_definitions(lab):
        key = definition["key"]
        if key in CLUSTER_CHECKS:
            state_name, message, detail = CLUSTER_CHECKS[key](state)
        elif key in PROBE_KEYS:
            state_name, message, detail = _probe_check(key, state, probes, record)
        else:
            state_name, message, detail = WAITING, "This check is not computed on this server.", {}
        statuses.append(CheckStatus(key=key, title=definition["title"], state=state_name, message=message,
                                    detail=detail, description=definition.get("description", ""),
                                    optional=definition.get("optional", False), reached_at=reached.get(key)))
    return statuses


def save_checks(session: LabSession, statuses: list[CheckStatus]) -> bool:
    """Store the statuses; True when anything stored changed. Sets reached_at on the statuses."""
    changed = False
    now = timezone.now()
    with transaction.atomic():
        rows = {r.key: r for r in CheckResult.objects.filter(session=session)}
        for status in statuses:
            row = rows.get(status.key)
            stored = {"state": status.state, "message": status.message, "view": status.detail}
            if row is None:
                row = CheckResult(session=session, key=status.key, detail={})
            old = {k: (row.detail or {}).get(k) for k in stored}
            passed_at = row.passed_at or (now if status.passed else None)
            if row.pk and old == stored and row.passed == status.passed and row.passed_at == passed_at:
                status.reached_at = row.passed_at
                continue
            row.passed = status.passed
            row.passed_at = passed_at
            row.detail = {**(row.detail or {}), **stored}
            row.save()
            status.reached_at = row.passed_at
            changed = True
    return changed


def save_probe(session: LabSession, key: str, probe: dict) -> None:
    """Store one probe result in its check's detail (the checks read it from there)."""
    with transaction.atomic():
        row, _ = CheckResult.objects.get_or_create(session=session, key=key, defaults={"detail": {}})
        row.detail = {**(row.detail or {}), "probe": probe}
        row.save(update_fields=["detail", "updated"])


# ---------------------------------------------------------------- state and hooks


def load_state(session: LabSession) -> dict:
    """The observed state of the session's namespace (kept by the cluster watcher)."""
    from labs.state import load_namespace

    try:
        return load_namespace(session.cluster_id, session.namespace) or {}
    except Exception:  # noqa: BLE001 - a Redis hiccup shows as "waiting", never as an error page
        log.exception("could not load the state of %s", session.namespace)
        return {}


def _redis():
    from labs.state import client

    return client()


def _notify(session_id, what: str) -> None:
    from labs.live import notify_session

    notify_session(session_id, what)


def checklist_context(session: LabSession, state: dict | None = None, statuses: list[CheckStatus] | None = None,
                      diagnoses: list | None = None) -> dict:
    """The context of labs/fragments/checklist.html, from the database and the observed state."""
    from labs.diagnosis import diagnose

    if state is None:
        state = load_state(session)
    lab = lab_for(session)
    if statuses is None:
        statuses = evaluate(session, state, lab=lab)
    if diagnoses is None:
        diagnoses = diagnose(session, state, statuses, lab=lab)
    required = [s for s in statuses if not s.optional]
    return {
        "session": session,
        "checks": statuses,
        "diagnoses": diagnoses,
        "passed_count": sum(1 for s in required if s.passed),
        "required_count": len(required),
        "all_passed": all(s.passed for s in required) and bool(required),
    }


def _visible_digest(statuses: list[CheckStatus], diagnoses: list) -> str:
    data = [s.visible() for s in statuses] + [d.visible() if hasattr(d, "visible") else repr(d) for d in diagnoses]
    return hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def refresh_checks(session: LabSession, state: dict, probes: dict | None = None) -> bool:
    """Evaluate, store and notify the page when the visible checklist changed. True when notified."""
    from labs.diagnosis import diagnose

    lab = lab_for(session)
    statuses = evaluate(session, state, probes=probes, lab=lab)
    save_checks(session, statuses)
    diagnoses = diagnose(session, state, statuses, lab=lab, probes=probes)
    digest = _visible_digest(statuses, diagnoses)
    key = f"liveops:checklist:{session.id.hex}"
    try:
        r = _redis()
        previous = r.getset(key, digest)
        r.expire(key, 24 * 3600)
    except Exception:  # noqa: BLE001 - without Redis, notify every time
        previous = None
    _notify_dns_when_address_changes(session, state)
    if previous is not None and previous.decode() == digest:
        return False
    _notify(session.id, "checks")
    return True


def _notify_dns_when_address_changes(session: LabSession, state: dict) -> None:
    """The DNS panel shows the external IP (sslip.io link, form default): redraw it when that changes."""
    target = lb_target(state) or {}
    address = ""
    if target.get("ip") or target.get("hostname"):
        address = f"{target.get('ip', '')}|{target.get('hostname', '')}|{target.get('port', '')}"
    try:
        r = _redis()
        previous = r.getset(f"liveops:dnsview:{session.id.hex}", address)
        r.expire(f"liveops:dnsview:{session.id.hex}", 24 * 3600)
    except Exception:  # noqa: BLE001
        return
    if (previous or b"").decode() != address:
        _notify(session.id, "dns")


def maybe_enqueue_probe(session: LabSession, state: dict, force: bool = False) -> bool:
    """Enqueue a probe when a LoadBalancer has an address and ready endpoints.

    At most once per PROBE_MIN_INTERVAL seconds per session for the same target;
    at once when the target (IP, port, endpoints) changed.
    """
    target = lb_target(state)
    if not target or not target.get("ip") or not target.get("ready"):
        return False
    signature = probe_signature(target)
    key = f"liveops:probe:{session.id.hex}"
    try:
        r = _redis()
        previous = r.get(key)
        if not force and previous is not None and previous.decode() == signature:
            return False
        r.set(key, signature, ex=PROBE_MIN_INTERVAL)
    except Exception:  # noqa: BLE001
        log.exception("probe de-duplication unavailable")
    from labs.probes import probe_session

    probe_session.delay(str(session.id))
    return True


def on_namespace_change(session_id, namespace_state: dict) -> None:
    """Called by the cluster watcher (debounced) on every change in a session's namespace."""
    try:
        session = LabSession.objects.select_related("user").get(pk=session_id)
    except (LabSession.DoesNotExist, ValueError):
        return
    if not session.is_active:
        return
    refresh_checks(session, namespace_state or {})
    maybe_enqueue_probe(session, namespace_state or {})
