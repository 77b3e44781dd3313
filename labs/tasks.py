"""Celery tasks: provisioning, applying manifests, cleanup and expiry.

Each task reports its progress to the session's page over the WebSocket.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from labs.dns import delete_student_record
from labs.live import notify_session
from labs.models import LabSession, ManifestRevision
from labs.sessions import end_session, expired_sessions, log, sessions_to_warn

logger = logging.getLogger(__name__)


def _progress(session: LabSession):
    def report(message: str) -> None:
        LabSession.objects.filter(pk=session.pk).update(progress=message)
        session.progress = message
        notify_session(session.pk, "status")

    return report


@shared_task(acks_late=True)
def provision_session(session_id: str) -> None:
    from labs.provisioning import ProvisioningError, provision, teardown

    session = LabSession.objects.select_related("cluster").filter(pk=session_id).first()
    if session is None or session.state != LabSession.State.PROVISIONING:
        return
    try:
        provision(session, _progress(session))
    except ProvisioningError as exc:
        failed = LabSession.objects.filter(pk=session.pk, state=LabSession.State.PROVISIONING).update(
            state=LabSession.State.FAILED, error=str(exc), progress="")
        if failed:
            log(session, "error", str(exc))
    else:
        updated = LabSession.objects.filter(pk=session.pk, state=LabSession.State.PROVISIONING).update(
            state=LabSession.State.READY, ready_at=timezone.now(), progress=""
        )
        if updated:
            log(session, "ready", f"Namespace {session.namespace} is ready")
        else:
            # The student ended the lab while it was being prepared: the cleanup may have run
            # before the namespace existed, so remove what was just created.
            session.refresh_from_db()
            if session.state in (LabSession.State.ENDING, LabSession.State.ENDED):
                try:
                    teardown(session, lambda _message: None)
                except ProvisioningError as exc:
                    log(session, "error", f"Cleanup after an early end failed: {exc}")
    notify_session(session.pk, "status")


@shared_task(acks_late=True)
def teardown_session(session_id: str) -> None:
    from labs.provisioning import ProvisioningError, teardown

    session = LabSession.objects.select_related("cluster").filter(pk=session_id).first()
    if session is None or session.state != LabSession.State.ENDING:
        return
    try:
        delete_student_record(session)
        teardown(session, _progress(session))
    except ProvisioningError as exc:
        # Stay in ENDING with the reason shown; expiry retries the cleanup later.
        LabSession.objects.filter(pk=session.pk).update(error=str(exc), progress=f"Cleanup failed: {exc}")
        log(session, "error", f"Cleanup failed: {exc}")
    else:
        LabSession.objects.filter(pk=session.pk).update(
            state=LabSession.State.ENDED, ended_at=timezone.now(), progress="", error=""
        )
        log(session, "ended", "Namespace and load balancers released")
    notify_session(session.pk, "status")


@shared_task(acks_late=True)
def apply_revision(revision_id: int, dry_run_only: bool = False) -> None:
    revision = ManifestRevision.objects.select_related("session__cluster").filter(pk=revision_id).first()
    if revision is None or revision.status != ManifestRevision.Status.APPLYING:
        return  # unknown, or already done (a redelivered task must not apply an old text again)
    try:
        _apply_revision(revision, dry_run_only)
    except Exception:
        logger.exception("applying revision %s failed", revision.pk)
        ManifestRevision.objects.filter(pk=revision.pk, status=ManifestRevision.Status.APPLYING).update(
            status=ManifestRevision.Status.FAILED,
            message="Something went wrong on the server while applying; nothing more was applied. Try again.")
        notify_session(revision.session_id, "revisions")


def _apply_revision(revision: ManifestRevision, dry_run_only: bool) -> None:
    from labs.apply import apply_documents, dry_run_documents, server_problems
    from labs.content_loader import load_lab
    from labs.manifests import validate_manifests

    session = revision.session
    if session.state != LabSession.State.READY:
        revision.status = ManifestRevision.Status.FAILED
        revision.message = "The lab is not running, so nothing was applied."
        revision.save(update_fields=["status", "message"])
        notify_session(session.pk, "revisions")
        return
    validation = validate_manifests(revision.text, namespace=session.namespace, policy=load_lab(session.lab_slug).policy())
    if not validation.ok:
        revision.status = ManifestRevision.Status.INVALID
        revision.problems = [p.to_dict() for p in validation.problems]
        revision.message = "The manifests have problems; nothing was applied."
        revision.save(update_fields=["status", "problems", "message"])
        notify_session(session.pk, "revisions")
        return

    def step(message: str) -> None:
        ManifestRevision.objects.filter(pk=revision.pk).update(message=message)
        notify_session(session.pk, "revisions")

    step("Dry run on the cluster…")
    results = dry_run_documents(session, validation.documents)
    failed = [r for r in results if r.action == "failed"]
    if not failed and not dry_run_only:
        step("Applying…")
        apply_documents(session, validation.documents, results)
        failed = [r for r in results if r.action == "failed"]
    revision.result = [r.to_dict() for r in results]
    revision.problems = server_problems(validation.documents, results)
    if failed:
        revision.status = ManifestRevision.Status.FAILED
        revision.message = f"The cluster refused {failed[0].kind} {failed[0].name}: {failed[0].error}"
        if not dry_run_only:
            revision.message += " Nothing else was applied."
    elif dry_run_only:
        revision.status = ManifestRevision.Status.DRAFT
        revision.message = "Dry run passed: this is what applying would change."
    else:
        revision.status = ManifestRevision.Status.APPLIED
        revision.applied_at = timezone.now()
        revision.message = "Applied: " + ", ".join(f"{r.kind} {r.name} {r.action}" for r in results)
    with transaction.atomic():
        revision.save(update_fields=["status", "result", "problems", "message", "applied_at"])
        if revision.status == ManifestRevision.Status.APPLIED:
            log(session, "apply", f"Revision {revision.number}: {revision.message}")
    notify_session(session.pk, "revisions")


@shared_task
def expire_sessions() -> None:
    """Warn sessions near their end and end the expired ones (run by beat)."""
    for session in sessions_to_warn():
        LabSession.objects.filter(pk=session.pk).update(warned=True)
        log(session, "warning", "The lab ends in a few minutes")
        notify_session(session.pk, "status")
    now = timezone.now()
    for session in expired_sessions(now):
        end_session(session, reason="time is up", expired_before=now)
    # Retry cleanups that failed before (cluster down, timeout).
    for session in LabSession.objects.filter(state=LabSession.State.ENDING, error__gt=""):
        LabSession.objects.filter(pk=session.pk).update(error="")
        teardown_session.delay(str(session.pk))
