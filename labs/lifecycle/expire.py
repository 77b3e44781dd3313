"""Expiry, run by beat: warn sessions near their end, end the expired ones, retry failed cleanups."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from labs.content_loader import lab_or_none
from labs.lifecycle.end import end_session, teardown_session
from labs.models import LabSession
from labs.notify import notify_session

DEFAULT_WARN_MINUTES = 5


def warn_before_minutes(session: LabSession) -> int:
    lab = lab_or_none(session.lab_slug)
    return lab.warn_before_minutes if lab else DEFAULT_WARN_MINUTES


def sessions_to_warn(now=None):
    now = now or timezone.now()
    due = []
    for session in LabSession.objects.filter(state=LabSession.State.READY, warned=False):
        if session.expires_at - timedelta(minutes=warn_before_minutes(session)) <= now:
            due.append(session)
    return due


def expired_sessions(now=None):
    """Sessions whose time is up: running ones, and failed ones (whose namespace may still exist)."""
    now = now or timezone.now()
    return LabSession.objects.filter(
        state__in=[LabSession.State.READY, LabSession.State.PROVISIONING, LabSession.State.FAILED],
        expires_at__lte=now,
    )


def cleanups_to_retry(now=None):
    now = now or timezone.now()
    return LabSession.objects.filter(state=LabSession.State.ENDING, error__gt="").filter(
        Q(cleanup_retry_at__isnull=True) | Q(cleanup_retry_at__lte=now))


@shared_task(name="labs.tasks.expire_sessions")
def expire_sessions() -> None:
    """Warn sessions near their end and end the expired ones (run by beat)."""
    for session in sessions_to_warn():
        LabSession.objects.filter(pk=session.pk).update(warned=True)
        session.record("warning", "The lab ends in a few minutes")
        notify_session(session.pk, "status")
    now = timezone.now()
    for session in expired_sessions(now):
        end_session(session, reason="time is up", expired_before=now)
    # Retry cleanups that failed before (cluster down, a balancer not released yet), with a growing delay.
    for session in cleanups_to_retry(now):
        LabSession.objects.filter(pk=session.pk).update(error="")
        teardown_session.delay(str(session.pk))
