"""Progress of long lifecycle work, shown live on the session's page."""

from __future__ import annotations

from labs.models import LabSession
from labs.notify import notify_session


def reporter(session: LabSession):
    """A function that stores a progress message on the session and redraws its status."""

    def report(message: str) -> None:
        LabSession.objects.filter(pk=session.pk).update(progress=message[:200])
        session.progress = message[:200]
        notify_session(session.pk, "status")

    return report
