"""Who may see a lab session. One rule, used by every view and WebSocket."""

from django.http import Http404

from labs.models import LabSession


def can_view_session(user, session: LabSession) -> bool:
    if not user.is_authenticated:
        return False
    if session.user_id == user.pk or user.is_superuser:
        return True
    # Instructors see the sessions of the students in the cohorts they teach.
    return session.user.cohorts.filter(instructors=user).exists()


def get_session_or_404(user, session_id) -> LabSession:
    try:
        session = LabSession.objects.select_related("cluster", "user").get(pk=session_id)
    except (LabSession.DoesNotExist, ValueError):
        raise Http404("No such lab session") from None
    if not can_view_session(user, session):
        raise Http404("No such lab session")
    return session
