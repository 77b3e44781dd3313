"""The lab's checks, computed from the observed state of the session namespace.

Nothing here trusts what the page claims: cluster checks read the objects the
watcher observed, and the probe checks read the last HTTP and DNS probe that
the server itself made (labs.checks.probes). Each CheckResult keeps the current
state and the first time the check was reached: the record stays reached, and
what the cluster shows now is shown apart from it ("now: ..."), as expected once
the student cleaned up (labs.checks.cleanup).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from clouds.kube.objects import (
    deployment_pods,
    is_load_balancer,
    labels_match,
    latest_lb_event,
    lb_ingress,
    meta,
    name_of,
    not_ready_addresses,
    objects,
    pod_waiting_reasons,
    ready_addresses,
)
from clouds.watch import state as observed
from labs.checks.cleanup import cleaning_up, cleanup_check
from labs.checks.definitions import (
    BAD_WAITING_REASONS,
    CLEANUP_KEY,
    FAILING,
    PASSED,
    PROBE_KEYS,
    WAITING,
    CheckStatus,
    check_definitions,
)
from labs.checks.recorded import CheckRecords, read_check_records
from labs.checks.targets import lb_target, target_signature
from labs.content_loader import lab_or_none
from labs.models import CheckResult, DnsRecord, LabSession

log = logging.getLogger(__name__)


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
            ports = (s.get("spec") or {}).get("ports") or []
            port = next((p for p in ports if (p.get("protocol") or "TCP") == "TCP"), ports[0] if ports else {})
            return PASSED, f"Service {name_of(s)} has the external address {ip or hostname}.", {
                "service": name_of(s), "ip": ip, "hostname": hostname, "port": port.get("port") or 80}
    s = lbs[0]
    failed = latest_lb_event(state, name_of(s))
    if failed and failed.get("reason") == "SyncLoadBalancerFailed":
        return FAILING, f"The cloud could not create the load balancer: {failed.get('message', '')}", {
            "service": name_of(s)}
    return WAITING, f"Service {name_of(s)}: external IP <pending>.", {"service": name_of(s)}


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
             lab=None, records: CheckRecords | None = None) -> list[CheckStatus]:
    """The lab's checks computed from `state` and the last probe results (read from the database).

    `records`: the session's check results and DNS record when already read (a page reads them once).
    """
    state = state or {}
    if records is None:
        records = read_check_records(session)
    if probes is None:
        probes = records.probes
    lab = lab if lab is not None else lab_or_none(session.lab_slug)
    record = records.dns_record
    rows = records.results
    reached = {key: row.passed_at for key, row in rows.items()}
    definitions = check_definitions(lab)
    required_keys = [d["key"] for d in definitions if not d.get("optional")]
    statuses = []

    def reached_now() -> set[str]:
        """Reached once (stored), or passing in this evaluation."""
        return {k for k, at in reached.items() if at} | {s.key for s in statuses if s.passed}

    for definition in definitions:
        key = definition["key"]
        if key in CLUSTER_CHECKS:
            state_name, message, detail = CLUSTER_CHECKS[key](state)
        elif key in PROBE_KEYS:
            state_name, message, detail = _probe_check(key, state, probes, record)
        elif key == CLEANUP_KEY:
            state_name, message, detail = cleanup_check(session, state, rows, reached_now(), required_keys)
        else:
            state_name, message, detail = WAITING, "This check is not computed on this server.", {}
        statuses.append(CheckStatus(key=key, title=definition["title"], state=state_name, message=message,
                                    detail=detail, description=definition.get("description", ""),
                                    optional=definition.get("optional", False), reached_at=reached.get(key)))
    if CLEANUP_KEY in required_keys and cleaning_up(state, reached_now(), required_keys):
        _mark_cleaned_up(statuses, state)
    return statuses


def _mark_cleaned_up(statuses: list[CheckStatus], state: dict) -> None:
    """After the clean-up, a reached check that no longer passes says what is there now, as expected."""
    gone = "no Service" if not objects(state, "services") else "no Service of type LoadBalancer"
    for status in statuses:
        if status.key == CLEANUP_KEY or not status.regressed:
            continue
        status.cleaned_up = True
        if status.key == "deployment-ready":
            if not objects(state, "deployments"):
                status.message = "no Deployment"
        elif status.key != "service-selects-pods" or gone == "no Service":
            status.message = gone


def _lock(session: LabSession) -> None:
    """Serialise the writers of a session's check results (the watcher's checks and the probes run at
    the same time in different processes): each reads and rewrites whole rows, so one must wait."""
    LabSession.objects.select_for_update().filter(pk=session.pk).values_list("pk", flat=True).first()


def save_checks(session: LabSession, statuses: list[CheckStatus]) -> bool:
    """Store the statuses; True when anything stored changed. Sets reached_at on the statuses."""
    changed = False
    now = timezone.now()
    with transaction.atomic():
        _lock(session)
        rows = {r.key: r for r in CheckResult.objects.filter(session=session)}
        for status in statuses:
            row = rows.get(status.key)
            stored = {"state": status.state, "message": status.message, "view": status.detail}
            if status.passed:
                # What it looked like when it last passed (the clean-up check reads the former address here).
                stored["last_passed"] = status.detail
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
        _lock(session)
        row, _ = CheckResult.objects.get_or_create(session=session, key=key, defaults={"detail": {}})
        row.detail = {**(row.detail or {}), "probe": probe}
        row.save(update_fields=["detail", "updated"])


def load_state(session: LabSession) -> dict:
    """The observed state of the session's namespace (kept by the cluster watcher)."""
    try:
        return observed.load_namespace(session.cluster_id, session.namespace) or {}
    except Exception:  # noqa: BLE001 - a Redis hiccup shows as "waiting", never as an error page
        log.exception("could not load the state of %s", session.namespace)
        return {}
