"""Ending a lab: the session goes to ENDING, a Celery task releases its DNS record,
load balancers and namespace, then marks it ENDED.

A cleanup that fails (cluster down, a balancer the cloud does not release)
stays ENDING with its reason shown to the student, the instructor and the
admin, and is retried later with a growing delay (labs.lifecycle.expire);
meanwhile the student may start the lab anew.
"""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from labs.checks.dns import delete_student_record
from labs.lifecycle import namespace
from labs.lifecycle.progress import reporter
from labs.models import LabSession
from labs.notify import notify_session

ENDABLE_STATES = (LabSession.State.PROVISIONING, LabSession.State.READY, LabSession.State.FAILED)
FIRST_RETRY = 30  # seconds before a failed cleanup is tried again; doubles each time
MAX_RETRY = 3600


def end_session(session: LabSession, reason: str = "ended by the student", expired_before=None) -> bool:
    """Start ending the session (cleanup runs as a Celery task). False if it is already ending or ended.

    With `expired_before`, only a session that still expires by then is ended (an extension wins).
    """
    sessions = LabSession.objects.filter(pk=session.pk, state__in=ENDABLE_STATES)
    if expired_before is not None:
        sessions = sessions.filter(expires_at__lte=expired_before)
    updated = sessions.update(state=LabSession.State.ENDING, end_reason=reason,
                              progress="Waiting for a worker to clean up")
    if not updated:
        return False
    session.refresh_from_db()
    session.record("end", f"Ending: {reason}")
    transaction.on_commit(lambda: teardown_session.delay(str(session.id)))
    return True


def retry_delay(attempts: int) -> timedelta:
    return timedelta(seconds=min(FIRST_RETRY * 2 ** max(attempts - 1, 0), MAX_RETRY))


@shared_task(name="labs.tasks.teardown_session", acks_late=True)
def teardown_session(session_id: str) -> None:
    session = LabSession.objects.select_related("cluster").filter(pk=session_id).first()
    if session is None or session.state != LabSession.State.ENDING:
        return
    try:
        delete_student_record(session)
        namespace.teardown(session, reporter(session))
    except namespace.ProvisioningError as exc:
        # Stay in ENDING with the reason shown; expiry retries the cleanup later, less and less often.
        attempts = session.cleanup_attempts + 1
        LabSession.objects.filter(pk=session.pk).update(
            error=str(exc), progress=f"Cleanup failed: {exc}"[:200], cleanup_attempts=attempts,
            cleanup_retry_at=timezone.now() + retry_delay(attempts))
        session.record("error", f"Cleanup failed (attempt {attempts}): {exc}")
    else:
        LabSession.objects.filter(pk=session.pk).update(
            state=LabSession.State.ENDED, ended_at=timezone.now(), progress="", error="", cleanup_retry_at=None
        )
        session.record("ended", "Namespace and load balancers released")
    notify_session(session.pk, "status")
