"""Where a user lands after logging in: an instructor on their cohorts, a student on the lab catalogue."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect

from teaching.roles import is_instructor


@login_required
def home(request):
    if is_instructor(request.user) and not request.user.is_superuser:
        return redirect("teaching:home")
    return redirect("labs:catalogue")
