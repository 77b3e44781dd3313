"""The session page's own fragments (status, checks, revisions, DNS, problems): their templates and contexts.

Each fragment template is used for the first render and for WebSocket updates
(labs.live.consumer redraws one when labs.notify asks for it).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from clouds.models import ServiceBalancer
from clouds.watch import state as observed
from labs.checks import CheckRecords, CheckStatus, diagnose, evaluate, lb_target, load_state, read_check_records
from labs.checks.completion import completion_summary
from labs.checks.dns import (
    last_outcome,
    outcome_from_raw,
    outcome_key,
    records_enabled,
    relative_label,
    sslip_names,
    student_dig_command,
    suggested_label,
    zone,
)
from labs.content_loader import lab_or_none
from labs.lifecycle import warn_before_minutes
from labs.live import nodes
from labs.live.panel import UNAVAILABLE, panel_context
from labs.live.path import path_context
from labs.models import DnsRecord, HelpRequest, LabSession, ManifestRevision, Message

logger = logging.getLogger(__name__)


def script_json(value) -> str:
    """JSON safe to place inside a <script> element."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


STATUS_TEMPLATE = "labs/fragments/status.html"
REVISIONS_TEMPLATE = "labs/fragments/revisions.html"
CHECKLIST_TEMPLATE = "labs/fragments/checklist.html"
DNS_TEMPLATE = "labs/fragments/dns.html"
BALANCER_TEMPLATE = "labs/fragments/balancer.html"
PROBLEMS_TEMPLATE = "labs/fragments/problems.html"
MESSAGES_TEMPLATE = "labs/fragments/messages.html"
PATH_TEMPLATE = "labs/fragments/path.html"


def status_context(session: LabSession, records: CheckRecords | None = None) -> dict:
    """The context of labs/fragments/status.html; `records`: the session's check results when already read."""
    lab = lab_or_none(session.lab_slug)
    warn_before = warn_before_minutes(session)
    remaining = (session.expires_at - timezone.now()).total_seconds()
    return {
        "session": session,
        "lab": lab,
        # Completed is a record: it shows while the lab runs on, and after it ended.
        "completion": completion_summary(session, lab, reached=records.reached if records is not None else None),
        "ended": not session.accepts_changes,
        "remaining_minutes": max(0, int(remaining // 60)),
        "can_extend": lab is not None and session.state == LabSession.State.READY and not session.extended,
        "ending_soon": session.state == LabSession.State.READY and remaining < warn_before * 60,
        # The page counts the minutes down itself (static/js/ages.js): a resync drawn earlier stays right.
        "warn_before_minutes": warn_before if session.state == LabSession.State.READY else None,
    }


def revisions_context(session: LabSession) -> dict:
    revisions = list(session.revisions.all()[:20])
    latest = revisions[0] if revisions else None
    return {
        "revision_problems_json": script_json(latest.problems) if latest and latest.problems else "",
        "session": session,
        "revisions": revisions,
        "latest": revisions[0] if revisions else None,
        "busy": bool(revisions) and revisions[0].status == ManifestRevision.Status.APPLYING,
    }


def checklist_context(session: LabSession, state: dict | None = None, statuses: list[CheckStatus] | None = None,
                      diagnoses: list | None = None, *, records: CheckRecords | None = None) -> dict:
    """The context of labs/fragments/checklist.html, from the database and the observed state.

    The checks and their diagnosis read the session's check results and DNS record once (`records`
    when the caller already read them).
    """
    if state is None:
        state = load_state(session)
    lab = lab_or_none(session.lab_slug)
    if records is None and (statuses is None or diagnoses is None):
        records = read_check_records(session)
    if statuses is None:
        statuses = evaluate(session, state, lab=lab, records=records)
    if diagnoses is None:
        diagnoses = diagnose(session, state, statuses, lab=lab, records=records)
    required = [s for s in statuses if not s.optional]
    return {
        "session": session,
        "checks": statuses,
        "diagnoses": diagnoses,
        # Counted from the record: a check once reached stays counted (cleaning up is not failing).
        "passed_count": sum(1 for s in required if s.reached),
        "required_count": len(required),
        "all_passed": all(s.passed for s in required) and bool(required),
        "completed": session.completed_at is not None or (all(s.reached for s in required) and bool(required)),
    }


def dns_context(session: LabSession, state: dict | None = None, *, error: str = "", error_field: str = "",
                label: str = "", address: str = "", message: str = "", records: CheckRecords | None = None,
                outcome: dict | None = None) -> dict:
    """The context of labs/fragments/dns.html, from the database and the observed state.

    Without an outcome given, the form's last outcome (its message or error, and what was typed) is
    shown: a redraw over the socket keeps it until the student's next action replaces it. `records`
    (the session's DNS record) and `outcome` (the form's last outcome) when the caller already read them.
    """
    if not (error or message):
        if outcome is None:
            outcome = last_outcome(session)
        error, error_field, message = outcome.get("error", ""), outcome.get("error_field", ""), outcome.get("message", "")
        label, address = label or outcome.get("label", ""), address or outcome.get("address", "")
    if state is None:
        state = load_state(session)
    target = lb_target(state)
    external_ip = target["ip"] if target and target.get("ip") else ""
    record = records.dns_record if records is not None else DnsRecord.objects.filter(session=session).first()
    sslip = []
    if external_ip:
        port = target.get("port") or 80
        suffix = "" if port == 80 else f":{port}"
        sslip = [{"name": n, "url": f"http://{n}{suffix}/"} for n in sslip_names(external_ip)]
    record_url = ""
    if record:
        port = (target or {}).get("port") or 80
        record_url = f"http://{record.name}{'' if port == 80 else f':{port}'}/"
    return {
        "session": session,
        "dns_external_ip": external_ip,
        "dns_external_hostname": (target or {}).get("hostname", ""),
        "dns_sslip_names": sslip,
        "dns_zone": zone(),
        "dns_records_enabled": records_enabled(),
        "dns_record": record,
        "dns_record_url": record_url,
        # The record's address is no longer the balancer's: a new IP, or no external IP any more.
        "dns_record_points_elsewhere": bool(record and record.address != external_ip),
        "dns_try_record": student_dig_command(record.name) if record else "",
        "dns_try_sslip": student_dig_command(sslip[0]["name"]) if sslip else "",
        "dns_try_example": student_dig_command(f"{label or suggested_label(session)}.{zone()}") if zone() else "",
        "dns_try_curl": (f"curl --resolve {record.name}:{(target or {}).get('port') or 80}:{external_ip} {record_url}"
                         if record and external_ip else ""),
        "dns_form_label": label or (relative_label(record.name) if record else suggested_label(session)),
        "dns_form_address": address or external_ip or (record.address if record else ""),
        "dns_error": error,
        "dns_error_field": error_field,
        "dns_message": message,
    }


# The steps of a cloud balancer's build, as the student reads them.
BALANCER_STEPS = {
    "balancer": "Load balancer",
    "active": "Load balancer ACTIVE",
    "listener": "Listener",
    "pool": "Pool",
    "members": "Members (nodes and node ports)",
    "monitor": "Health monitor",
    "vip-port": "Virtual IP port",
    "servers": "Balancer servers",
    "floating-ip": "Floating IP",
    "ready": "External IP published on the Service",
    "failed": "Problem",
    "deleting": "Deleting",
    "deleted": "Deleted",
}


def balancer_context(session: LabSession) -> dict:
    """The context of labs/fragments/balancer.html: the session's cloud balancers and their steps."""
    rows = list(ServiceBalancer.objects.filter(cluster_id=session.cluster_id, namespace=session.namespace)
                .order_by("-updated")[:3])
    balancers = []
    for row in rows:
        steps = [{"title": BALANCER_STEPS.get(s.get("step"), s.get("step")), "detail": s.get("detail", ""),
                  "at": s.get("at", ""), "failed": s.get("step") == "failed"} for s in row.steps[-30:]]
        balancers.append({"row": row, "steps": steps, "provider": row.get_provider_display()})
    return {"session": session, "balancers": balancers, "balancers_by_product": session.cluster.balancers_by_product}


def session_messages(session: LabSession, cohort_ids: list | None = None):
    """The messages the student of the session reads: to them, or to a whole cohort they are in
    (`cohort_ids`: those cohorts, when already read)."""
    cohorts = session.user.cohorts.all() if cohort_ids is None else cohort_ids
    return Message.objects.filter(Q(recipient=session.user) | Q(recipient=None), cohort__in=cohorts)


def messages_context(session: LabSession) -> dict:
    """The context of labs/fragments/messages.html: the raised hand and the instructors' messages."""
    requests = list(session.help_requests.select_related("answered_by")[:10])
    # The student's cohorts, read once: whether there is one, and the messages sent there.
    cohort_ids = list(session.user.cohorts.values_list("pk", flat=True))
    messages = session_messages(session, cohort_ids).select_related("sender")[:30] if cohort_ids else ()
    return {
        "session": session,
        "has_cohort": bool(cohort_ids),
        "open_request": next((r for r in requests if r.state == HelpRequest.State.OPEN), None),
        "help_requests": requests,
        "lab_messages": list(messages),
    }


@dataclass(frozen=True)
class LiveReading:
    """What the page shows from Redis: the namespace's observed state (`error` says why it is empty when
    Redis could not be reached), the cluster's nodes and the DNS form's last outcome."""

    state: dict
    error: str
    nodes: dict
    dns_outcome: dict


def read_live(session: LabSession) -> LiveReading:
    """The page's Redis reads, in one round trip (each fragment used to read its own)."""
    try:
        pipe = observed.client().pipeline(transaction=False)
        pipe.hgetall(observed.namespace_key(session.cluster_id, session.namespace))
        pipe.hgetall(nodes.redis_key(session.cluster_id))
        pipe.get(outcome_key(session.pk))
        raw_state, raw_nodes, raw_outcome = pipe.execute()
    except Exception:  # Redis down: the page still renders, the socket resyncs later
        logger.exception("could not load the live state of %s", session.namespace)
        return LiveReading(observed.empty_state(), UNAVAILABLE, {}, {})
    return LiveReading(observed.state_from_raw(raw_state), "", nodes.decode(raw_nodes), outcome_from_raw(raw_outcome))


def page_context(session: LabSession, live: LiveReading | None = None) -> dict:
    """The contexts of the lab page's fragments for its first render, with nothing read twice.

    The fragments show the same facts: the observed state, the cluster's nodes and the DNS form's
    outcome are read from Redis at once; the check results and the DNS record once from the database;
    the checks are evaluated and diagnosed once (the checklist, the stepper and the path's pods); the
    path takes its balancer from the rows the balancer fragment read. Each context is the one its
    fragment's redraw gives (SESSION_FRAGMENTS), drawn from these. `live`: Redis already read (the
    kept page's stamp was computed from it: the page is drawn from exactly those facts).
    """
    live = live or read_live(session)
    records = read_check_records(session)
    checklist = checklist_context(session, live.state, records=records)
    balancer = balancer_context(session)
    return {
        **status_context(session, records),
        **revisions_context(session),
        **messages_context(session),
        **panel_context(session, live.state, error=live.error, loaded_nodes=live.nodes),
        **checklist,
        **dns_context(session, live.state, records=records, outcome=live.dns_outcome),
        **balancer,
        **path_context(session, live.state, records=records, balancers=[b["row"] for b in balancer["balancers"]],
                       diagnoses=checklist["diagnoses"]),
    }


# what -> (template, the function giving the template's context for a session)
SESSION_FRAGMENTS = {
    "status": (STATUS_TEMPLATE, status_context),
    "revisions": (REVISIONS_TEMPLATE, revisions_context),
    "checks": (CHECKLIST_TEMPLATE, checklist_context),
    "dns": (DNS_TEMPLATE, dns_context),
    "balancer": (BALANCER_TEMPLATE, balancer_context),
    "messages": (MESSAGES_TEMPLATE, messages_context),
    "path": (PATH_TEMPLATE, path_context),
}


# The fragments that also show the observed state: given it, they do not read it again.
STATE_FRAGMENTS = ("checks", "dns", "path")


def render_session_fragment(what: str, session: LabSession, read_only: bool = False,
                            watching: bool | None = None, state: dict | None = None) -> str:
    """One of the page's own fragments (status, checks, revisions, dns), drawn from the database.

    `read_only`: no controls (an instructor watching, or a lab that ended); `watching`: an instructor
    looks at a student's lab (read_only when not given); `state`: the namespace's observed state when
    already read (a resync draws every fragment from the one state it read).
    """
    template, context_for = SESSION_FRAGMENTS[what]
    context = context_for(session, state) if state is not None and what in STATE_FRAGMENTS else context_for(session)
    return render_to_string(template, {"session": session, **context, "read_only": read_only,
                                       "watching": read_only if watching is None else watching})


ENDED_TEMPLATE = "labs/fragments/ended.html"


def render_ended_swaps(session: LabSession) -> str:
    """The swaps that turn an open page read-only when its lab ends: the editor becomes the text it
    held, and every control marked data-while-running (apply, object actions, dialogs) goes."""
    latest = session.revisions.first()
    text = session.draft or (latest.text if latest else "")
    return render_to_string(ENDED_TEMPLATE, {"session": session, "text": text})
