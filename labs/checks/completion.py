"""A lab is Completed once every required check has been reached: when that happened, and how long
each step took from the start of the lab.

Completion is a record, like a reached check: cleaning up afterwards, or the
cluster changing, never takes it back. The session runs on until the student
ends it or its time is up.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from labs.checks.definitions import CheckStatus
from labs.models import CheckResult, LabSession
from labs.notify import notify_session


def record_completion(session: LabSession, statuses: list[CheckStatus]) -> bool:
    """Mark the session Completed when every required check has been reached. True when it just was."""
    required = [s for s in statuses if not s.optional]
    if session.completed_at is not None or not required or not all(s.reached for s in required):
        return False
    at = max(s.reached_at or timezone.now() for s in required)
    # Only a running lab completes: what the end's own cleanup removes is not the student's doing.
    if not LabSession.objects.filter(pk=session.pk, completed_at__isnull=True,
                                     state=LabSession.State.READY).update(completed_at=at):
        return False
    session.completed_at = at
    session.record("completed", f"Lab completed in {format_duration(at - session.started_at)}")
    notify_session(session.pk, "status")
    return True


def format_duration(delta: timedelta) -> str:
    """A duration as the student reads it: "1 h 04 min", "12 min 30 s", "45 s"."""
    seconds = max(0, int(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"


def _step_reached(keys: tuple[str, ...], reached: dict[str, datetime], optional: set[str]) -> datetime | None:
    """When a step was done: its last required check reached (an optional step: its first check reached)."""
    required = [k for k in keys if k not in optional]
    if required:
        if not all(k in reached for k in required):
            return None
        return max(reached[k] for k in required)
    times = [reached[k] for k in keys if k in reached]
    return min(times) if times else None


def completion_summary(session: LabSession, lab, reached: dict[str, datetime] | None = None) -> dict | None:
    """For a completed session: the total time and, per step with checks, when it was done and after how long.

    `reached`: when each reached check was first reached, when already read (CheckRecords.reached).
    """
    if session.completed_at is None:
        return None
    start = session.started_at
    if reached is None:
        reached = dict(CheckResult.objects.filter(session=session, passed_at__isnull=False)
                       .values_list("key", "passed_at"))
    optional = {c.key for c in lab.checks if c.optional} if lab is not None else set()
    steps = []
    for number, step in enumerate(lab.steps if lab is not None else (), start=1):
        if not step.checks:
            continue
        at = _step_reached(step.checks, reached, optional)
        steps.append({
            "number": number, "title": step.title, "at": at,
            "optional": all(k in optional for k in step.checks),
            "after": format_duration(at - start) if at else "",
        })
    return {"completed_at": session.completed_at, "total": format_duration(session.completed_at - start),
            "steps": steps}
