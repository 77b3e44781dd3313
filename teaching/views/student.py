"""Drill-down into one student: their live resources (the lab's own read-only LiveOps view), every applied
revision with its diff against the previous one, their checks' history, help requests and messages."""

from __future__ import annotations

import difflib

from django.shortcuts import render
from django.views.decorators.http import require_GET

from labs.content_loader import lab_or_none
from labs.live import fragments as lab_fragments
from labs.live.panel import panel_context
from labs.models import Message
from teaching.access import get_cohort_for_instructor_or_404, get_session_for_instructor_or_404
from teaching.grid import build_rows
from teaching.models import Action
from teaching.views.cohorts import instructor_required


def revision_step(session, number: str):
    """The revision to show (the newest by default), its diff against the previous one, and the neighbours."""
    revisions = list(session.revisions.order_by("number"))
    if not revisions:
        return {"revisions": [], "revision": None}
    by_number = {r.number: r for r in revisions}
    current = by_number.get(int(number)) if number.isdecimal() else None
    current = current or revisions[-1]
    index = revisions.index(current)
    previous = revisions[index - 1] if index > 0 else None
    diff = "\n".join(difflib.unified_diff(
        (previous.text if previous else "").splitlines(), current.text.splitlines(),
        f"revision {previous.number}" if previous else "(empty)", f"revision {current.number}", lineterm=""))
    return {"revisions": revisions, "revision": current, "previous": previous, "diff": diff,
            "next": revisions[index + 1] if index + 1 < len(revisions) else None}


def check_history(session, cohort):
    row = build_rows(cohort, [session.user])[0]
    log = session.log.filter(kind__in=("start", "ready", "reset", "help", "extend", "end", "ended", "error"))
    return row, list(log)


@instructor_required
@require_GET
def student(request, cohort_id, session_id):
    cohort = get_cohort_for_instructor_or_404(request.user, cohort_id)
    session = get_session_for_instructor_or_404(request.user, cohort, session_id)
    row, log = check_history(session, cohort)
    messages = Message.objects.filter(cohort=cohort, recipient__in=[session.user, None]).select_related("sender")
    context = {
        "cohort": cohort, "session": session, "lab": lab_or_none(session.lab_slug), "row": row, "log": log,
        "read_only": True,
        "help_requests": session.help_requests.select_related("answered_by"),
        "lab_messages": list(messages.filter(recipient=session.user)) + list(messages.filter(recipient=None)),
        "actions": Action.objects.filter(session=session).select_related("actor")[:20],
        **revision_step(session, request.GET.get("rev", "")),
        **lab_fragments.status_context(session),
        **lab_fragments.checklist_context(session),
        **lab_fragments.path_context(session),
        **panel_context(session),
    }
    return render(request, "teaching/student.html", context)
