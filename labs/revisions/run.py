"""Applying a revision (a Celery task): validate again, dry-run every document, then apply them all or none."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from labs.content_loader import load_lab
from labs.manifests import validate_manifests
from labs.models import LabSession, ManifestRevision
from labs.notify import notify_session
from labs.revisions.apply import apply_documents, dry_run_documents, server_problems

logger = logging.getLogger(__name__)


def lab_policy(session: LabSession):
    return load_lab(session.lab_slug).policy()


@shared_task(name="labs.tasks.apply_revision", acks_late=True)
def apply_revision(revision_id: int, dry_run_only: bool = False) -> None:
    revision = ManifestRevision.objects.select_related("session__cluster").filter(pk=revision_id).first()
    if revision is None or revision.status != ManifestRevision.Status.APPLYING:
        return  # unknown, or already done (a redelivered task must not apply an old text again)
    if ManifestRevision.objects.filter(session_id=revision.session_id, number__gt=revision.number).exists():
        # Delivered again long after its worker was lost, once the student had submitted a newer text:
        # applying this one now would undo the newer one.
        ManifestRevision.objects.filter(pk=revision.pk, status=ManifestRevision.Status.APPLYING).update(
            status=ManifestRevision.Status.FAILED,
            message="Not applied: a newer revision was submitted while this one waited for a worker.")
        notify_session(revision.session_id, "revisions")
        return
    try:
        _apply_revision(revision, dry_run_only)
    except Exception:
        logger.exception("applying revision %s failed", revision.pk)
        ManifestRevision.objects.filter(pk=revision.pk, status=ManifestRevision.Status.APPLYING).update(
            status=ManifestRevision.Status.FAILED,
            message="Something went wrong on the server while applying; nothing more was applied. Try again.")
        notify_session(revision.session_id, "revisions")


def keep_first_plan(revision: ManifestRevision, results) -> None:
    """A run delivered again (its worker died while applying) finds part of the text already applied,
    which its own dry run calls unchanged: report what the revision changed, as the first run planned
    it (its plan is stored just before applying)."""
    planned = {(r.get("kind"), r.get("name")): r for r in revision.result or [] if isinstance(r, dict)}
    for result in results:
        first = planned.get((result.kind, result.name))
        if result.action == "unchanged" and first and first.get("action") in ("created", "configured"):
            result.action, result.diff = first["action"], first.get("diff", "")


def _apply_revision(revision: ManifestRevision, dry_run_only: bool) -> None:
    session = revision.session
    if session.state != LabSession.State.READY:
        revision.status = ManifestRevision.Status.FAILED
        revision.message = "The lab is not running, so nothing was applied."
        revision.save(update_fields=["status", "message"])
        notify_session(session.pk, "revisions")
        return
    validation = validate_manifests(revision.text, namespace=session.namespace, policy=lab_policy(session))
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
        keep_first_plan(revision, results)
        ManifestRevision.objects.filter(pk=revision.pk).update(result=[r.to_dict() for r in results])
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
            session.record("apply", f"Revision {revision.number}: {revision.message}")
    notify_session(session.pk, "revisions")
