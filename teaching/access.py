"""Who may see a cohort on the instructor's side: one helper per object kind, used by every view and socket."""

from __future__ import annotations

from django.http import Http404

from labs.models import Cohort, LabSession
from teaching.roles import is_instructor


def teaches(user, cohort: Cohort) -> bool:
    """An instructor of this cohort (or an admin)."""
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return is_instructor(user) and cohort.instructors.filter(pk=user.pk).exists()


def cohorts_for(user):
    if user.is_superuser:
        return Cohort.objects.all()
    return Cohort.objects.filter(instructors=user)


def get_cohort_for_instructor_or_404(user, cohort_id) -> Cohort:
    cohort = Cohort.objects.filter(pk=cohort_id).first()
    if cohort is None or not teaches(user, cohort):
        raise Http404("No such cohort")
    return cohort


def get_session_for_instructor_or_404(user, cohort: Cohort, session_id) -> LabSession:
    """A session of the cohort (the caller already checked the cohort is the user's)."""
    try:
        return LabSession.objects.select_related("user", "cluster").get(pk=session_id, cohort=cohort)
    except (LabSession.DoesNotExist, ValueError):
        raise Http404("No such session in this cohort") from None
