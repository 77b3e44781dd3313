"""Starting a lab: one running session per student and lab, in its own new namespace."""

from __future__ import annotations

import re
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from clouds.models import Cluster
from labs.content_loader import load_lab
from labs.lifecycle.provision import provision_session
from labs.models import LabSession


def namespace_for(user, session_id) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", user.get_username().lower()).strip("-")[:30] or "student"
    return f"lab-{base}-{session_id.hex[:8]}"


def running_session(user, lab_slug: str) -> LabSession | None:
    """The student's session of this lab that is being prepared or running (one at most)."""
    return LabSession.objects.filter(user=user, lab_slug=lab_slug, state__in=LabSession.RUNNING_STATES).first()


def start_session(user, lab_slug: str) -> tuple[LabSession, bool]:
    """The student's running session of this lab, or a new one being provisioned.

    A session still being cleaned up (ending) does not count: its cleanup goes
    on in the background while the student starts anew in a new namespace.
    """
    existing = running_session(user, lab_slug)
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
        return running_session(user, lab_slug), False
    session.record("start", f"Lab started on cluster {session.cluster.name}, namespace {session.namespace}")
    transaction.on_commit(lambda: provision_session.delay(str(session.id)))
    return session, True
