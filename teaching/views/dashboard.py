"""The cohort's live dashboard page, and what the instructor does from it: answer or dismiss a raised
hand, send a message to one student or to the whole cohort."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from labs.models import HelpRequest, LabSession, Message
from labs.notify import notify_session
from teaching import fragments
from teaching.access import get_cohort_for_instructor_or_404
from teaching.actions import record
from teaching.models import Action
from teaching.views.cohorts import instructor_required

MAX_TEXT = 2000


@instructor_required
@require_GET
def dashboard(request, cohort_id):
    cohort = get_cohort_for_instructor_or_404(request.user, cohort_id)
    join_url = request.build_absolute_uri(f"/join/{cohort.join_token}/")
    context = {**fragments.grid_context(cohort), **fragments.funnel_context(cohort), **fragments.help_context(cohort),
               **fragments.actions_context(cohort), "join_url": join_url,
               "students": cohort.students.order_by("username")}
    return render(request, "teaching/dashboard.html", context)


def _help_request_or_404(cohort, request_id) -> HelpRequest:
    help_request = HelpRequest.objects.select_related("session__user").filter(pk=request_id,
                                                                               session__cohort=cohort).first()
    if help_request is None:
        raise Http404("No such help request in this cohort")
    return help_request


def _help_response(request, cohort, error=""):
    if not request.htmx:
        return redirect("teaching:dashboard", cohort_id=cohort.pk)
    return HttpResponse(render_to_string(fragments.HELP_TEMPLATE, {**fragments.help_context(cohort), "error": error},
                                         request=request))


@instructor_required
@require_POST
def answer_help(request, cohort_id, request_id):
    cohort = get_cohort_for_instructor_or_404(request.user, cohort_id)
    help_request = _help_request_or_404(cohort, request_id)
    text = request.POST.get("answer", "").strip()
    if not text or len(text) > MAX_TEXT:
        return _help_response(request, cohort, f"Answer: write 1 to {MAX_TEXT} characters.")
    if help_request.state == HelpRequest.State.OPEN:
        HelpRequest.objects.filter(pk=help_request.pk).update(
            state=HelpRequest.State.ANSWERED, answer=text, answered_by=request.user, closed_at=timezone.now())
        record(request.user, Action.Kind.ANSWER, cohort, help_request.session, detail=text[:200])
        notify_session(help_request.session_id, "messages")
    return _help_response(request, cohort)


@instructor_required
@require_POST
def dismiss_help(request, cohort_id, request_id):
    cohort = get_cohort_for_instructor_or_404(request.user, cohort_id)
    help_request = _help_request_or_404(cohort, request_id)
    if help_request.state == HelpRequest.State.OPEN:
        HelpRequest.objects.filter(pk=help_request.pk).update(
            state=HelpRequest.State.DISMISSED, answered_by=request.user, closed_at=timezone.now())
        record(request.user, Action.Kind.DISMISS, cohort, help_request.session)
        notify_session(help_request.session_id, "messages")
    return _help_response(request, cohort)


@instructor_required
@require_POST
def send_message(request, cohort_id):
    """To one student (`student`: their user id) or, without one, to the whole cohort."""
    cohort = get_cohort_for_instructor_or_404(request.user, cohort_id)
    text = request.POST.get("text", "").strip()
    student_id = request.POST.get("student", "").strip()
    recipient = None
    error = ""
    if student_id:
        recipient = cohort.students.filter(pk=student_id).first() if student_id.isdecimal() else None
        if recipient is None:
            error = "Student: choose a student of this cohort."
    if not text or len(text) > MAX_TEXT:
        error = f"Message: write 1 to {MAX_TEXT} characters."
    sent = ""
    if not error:
        Message.objects.create(cohort=cohort, recipient=recipient, sender=request.user, text=text)
        record(request.user, Action.Kind.MESSAGE, cohort, detail=f"to {recipient or 'everyone'}: {text[:200]}")
        sessions = LabSession.objects.filter(user__cohorts=cohort, state__in=LabSession.ACTIVE_STATES)
        if recipient is not None:
            sessions = sessions.filter(user=recipient)
        for session_id in sessions.values_list("pk", flat=True):
            notify_session(session_id, "messages")
        sent = f"Sent to {recipient.get_username() if recipient else 'everyone'}."
    if not request.htmx:
        return redirect("teaching:dashboard", cohort_id=cohort.pk)
    return HttpResponse(render_to_string("teaching/fragments/message_form.html", {
        "cohort": cohort, "students": cohort.students.order_by("username"), "error": error, "sent": sent,
        "text": text if error else "", "student_id": student_id}, request=request))
