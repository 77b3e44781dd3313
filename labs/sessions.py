"""Lab session lifecycle: allocate, extend, end and expire (kept apart from views)."""

from __future__ import annotations

import re
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from clouds.models import Cluster
from labs.content_loader import LabNotFound, load_lab
from labs.models import LabSession, SessionLog

NAMESPACE_LABEL = "liveops.dev/session"
DEFAULT_WARN_MINUTES = 5


def lab_or_none(slug: str):
    """The lab's content, or None when the lab was removed since the session started."""
    try:
        return load_lab(slug)
    except LabNotFound:
        return None


def log(session: LabSession, kind: str, message: str) -> None:
    SessionLog.objects.create(session=session, kind=kind, message=message)


def namespace_for(user, session_id) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", user.get_username().lower()).strip("-")[:30] or "student"
    return f"lab-{base}-{session_id.hex[:8]}"


def active_session(user, lab_slug: str) -> LabSession | None:
    return LabSession.objects.filter(user=user, lab_slug=lab_slug, state__in=LabSession.ACTIVE_STATES).first()


def start_session(user, lab_slug: str) -> tuple[LabSession, bool]:
    """The student's active session of this lab, or a new one being provisioned."""
    from labs.tasks import provision_session

    existing = active_session(user, lab_slug)
    if existing:
        return existing, False
    lab = load_lab(lab_slug)
    session = LabSession(user=user, lab_slug=lab.slug, cluster=Cluster.default())
    session.namespace = namespace_for(user, session.id)
    session.expires_at = timezone.now() + timedelta(minutes=lab.duration_minutes)
    session.progress = "Waiting for a worker to prepare your namespace"
    try:
        with transaction.atomic():
            session.save()
    except IntegrityError:
        # A second click raced the first: the other request created it.
        return active_session(user, lab_slug), False
    log(session, "start", f"Lab started on cluster {session.cluster.name}, namespace {session.namespace}")
    transaction.on_commit(lambda: provision_session.delay(str(session.id)))
    return session, True


def extend_session(session: LabSession) -> str | None:
    """Add the lab's extension once. Returns an error message or None."""
    lab = lab_or_none(session.lab_slug)
    if lab is None:
        return "This lab is no longer offered, so it cannot be extended."
    if session.state != LabSession.State.READY:
        return "Only a running lab can be extended."
    if session.extended:
        return "This lab has already been extended once."
    session.expires_at = max(session.expires_at, timezone.now()) + timedelta(minutes=lab.extension_minutes)
    session.extended = True
    session.warned = False
    session.save(update_fields=["expires_at", "extended", "warned"])
    log(session, "extend", f"Extended by {lab.extension_minutes} minutes")
    return None


ENDABLE_STATES = (LabSession.State.PROVISIONING, LabSession.State.READY, LabSession.State.FAILED)


def end_session(session: LabSession, reason: str = "ended by the student", expired_before=None) -> bool:
    """Start ending the session (cleanup runs as a Celery task). False if it is already ending or ended.

    With `expired_before`, only a session that still expires by then is ended (an extension wins).
    """
    from labs.tasks import teardown_session

    sessions = LabSession.objects.filter(pk=session.pk, state__in=ENDABLE_STATES)
    if expired_before is not None:
        sessions = sessions.filter(expires_at__lte=expired_before)
    updated = sessions.update(state=LabSession.State.ENDING, end_reason=reason,
                              progress="Waiting for a worker to clean up")
    if not updated:
        return False
    session.refresh_from_db()
    log(session, "end", f"Ending: {reason}")
    transaction.on_commit(lambda: teardown_session.delay(str(session.id)))
    return True


def sessions_to_warn(now=None):
    now = now or timezone.now()
    due = []
    for session in LabSession.objects.filter(state=LabSession.State.READY, warned=False):
        lab = lab_or_none(session.lab_slug)
        warn_before = lab.warn_before_minutes if lab else DEFAULT_WARN_MINUTES
        if session.expires_at - timedelta(minutes=warn_before) <= now:
            due.append(session)
    return due


def expired_sessions(now=None):
    now = now or timezone.now()
    return LabSession.objects.filter(
        state__in=[LabSession.State.READY, LabSession.State.PROVISIONING], expires_at__lte=now
    )


def reprovision_missing_namespaces(namespace_exists) -> list[LabSession]:
    """Re-provision running sessions whose namespace the cluster no longer has
    (e.g. the sandbox restarted). `namespace_exists(session) -> bool | None`
    (None when the cluster cannot say: the session is left alone)."""
    from labs.tasks import provision_session

    redone = []
    running = LabSession.objects.filter(state=LabSession.State.READY, expires_at__gt=timezone.now())
    for session in running.select_related("cluster"):
        if namespace_exists(session) is not False:
            continue
        updated = LabSession.objects.filter(pk=session.pk, state=LabSession.State.READY).update(
            state=LabSession.State.PROVISIONING, progress="The cluster lost your namespace: preparing it again"
        )
        if updated:
            log(session, "reprovision", f"Namespace {session.namespace} was missing on the cluster; preparing it again")
            transaction.on_commit(lambda sid=str(session.pk): provision_session.delay(sid))
            redone.append(session)
    return redone
