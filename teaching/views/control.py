"""The instructor's actions on sessions: extend, reset, end one, end all (queued as Celery tasks)."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST

from labs.models import LabSession
from teaching import actions, fragments
from teaching.access import get_cohort_for_instructor_or_404, get_session_for_instructor_or_404
from teaching.models import Action
from teaching.views.cohorts import instructor_required


def _response(request, cohort, error=""):
    if not request.htmx:
        return redirect("teaching:dashboard", cohort_id=cohort.pk)
    return HttpResponse(render_to_string(fragments.ACTIONS_TEMPLATE, {**fragments.actions_context(cohort),
                                                                      "error": error}, request=request))


@instructor_required
@require_POST
def session_action(request, cohort_id, session_id, kind):
    cohort = get_cohort_for_instructor_or_404(request.user, cohort_id)
    session = get_session_for_instructor_or_404(request.user, cohort, session_id)
    if kind == "extend":
        raw = request.POST.get("minutes", "15").strip()
        if not raw.isdecimal() or not 1 <= int(raw) <= actions.MAX_EXTENSION:
            return _response(request, cohort, f"Minutes: a whole number from 1 to {actions.MAX_EXTENSION}.")
        if not session.is_running:
            return _response(request, cohort, f"{session.user}'s session is not running.")
        actions.queue(request.user, Action.Kind.EXTEND, cohort, session, detail=f"{raw} min", minutes=int(raw))
    elif kind == "reset":
        if session.state != LabSession.State.READY:
            return _response(request, cohort, f"{session.user}'s session is not running, so it cannot be reset.")
        actions.queue(request.user, Action.Kind.RESET, cohort, session)
    elif kind == "end":
        actions.queue(request.user, Action.Kind.END, cohort, session)
    else:
        return _response(request, cohort, "Action: one of extend, reset or end.")
    return _response(request, cohort)


@instructor_required
@require_POST
def end_all(request, cohort_id):
    cohort = get_cohort_for_instructor_or_404(request.user, cohort_id)
    actions.queue(request.user, Action.Kind.END_ALL, cohort)
    return _response(request, cohort)
