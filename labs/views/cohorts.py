"""Joining a cohort, by its link or its short code (the student's side of cohorts)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from labs.models import Cohort


def _join(request, cohort: Cohort):
    cohort.students.add(request.user)
    messages.success(request, f"You joined {cohort.name}.")
    return redirect("labs:catalogue")


@login_required
@require_POST
def join_with_code(request):
    code = request.POST.get("code", "").strip().upper()
    cohort = Cohort.objects.filter(code=code).first() if code else None
    if cohort is None:
        messages.error(request, "Join code: no cohort has this code; check it with your instructor."
                       if code else "Join code: type the code your instructor gave you.")
        return redirect("labs:catalogue")
    return _join(request, cohort)


@login_required
@require_http_methods(["GET", "POST"])
def join_with_link(request, token):
    cohort = Cohort.objects.filter(join_token=token).first()
    if cohort is None:
        raise Http404("No cohort has this link")
    if request.method == "POST":
        return _join(request, cohort)
    member = cohort.students.filter(pk=request.user.pk).exists()
    return render(request, "labs/join.html", {"cohort": cohort, "member": member})
