"""Preparing a session's namespace (a Celery task), and preparing it again when the cluster lost it."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from labs.lifecycle import namespace
from labs.lifecycle.progress import reporter
from labs.models import LabSession
from labs.notify import notify_session

logger = logging.getLogger(__name__)


@shared_task(name="labs.tasks.provision_session", acks_late=True)
def provision_session(session_id: str) -> None:
    session = LabSession.objects.select_related("cluster").filter(pk=session_id).first()
    if session is None or session.state != LabSession.State.PROVISIONING:
        return
    began = timezone.now()
    try:
        namespace.provision(session, reporter(session))
    except namespace.ProvisioningError as exc:
        failed = LabSession.objects.filter(pk=session.pk, state=LabSession.State.PROVISIONING).update(
            state=LabSession.State.FAILED, error=str(exc), progress="")
        if failed:
            session.record("error", str(exc))
    else:
        ready_at = timezone.now()
        updated = LabSession.objects.filter(pk=session.pk, state=LabSession.State.PROVISIONING).update(
            state=LabSession.State.READY, ready_at=ready_at, progress=""
        )
        if updated:
            session.record("ready", f"Namespace {session.namespace} is ready: {timing(session, began, ready_at)}")
        else:
            # The student ended the lab while it was being prepared: the cleanup may have run
            # before the namespace existed, so remove what was just created.
            session.refresh_from_db()
            if session.state in (LabSession.State.ENDING, LabSession.State.ENDED):
                try:
                    namespace.teardown(session, lambda _message: None)
                except namespace.ProvisioningError as exc:
                    session.record("error", f"Cleanup after an early end failed: {exc}")
    notify_session(session.pk, "status")


def timing(session: LabSession, began, ready_at) -> str:
    """Where a start's time went, for the session's history: waiting for a free worker (many students
    starting at once) apart from the preparation itself (a slow cluster)."""
    prepared = f"prepared in {(ready_at - began).total_seconds():.2f} s"
    if session.ready_at is not None:  # prepared again (the cluster lost it): when it was asked is not kept
        return prepared
    return f"waited {max(0.0, (began - session.created).total_seconds()):.2f} s for a worker, {prepared}"


def reprovision_missing_namespaces(namespace_exists) -> list[LabSession]:
    """Re-provision running sessions whose namespace the cluster no longer has
    (e.g. the sandbox restarted). `namespace_exists(session) -> bool | None`
    (None when the cluster cannot say: the session is left alone)."""
    redone = []
    running = LabSession.objects.filter(state=LabSession.State.READY, expires_at__gt=timezone.now())
    for session in running.select_related("cluster"):
        if namespace_exists(session) is not False:
            continue
        updated = LabSession.objects.filter(pk=session.pk, state=LabSession.State.READY).update(
            state=LabSession.State.PROVISIONING, progress="The cluster lost your namespace: preparing it again"
        )
        if updated:
            session.record("reprovision",
                           f"Namespace {session.namespace} was missing on the cluster; preparing it again")
            transaction.on_commit(lambda sid=str(session.pk): provision_session.delay(sid))
            redone.append(session)
    return redone
