"""The traffic path of a session, hop by hop: name → DNS answer → external IP → load balancer →
Service port → endpoints → pods, each with its state, and the first broken hop with its cause.

It is the picture of what the lab teaches, so it is drawn only from what the product already
knows: the namespace's observed state (kept by the watcher), the student's DNS record, the cloud
balancer's row and the last probes the server made. Drawing it never calls a cluster or a cloud.
`redraw_path` tells the session's pages to redraw it when what it shows changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field

from clouds.kube.objects import (
    labels_match,
    latest_lb_event,
    meta,
    name_of,
    not_ready_addresses,
    objects,
    pod_is_ready,
    ready_addresses,
)
from clouds.models import ServiceBalancer
from labs.checks import CheckRecords, diagnose, lb_target, load_state, read_check_records, target_signature
from labs.checks.diagnosis import labels_text
from labs.checks.dns import sslip_names
from labs.content_loader import lab_or_none
from labs.live.presenters import pod_status
from labs.models import LabSession
from labs.notify import changed_since_drawn, notify_session
from labs.signals import checklist_evaluated

log = logging.getLogger(__name__)

OK, BROKEN, WAITING, NOT_YET = "ok", "broken", "waiting", "not-yet"
STATE_WORDS = {OK: "OK", BROKEN: "Broken", WAITING: "Waiting", NOT_YET: "Not yet"}
# The hops' labels inside a sentence ("Traffic stops at the Service port.").
IN_SENTENCE = {"name": "name", "dns": "DNS answer", "external-ip": "external IP", "balancer": "load balancer",
               "port": "Service port", "endpoints": "endpoints", "pods": "pods"}
PODS_SHOWN = 6
# What the checks' diagnoses say about the pods themselves: the pods hop's causes.
POD_CAUSES = ("quota-exceeded", "node-selector-unmatched", "insufficient-resources", "pods-unschedulable",
              "image-pull", "pods-not-ready")
# A load balancer in front of a port nothing listens on refuses, or accepts and resets.
PORT_FAILURES = ("refused", "reset")


@dataclass
class Hop:
    key: str  # name | dns | external-ip | balancer | port | endpoints | pods
    label: str
    value: str
    state: str  # ok | broken | waiting | not-yet
    note: str = ""  # what else is known, in words
    cause: str = ""  # why it is broken, naming the object and the field
    fix: str = ""  # what to do about it
    items: list[str] = field(default_factory=list)
    first_broken: bool = False

    @property
    def state_text(self) -> str:
        return STATE_WORDS[self.state]


@dataclass
class TrafficPath:
    hops: list[Hop]
    answers: bool = False  # the server's last HTTP probe of the present external IP got a page from a pod

    @property
    def first_broken(self) -> Hop | None:
        return next((h for h in self.hops if h.state == BROKEN), None)

    @property
    def summary(self) -> str:
        broken = self.first_broken
        if broken is not None:
            return f"Traffic stops at the {IN_SENTENCE[broken.key]}."
        if self.answers and all(h.state == OK for h in self.hops):
            return "Traffic reaches your pods by name."
        if self.answers:
            return "Traffic reaches your pods on the external IP."
        if all(h.state == NOT_YET for h in self.hops):
            return "Nothing on the path yet: apply your Deployment and Service."
        waiting = [h for h in self.hops if h.state == WAITING]
        if waiting:  # the path is built from the pods up: the deepest wait holds the others
            hop = waiting[-1]
            return f"Waiting for the {IN_SENTENCE[hop.key]}: {(hop.note or hop.value).rstrip('.…')}."
        return "The path is being built."

    def digest(self) -> str:
        data = [self.answers, *(asdict(h) for h in self.hops)]
        return hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()


# ---------------------------------------------------------------- reading the facts


def _live_pods(state) -> list[dict]:
    return [p for p in objects(state, "pods") if not meta(p).get("deletionTimestamp")]


def _service(state, target) -> dict | None:
    """The Service the path goes through: the probes' target, else the first Service."""
    services = objects(state, "services")
    if target:
        return next((s for s in services if name_of(s) == target["service"]), None)
    return services[0] if services else None


def _selector(service) -> dict:
    return (service.get("spec") or {}).get("selector") or {}


def _first_port(service) -> tuple[int, dict]:
    ports = (service.get("spec") or {}).get("ports") or []
    for i, p in enumerate(ports):
        if (p.get("protocol") or "TCP") == "TCP":
            return i, p
    return 0, (ports[0] if ports else {})


def _selected_pods(state, service) -> list[dict]:
    pods = _live_pods(state)
    if service is None:
        return pods
    selector = _selector(service)
    return [p for p in pods if labels_match(selector, meta(p).get("labels") or {})]


def _declared_ports(pods) -> dict[int, str]:
    """The containers' TCP ports of `pods`: {containerPort: name}."""
    found = {}
    for pod in pods:
        for c in (pod.get("spec") or {}).get("containers") or []:
            for p in c.get("ports") or []:
                if p.get("containerPort") and (p.get("protocol") or "TCP") == "TCP":
                    found.setdefault(int(p["containerPort"]), p.get("name") or "")
    return dict(sorted(found.items()))


def _resolve_target_port(target_port, declared: dict[int, str]):
    """A numeric targetPort as an int; a named one through the containers' port names (None if no
    container names a port so)."""
    if isinstance(target_port, int):
        return target_port
    if isinstance(target_port, str) and target_port.isdecimal():
        return int(target_port)
    return next((number for number, name in declared.items() if name == target_port), None)


def _current_probe(probes, key, target, name=None) -> dict | None:
    """The stored probe of `key` when it is about the present target (and name), else None."""
    probe = (probes or {}).get(key) or {}
    if not probe or not target or probe.get("signature") != target_signature(target):
        return None
    if name is not None and probe.get("name") != name:
        return None
    return probe


def _ports_text(declared: dict[int, str]) -> str:
    return " and ".join(str(p) for p in declared) or "no port"


# ---------------------------------------------------------------- the hops


def _name_hop(record, ip) -> Hop:
    if record is not None:
        return Hop("name", "Name", record.name, OK, note="your DNS record")
    if ip:
        return Hop("name", "Name", sslip_names(ip)[0], OK,
                   note="the sslip.io name of the external IP (or set your own record)")
    return Hop("name", "Name", "no name yet", NOT_YET,
               note="an sslip.io name comes with the external IP, or set your own DNS record")


def _dns_hop(record, target, probes) -> Hop:
    ip = (target or {}).get("ip")
    if not ip:
        value = f"{record.address} (as set)" if record is not None else "no answer yet"
        return Hop("dns", "DNS answer", value, NOT_YET, note="compared once the Service has an external IP")
    name = record.name if record is not None else sslip_names(ip)[0]
    if record is not None and record.address != ip:
        return Hop("dns", "DNS answer", record.address, BROKEN,
                   cause=f"Your DNS record {record.name} points to {record.address}, not to the external IP {ip} "
                         f"of Service {target['service']}.",
                   fix=f"Set the record's address to {ip} in the DNS step.")
    probe = _current_probe(probes, "dns-record" if record is not None else "dns-sslip", target,
                           name=record.name if record is not None else None)
    if probe is None:
        note = ("checking from the server…" if target.get("ready")
                else "checked from the server once the Service has ready endpoints")
        value = "not checked yet" if record is None else f"{record.address} (as set)"
        return Hop("dns", "DNS answer", value, WAITING, note=note)
    resolved = probe.get("resolved") or []
    if probe.get("dns_error"):
        fix = (f"Check the record in the DNS step and set it again if {name} is missing."
               if record is not None else "Set your own DNS record in the DNS step, or try again in a moment.")
        return Hop("dns", "DNS answer", "no record" if probe.get("dns_error_kind") in ("nxdomain", "no-answer")
                   else "no answer", BROKEN, cause=probe["dns_error"], fix=fix)
    if ip not in resolved:
        return Hop("dns", "DNS answer", ", ".join(resolved), BROKEN,
                   cause=f"{name} resolves to {', '.join(resolved)}, not to the external IP {ip}.",
                   fix=f"Set the record's address to {ip} in the DNS step." if record is not None else "")
    return Hop("dns", "DNS answer", ", ".join(resolved), OK, note=f"{name} resolves to the external IP")


def _http_failure_at(state, target, probes) -> tuple[str, dict] | None:
    """("port" | "external-ip", probe) when the server's HTTP probe of the present target failed."""
    probe = _current_probe(probes, "http-external-ip", target)
    if probe is None or probe.get("ok") or not target.get("ready"):
        return None  # no probe, a pass, or no ready endpoint (the endpoints hop explains that)
    service = _service(state, target)
    declared = _declared_ports(_selected_pods(state, service))
    target_port = _resolve_target_port(target.get("target_port"), declared)
    mismatch = bool(declared) and target_port not in declared
    if probe.get("error_kind") == "refused" or (mismatch and probe.get("error_kind") in (*PORT_FAILURES, "timeout")):
        return "port", probe
    return "external-ip", probe


def _external_ip_hop(state, target, probes) -> Hop:
    services = objects(state, "services")
    if not services:
        return Hop("external-ip", "External IP", "no Service yet", NOT_YET,
                   note="apply a Service of type LoadBalancer")
    if target is None:
        service = services[0]
        kind = (service.get("spec") or {}).get("type") or "ClusterIP"
        return Hop("external-ip", "External IP", "none", BROKEN,
                   cause=f"Service {name_of(service)} is of type {kind}: only a Service of type LoadBalancer gets "
                         "an external IP.",
                   fix=f"Set spec.type of Service {name_of(service)} to LoadBalancer and apply it again.")
    address = target.get("ip") or target.get("hostname")
    if not address:
        return Hop("external-ip", "External IP", "<pending>", WAITING,
                   note="the load balancer publishes it once it is ready")
    failure = _http_failure_at(state, target, probes)
    if failure and failure[0] == "external-ip":
        probe = failure[1]
        reason = probe.get("error") or (f"HTTP status {probe['status']}" if probe.get("status") else "no answer")
        return Hop("external-ip", "External IP", address, BROKEN,
                   cause=f"Opening {probe.get('url') or f'http://{address}/'} failed: {reason.rstrip('.')}.",
                   fix="Check that the pods are ready and serve HTTP on the Service's targetPort.")
    probe = _current_probe(probes, "http-external-ip", target)
    if probe and probe.get("ok"):
        who = f" from pod {probe['pod']}" if probe.get("pod") else ""
        return Hop("external-ip", "External IP", address, OK, note=f"answers HTTP {probe.get('status')}{who}")
    return Hop("external-ip", "External IP", address, OK,
               note="the server opens it once the Service has ready endpoints" if not target.get("ready")
               else "checking from the server…")


BALANCER_WORDS = {"building": "building", "active": "ACTIVE", "failed": "failed", "deleting": "being deleted",
                  "deleted": "deleted"}


def _balancer_hop(state, target, balancer, by_product) -> Hop:
    if target is None:
        return Hop("balancer", "Load balancer", "none", NOT_YET,
                   note="a Service of type LoadBalancer asks the cloud for one")
    service = target["service"]
    if balancer is not None:
        value = f"{balancer.name} {BALANCER_WORDS.get(balancer.state, balancer.state)}"
        if balancer.state == ServiceBalancer.State.ACTIVE:
            return Hop("balancer", "Load balancer", value, OK,
                       note=f"serving on {balancer.address}" if balancer.address else "")
        if balancer.state == ServiceBalancer.State.FAILED:
            return Hop("balancer", "Load balancer", value, BROKEN,
                       cause=balancer.error or f"The cloud could not build the load balancer of Service {service}.",
                       fix="" if balancer.error else "Delete the Service and apply it again; if it fails twice, "
                                                     "ask your instructor.")
        steps = balancer.steps or []
        last = (steps[-1].get("step") or "") if steps else ""
        state_name = NOT_YET if balancer.state == ServiceBalancer.State.DELETED else WAITING
        return Hop("balancer", "Load balancer", value, state_name, note=f"last step: {last}" if last else "")
    event = latest_lb_event(state, service)
    if event and event.get("reason") == "SyncLoadBalancerFailed":
        return Hop("balancer", "Load balancer", "failed", BROKEN,
                   cause=f"The cloud could not create the load balancer of Service {service}: "
                         f"{(event.get('message') or 'no reason given').rstrip('.')}.",
                   fix="Delete the Service and apply it again; if it fails twice, ask your instructor.")
    if target.get("ip") or target.get("hostname"):
        return Hop("balancer", "Load balancer", "ready", OK,
                   note="built by the cluster's cloud controller" if not by_product else "")
    note = (event.get("message") or "") if event else "waiting for the cloud"
    return Hop("balancer", "Load balancer", "pending", WAITING, note=note)


def _port_hop(state, service, target, probes) -> Hop:
    if service is None:
        return Hop("port", "Service port", "no Service yet", NOT_YET)
    index, port = _first_port(service)
    if not port:
        return Hop("port", "Service port", "no port", BROKEN, cause=f"Service {name_of(service)} has no port.",
                   fix="Add spec.ports with port 80 and the pods' containerPort as targetPort.")
    number = port.get("port")
    target_port = port.get("targetPort", number)
    value = f"port {number}/{port.get('protocol') or 'TCP'} → targetPort {target_port}"
    note = f"nodePort {port['nodePort']}" if port.get("nodePort") else ""
    selected = _selected_pods(state, service)
    pods = selected or _live_pods(state)  # with no pod selected, compare with the pods there are
    declared = _declared_ports(pods)
    resolved = _resolve_target_port(target_port, declared)
    field_name = f"spec.ports[{index}].targetPort of Service {name_of(service)}"
    if resolved is None and declared:
        return Hop("port", "Service port", value, BROKEN, note=note,
                   cause=f"targetPort {target_port}: no container of the pods names a port {target_port} "
                         f"(they declare {_ports_text(declared)}).",
                   fix=f"Set {field_name} to {next(iter(declared))}, the containerPort.")
    failure = _http_failure_at(state, target, probes) if target else None
    probe = _current_probe(probes, "http-external-ip", target) if target else None
    if probe and probe.get("ok"):
        return Hop("port", "Service port", value, OK, note=note)
    if declared and resolved not in declared:
        return Hop("port", "Service port", value, BROKEN, note=note,
                   cause=f"targetPort {target_port}: the pods' containers declare port {_ports_text(declared)}.",
                   fix=f"Set {field_name} to {next(iter(declared))}, the containerPort.")
    if failure and failure[0] == "port":
        return Hop("port", "Service port", value, BROKEN, note=note,
                   cause=f"Nothing answers on targetPort {target_port} of the pods: "
                         f"{(failure[1].get('error') or 'connection refused').rstrip('.')}.",
                   fix=f"Set {field_name} to the port the container listens on (its containerPort).")
    if resolved in declared:
        return Hop("port", "Service port", value, OK, note=note)
    if not pods:
        return Hop("port", "Service port", value, NOT_YET,
                   note="compared with the pods' container ports once there are pods")
    return Hop("port", "Service port", value, WAITING,
               note="the pods declare no containerPort: checked when the server opens the external IP")


def _selector_difference(selector: dict, pods: list[dict]) -> tuple[str, str]:
    """(what differs, the labels to select instead) between a selector and the pods' labels."""
    differing, suggested = [], []
    for key, value in sorted(selector.items()):
        values = sorted({(meta(p).get("labels") or {}).get(key) for p in pods} - {None})
        if not values:
            differing.append(f"no pod has the label {key}")
        elif value not in values:
            differing.append(f"the pods have {key}={' or '.join(values)}")
            suggested.append(f"{key}={values[0]}")
        else:
            suggested.append(f"{key}={value}")
    return "; ".join(differing), ", ".join(suggested)


def _endpoints_hop(state, service) -> Hop:
    if service is None:
        return Hop("endpoints", "Endpoints", "no Service yet", NOT_YET)
    name = name_of(service)
    ready = ready_addresses(state, name)
    if ready:
        ports = [p.get("port") for s in (((state.get("endpoints") or {}).get(name) or {}).get("subsets") or [])
                 for p in s.get("ports") or []]
        suffix = f":{ports[0]}" if ports else ""
        items = sorted(f"{a.get('ip', '')}{suffix}" for a in ready)
        return Hop("endpoints", "Endpoints", f"{len(ready)} ready endpoint{'s' if len(ready) != 1 else ''}", OK,
                   items=items[:PODS_SHOWN] + ([f"and {len(items) - PODS_SHOWN} more"] if len(items) > PODS_SHOWN
                                               else []))
    not_ready = not_ready_addresses(state, name)
    if not_ready:
        return Hop("endpoints", "Endpoints", f"{len(not_ready)} not ready", WAITING,
                   note="the Service found the pods; they are not ready yet")
    selector = _selector(service)
    pods = _live_pods(state)
    if not selector:
        return Hop("endpoints", "Endpoints", "none", BROKEN,
                   cause=f"Service {name} has no selector, so it sends traffic to no pod.",
                   fix=f"Add spec.selector to Service {name} with the pods' labels"
                       + (f" ({labels_text(meta(pods[0]).get('labels') or {})})." if pods else "."))
    if not pods:
        return Hop("endpoints", "Endpoints", "none", NOT_YET, note="no pods yet")
    if not _selected_pods(state, service):
        difference, suggested = _selector_difference(selector, pods)
        what = "that label" if len(selector) == 1 else "those labels"
        return Hop("endpoints", "Endpoints", "none", BROKEN,
                   cause=f"Service {name} selects {labels_text(selector)}, but no pod has {what} ({difference}).",
                   fix=f"Set spec.selector of Service {name} to {suggested}, the pods' labels." if suggested
                       else f"Give the Deployment's pod template the labels {labels_text(selector)}.")
    return Hop("endpoints", "Endpoints", "none yet", WAITING, note="the pods it selects are starting")


def _pod_item(pod) -> str:
    if pod_is_ready(pod):
        return f"{name_of(pod)} (Ready)"
    status = pod_status(pod).get("status") or "Pending"
    return f"{name_of(pod)} ({status}, not ready)" if status == "Running" else f"{name_of(pod)} ({status})"


def _pods_hop(state, service, lab, diagnoses=None) -> Hop:
    pods = _selected_pods(state, service) or _live_pods(state)
    ready = sum(1 for p in pods if pod_is_ready(p))
    items = [_pod_item(p) for p in pods[:PODS_SHOWN]]
    if len(pods) > PODS_SHOWN:
        items.append(f"and {len(pods) - PODS_SHOWN} more")
    value = f"{ready} of {len(pods)} ready" if pods else "no pods yet"
    if diagnoses is None:
        diagnoses = diagnose(None, state, lab=lab, probes={})
    found = [d for d in diagnoses if d.code in POD_CAUSES]
    if found:
        first = min(found, key=lambda d: POD_CAUSES.index(d.code))
        return Hop("pods", "Pods", value, BROKEN, cause=first.message, items=items)
    if not pods:
        return Hop("pods", "Pods", value, NOT_YET, note="apply a Deployment")
    if ready == len(pods):
        return Hop("pods", "Pods", value, OK, items=items)
    return Hop("pods", "Pods", value, WAITING, note="starting", items=items)


def traffic_path(state: dict | None, *, record=None, probes: dict | None = None, balancer=None,
                 by_product: bool = False, lab=None, diagnoses: list | None = None) -> TrafficPath:
    """The hops from what is known: `record` a DnsRecord (or None), `balancer` the target Service's
    ServiceBalancer (or None), `probes` the stored probes by check key; `diagnoses` those of the
    checklist when made from the same state (the pods' causes are among them), else made here."""
    state = state or {}
    target = lb_target(state)
    service = _service(state, target)
    hops = [
        _name_hop(record, (target or {}).get("ip")),
        _dns_hop(record, target, probes),
        _external_ip_hop(state, target, probes),
        _balancer_hop(state, target, balancer, by_product),
        _port_hop(state, service, target, probes),
        _endpoints_hop(state, service),
        _pods_hop(state, service, lab, diagnoses),
    ]
    first = next((h for h in hops if h.state == BROKEN), None)
    if first is not None:
        first.first_broken = True
    http = _current_probe(probes, "http-external-ip", target) if target else None
    return TrafficPath(hops, answers=bool(http and http.get("ok") and target.get("ready")))


# ---------------------------------------------------------------- the session's path and its redraw


def session_path(session: LabSession, state: dict | None = None, *, records: CheckRecords | None = None,
                 balancers: list[ServiceBalancer] | None = None, diagnoses: list | None = None) -> TrafficPath:
    """The session's path. What the page already read is given rather than read again: `records` the
    session's check results and DNS record, `balancers` some of its namespace's balancer rows (the
    target's is looked for among them first), `diagnoses` the checklist's, made from the same state."""
    if state is None:
        state = load_state(session)
    if records is None:
        records = read_check_records(session)
    target = lb_target(state)
    balancer = None
    if target:
        balancer = next((b for b in balancers or () if b.service == target["service"]), None)
        if balancer is None:
            balancer = ServiceBalancer.objects.filter(cluster_id=session.cluster_id, namespace=session.namespace,
                                                      service=target["service"]).first()
    return traffic_path(state, record=records.dns_record, probes=records.probes, balancer=balancer,
                        by_product=session.cluster.balancers_by_product, lab=lab_or_none(session.lab_slug),
                        diagnoses=diagnoses)


def path_context(session: LabSession, state: dict | None = None, **known) -> dict:
    """The context of labs/fragments/path.html; `known`: what the page already read (see session_path)."""
    return {"session": session, "traffic_path": session_path(session, state, **known)}


def redraw_path(session: LabSession, state: dict | None = None) -> bool:
    """Tell the session's pages to redraw the path when what it shows changed. True when told."""
    try:
        digest = session_path(session, state).digest()
    except Exception:  # noqa: BLE001 - the path follows with the next change; the caller goes on
        log.exception("could not draw the traffic path of session %s", session.pk)
        return False
    if not changed_since_drawn("path", session.id, digest):
        return False
    notify_session(session.id, "path")
    return True


def on_checklist_evaluated(sender, session, **kwargs) -> None:
    """The checks were evaluated again (a probe, a DNS record): the path may follow."""
    redraw_path(session)


def on_namespace_settled(session_id, state: dict | None, cluster_id=None) -> None:
    """The session's namespace settled (or its balancer changed): redraw the path; `state` None: load it."""
    session = LabSession.objects.select_related("cluster").filter(pk=session_id).first()
    if session is None or not session.is_active or (cluster_id is not None and session.cluster_id != cluster_id):
        return
    redraw_path(session, state)


def follow_checks() -> None:
    """Redraw the path after the checks are evaluated again (registered by labs.apps)."""
    checklist_evaluated.connect(on_checklist_evaluated, dispatch_uid="labs.path.checklist_evaluated")
