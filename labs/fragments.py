"""Contexts of the session page's own fragments (status, revisions, problems).

Each fragment template is used for the first render and for WebSocket updates.
"""

import json

from django.utils import timezone

from labs.models import LabSession, ManifestRevision


def script_json(value) -> str:
    """JSON safe to place inside a <script> element."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


STATUS_TEMPLATE = "labs/fragments/status.html"
REVISIONS_TEMPLATE = "labs/fragments/revisions.html"
PROBLEMS_TEMPLATE = "labs/fragments/problems.html"


def status_context(session: LabSession) -> dict:
    from labs.sessions import DEFAULT_WARN_MINUTES, lab_or_none

    lab = lab_or_none(session.lab_slug)
    warn_before = lab.warn_before_minutes if lab else DEFAULT_WARN_MINUTES
    remaining = (session.expires_at - timezone.now()).total_seconds()
    return {
        "session": session,
        "lab": lab,
        "remaining_minutes": max(0, int(remaining // 60)),
        "can_extend": lab is not None and session.state == LabSession.State.READY and not session.extended,
        "ending_soon": session.state == LabSession.State.READY and remaining < warn_before * 60,
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
