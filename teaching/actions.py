"""An instructor's actions on sessions (extend, reset, end one, end all): each recorded in the audit log,
run as a Celery task beside its function, its progress shown live on the cohort's dashboard."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from labs import lifecycle
from labs.checks.dns import delete_student_record
from labs.lifecycle import namespace
from labs.lifecycle.end import ENDABLE_STATES
from labs.lifecycle.progress import reporter
from labs.models import LabSession
from labs.notify import notify_session
from teaching.models import Action
from teaching.publish import publish_actions

logger = logging.getLogger(__name__)

MAX_EXTENSION = 240  # minutes at once


def record(actor, kind, cohort=None, session=None, detail="", status=Action.Status.DONE) -> Action:
    """Write an instructor's action to the audit log (who, what, when, on whom)."""
    return Action.objects.create(actor=actor, kind=kind, cohort=cohort, session=session,
                                 student=session.user if session else None, detail=detail, status=status,
                                 finished_at=timezone.now() if status == Action.Status.DONE else None)


def queue(actor, kind, cohort, session=None, detail="", **kwargs) -> Action:
    """Record the action as queued and hand it to a worker once the transaction commits."""
    action = record(actor, kind, cohort, session, detail, status=Action.Status.QUEUED)
    action.progress = "Waiting for a worker"
    action.save(update_fields=["progress"])
    transaction.on_commit(lambda: run_action.delay(action.pk, **kwargs))
    publish_actions(cohort)
    return action


def _progress(action: Action, message: str, status=Action.Status.RUNNING) -> None:
    action.progress, action.status = message[:200], status
    if status in (Action.Status.DONE, Action.Status.FAILED):
        action.finished_at = timezone.now()
    action.save(update_fields=["progress", "status", "finished_at"])
    if action.cohort:
        publish_actions(action.cohort)


def extend(action: Action, minutes: int) -> str:
    session = action.session
    if not session.is_running:
        raise ValueError("the session is not running")
    LabSession.objects.filter(pk=session.pk).update(
        expires_at=max(session.expires_at, timezone.now()) + timedelta(minutes=minutes), warned=False)
    session.record("extend", f"Extended by {minutes} minutes by {action.actor}")
    notify_session(session.pk, "status")
    return f"Extended by {minutes} min"


def reset(action: Action) -> str:
    """Empty the namespace through the end-of-lab cleanup, then prepare it again; history and revisions stay."""
    session = LabSession.objects.select_related("cluster", "user").get(pk=action.session_id)
    if session.state != LabSession.State.READY:
        raise ValueError("only a running (ready) session can be reset")
    tell = reporter(session)
    session.record("reset", f"Reset by {action.actor}: the namespace is emptied")

    def step(message):
        tell(message)
        _progress(action, message)

    step("Releasing the DNS record")
    delete_student_record(session)
    namespace.teardown(session, step)
    step("Preparing a clean namespace")
    namespace.provision(session, step)
    LabSession.objects.filter(pk=session.pk).update(progress="")
    session.record("reset", "The namespace is clean again")
    notify_session(session.pk, "status")
    return "Namespace emptied and prepared again"


def end_one(action: Action) -> str:
    session = LabSession.objects.get(pk=action.session_id)
    if not lifecycle.end_session(session, reason=f"ended by {action.actor}"):
        return "Already ending or ended"
    notify_session(session.pk, "status")
    return "Cleanup started"


def end_all(action: Action) -> str:
    sessions = list(LabSession.objects.filter(cohort=action.cohort, state__in=ENDABLE_STATES))
    for i, session in enumerate(sessions, 1):
        if lifecycle.end_session(session, reason=f"ended by {action.actor} for the whole cohort"):
            notify_session(session.pk, "status")
        _progress(action, f"Ending sessions: {i} of {len(sessions)}")
    return f"Cleanup started for {len(sessions)} session(s)"


RUNNERS = {
    Action.Kind.EXTEND: extend,
    Action.Kind.RESET: reset,
    Action.Kind.END: end_one,
    Action.Kind.END_ALL: end_all,
}


@shared_task(name="teaching.tasks.run_action", acks_late=True)
def run_action(action_id: int, **kwargs) -> None:
    action = Action.objects.select_related("session", "cohort", "actor").filter(pk=action_id).first()
    if action is None or action.status != Action.Status.QUEUED:
        return
    _progress(action, "Started")
    try:
        result = RUNNERS[action.kind](action, **kwargs)
    except (ValueError, namespace.ProvisioningError) as exc:
        _progress(action, f"Failed: {exc}", Action.Status.FAILED)
    except Exception as exc:  # shown on the dashboard, and logged with its traceback
        logger.exception("action %s failed", action_id)
        _progress(action, f"Failed: {exc}", Action.Status.FAILED)
    else:
        _progress(action, result, Action.Status.DONE)
