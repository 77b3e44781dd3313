"""Submitting a revision: number it, record it, and queue the task that applies it.

One submission at a time per session: the session's row is locked while the
next number is taken (PostgreSQL; SQLite serialises write transactions), so two
clicks never get the same number and never start two applies at once.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from labs.models import LabSession, ManifestRevision
from labs.revisions.run import apply_revision

# An apply still running after this long is taken as lost (its worker died): a new one may start.
BUSY_FOR = timedelta(minutes=2)


class StillApplying(Exception):
    def __init__(self, number: int):
        super().__init__(number)
        self.number = number


def submit_revision(session: LabSession, text: str, dry_run: bool) -> ManifestRevision:
    """A new APPLYING revision of `text`, its task queued once the transaction commits."""
    with transaction.atomic():
        LabSession.objects.select_for_update().filter(pk=session.pk).first()
        busy = session.revisions.filter(status=ManifestRevision.Status.APPLYING,
                                        created__gte=timezone.now() - BUSY_FOR).first()
        if busy:
            raise StillApplying(busy.number)
        number = (session.revisions.aggregate(n=Max("number"))["n"] or 0) + 1
        revision = ManifestRevision.objects.create(
            session=session, number=number, text=text, status=ManifestRevision.Status.APPLYING,
            message="Waiting for a worker…",
        )
        transaction.on_commit(lambda: apply_revision.delay(revision.pk, dry_run_only=dry_run))
    return revision
