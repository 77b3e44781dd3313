"""Re-evaluating a session's checks and redrawing its page when what it shows changed."""

from __future__ import annotations

import hashlib
import json
import logging

from clouds.watch import state as observed
from labs.checks.completion import record_completion
from labs.checks.definitions import CheckStatus
from labs.checks.diagnosis import diagnose
from labs.checks.evaluation import evaluate, save_checks
from labs.checks.targets import lb_target
from labs.content_loader import lab_or_none
from labs.models import LabSession
from labs.notify import changed_since_drawn, notify_session
from labs.signals import checklist_evaluated

log = logging.getLogger(__name__)


def _visible_digest(statuses: list[CheckStatus], diagnoses: list) -> str:
    data = [s.visible() for s in statuses] + [d.visible() if hasattr(d, "visible") else repr(d) for d in diagnoses]
    return hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def refresh_checks(session: LabSession, state: dict, probes: dict | None = None) -> bool:
    """Evaluate, store and notify the page when the visible checklist changed. True when notified."""
    lab = lab_or_none(session.lab_slug)
    statuses = evaluate(session, state, probes=probes, lab=lab)
    save_checks(session, statuses)
    record_completion(session, statuses)
    diagnoses = diagnose(session, state, statuses, lab=lab, probes=probes)
    digest = _visible_digest(statuses, diagnoses)
    changed = changed_since_drawn("checklist", session.id, digest)
    _notify_dns_when_address_changes(session, state)
    if not changed:
        return False
    for receiver, result in checklist_evaluated.send_robust(sender=None, session=session, statuses=statuses,
                                                            diagnoses=diagnoses):
        if isinstance(result, Exception):
            log.error("%s failed on session %s: %r", receiver, session.id, result)
    notify_session(session.id, "checks")
    return True


def _notify_dns_when_address_changes(session: LabSession, state: dict) -> None:
    """The DNS panel shows the external IP (sslip.io link, form default): redraw it when that changes."""
    target = lb_target(state) or {}
    address = ""
    if target.get("ip") or target.get("hostname"):
        address = f"{target.get('ip', '')}|{target.get('hostname', '')}|{target.get('port', '')}"
    try:
        r = observed.client()
        previous = r.getset(f"liveops:dnsview:{session.id.hex}", address)
        r.expire(f"liveops:dnsview:{session.id.hex}", 24 * 3600)
    except Exception:  # noqa: BLE001
        return
    if (previous or b"").decode() != address:
        notify_session(session.id, "dns")
