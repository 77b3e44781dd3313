"""The instructor's home (their cohorts), creating a cohort and changing its settings."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from labs.models import LabSession
from teaching.access import cohorts_for, get_cohort_for_instructor_or_404
from teaching.actions import record
from teaching.forms import CohortForm
from teaching.models import Action
from teaching.roles import is_instructor


def instructor_required(view):
    """Only instructors and admins; anyone else gets a 404 (the page does not exist for them)."""

    @login_required
    def wrapped(request, *args, **kwargs):
        if not (is_instructor(request.user) or request.user.is_superuser):
            raise Http404("No such page")
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


@instructor_required
@require_GET
def home(request):
    cohorts = list(cohorts_for(request.user).prefetch_related("students", "instructors"))
    running = {}
    for cohort_id in LabSession.objects.filter(cohort__in=cohorts, state__in=LabSession.RUNNING_STATES).values_list(
            "cohort_id", flat=True):
        running[cohort_id] = running.get(cohort_id, 0) + 1
    rows = [{"cohort": c, "running": running.get(c.pk, 0)} for c in cohorts]
    return render(request, "teaching/home.html", {"rows": rows})


@instructor_required
@require_http_methods(["GET", "POST"])
def create(request):
    form = CohortForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        cohort = form.save()
        cohort.instructors.add(request.user)
        record(request.user, Action.Kind.CREATE_COHORT, cohort, detail=cohort.name)
        messages.success(request, f"{cohort.name} created: share the join link or the code {cohort.code}.")
        return redirect("teaching:dashboard", cohort_id=cohort.pk)
    return render(request, "teaching/cohort_form.html", {"form": form, "cohort": None})


@instructor_required
@require_http_methods(["GET", "POST"])
def edit(request, cohort_id):
    cohort = get_cohort_for_instructor_or_404(request.user, cohort_id)
    form = CohortForm(request.POST or None, instance=cohort)
    if request.method == "POST" and form.is_valid():
        form.save()
        record(request.user, Action.Kind.EDIT_COHORT, cohort, detail=", ".join(form.changed_data))
        messages.success(request, "Saved.")
        return redirect("teaching:dashboard", cohort_id=cohort.pk)
    return render(request, "teaching/cohort_form.html", {"form": form, "cohort": cohort})
