"""The cohort's progress as a CSV download."""

from django.http import HttpResponse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET

from teaching.access import get_cohort_for_instructor_or_404
from teaching.export import progress_csv
from teaching.views.cohorts import instructor_required


@instructor_required
@require_GET
def export_csv(request, cohort_id):
    cohort = get_cohort_for_instructor_or_404(request.user, cohort_id)
    response = HttpResponse(progress_csv(cohort), content_type="text/csv; charset=utf-8")
    name = f"{slugify(cohort.name) or 'cohort'}-{timezone.now():%Y%m%d-%H%M}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
