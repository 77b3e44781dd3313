"""A student raising a hand from the lab page; instructors answer from their dashboard."""

from __future__ import annotations

from django.http import HttpResponse
from django.template.loader import render_to_string

from labs.checks import diagnose, load_state
from labs.live import fragments
from labs.models import HelpRequest, LabSession
from labs.notify import notify_session

MAX_QUESTION = 500


def current_diagnosis(session: LabSession) -> str:
    """The first thing the checklist tells the student to look at ("" when nothing is wrong)."""
    diagnoses = diagnose(session, load_state(session), None)
    return diagnoses[0].title[:300] if diagnoses else ""


def raise_hand(request, session: LabSession) -> HttpResponse:
    question = request.POST.get("question", "").strip()
    error = ""
    if len(question) > MAX_QUESTION:
        error = f"Question: at most {MAX_QUESTION} characters."
    elif not session.user.cohorts.exists():
        error = "Question: you are in no cohort, so no instructor follows this lab."
    elif not session.help_requests.filter(state=HelpRequest.State.OPEN).exists():
        HelpRequest.objects.create(session=session, question=question, diagnosis=current_diagnosis(session))
        session.record("help", "Raised a hand" + (f": {question}" if question else ""))
        notify_session(session.pk, "messages")
    context = {**fragments.messages_context(session), "error": error, "read_only": False}
    return HttpResponse(render_to_string(fragments.MESSAGES_TEMPLATE, context, request=request))
