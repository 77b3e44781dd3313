"""Starting a lab: one running session per student and lab, in its own new namespace."""

from __future__ import annotations

import re
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from clouds.models import Cluster
from labs.content_loader import load_lab
from labs.lifecycle.provision import provision_session
from labs.models import Cohort, LabSession


class StartRefused(Exception):
    """The student may not start the lab now (the cohort's window); the message says why."""


def namespace_for(user, session_id) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", user.get_username().lower()).strip("-")[:30] or "student"
    return f"lab-{base}-{session_id.hex[:8]}"


def running_session(user, lab_slug: str) -> LabSession | None:
    """The student's session of this lab that is being prepared or running (one at most)."""
    return LabSession.objects.filter(user=user, lab_slug=lab_slug, state__in=LabSession.RUNNING_STATES).first()


def cohort_for_start(user, lab_slug: str, cohort: Cohort | None = None) -> Cohort | None:
    """The cohort a new session of the student belongs to; StartRefused outside every window.

    Without `cohort`, the student's cohorts for this lab decide: the newest open one, and when
    none is open the student is told when theirs opens (or that it closed). A student in no
    cohort for this lab starts freely.
    """
    if cohort is not None:
        if not cohort.students.filter(pk=user.pk).exists():
            raise StartRefused(f"You are not a student of {cohort.name}.")
        problem = cohort.window_problem()
        if problem:
            raise StartRefused(problem)
        return cohort
    cohorts = list(Cohort.objects.filter(students=user, lab_slug=lab_slug))
    if not cohorts:
        return None
    open_cohorts = [c for c in cohorts if c.is_open]
    if not open_cohorts:
        raise StartRefused(cohorts[0].window_problem())
    return open_cohorts[0]


def start_session(user, lab_slug: str, cohort: Cohort | None = None) -> tuple[LabSession, bool]:
    """The student's running session of this lab, or a new one being provisioned.

    A session still being cleaned up (ending) does not count: its cleanup goes
    on in the background while the student starts anew in a new namespace.
    A cohort's window is enforced (StartRefused) and its session length applies.
    """
    existing = running_session(user, lab_slug)
    if existing:
        return existing, False
    lab = load_lab(lab_slug)
    cohort = cohort_for_start(user, lab.slug, cohort)
    session = LabSession(user=user, lab_slug=lab.slug, cluster=Cluster.default(), cohort=cohort)
    session.namespace = namespace_for(user, session.id)
    minutes = (cohort.session_minutes if cohort and cohort.session_minutes else None) or lab.duration_minutes
    session.expires_at = timezone.now() + timedelta(minutes=minutes)
    session.progress = "Waiting for a worker to prepare your namespace"
    try:
        # The session, its history's first line and its provisioning task go together: a session saved
        # without its task would wait for a worker forever, and every later Start would return it.
        with transaction.atomic():
            session.save()
            session.record("start", f"Lab started on cluster {session.cluster.name}, namespace {session.namespace}")
            transaction.on_commit(lambda: provision_session.delay(str(session.id)))
    except IntegrityError:
        # A second click raced the first: the other request created it.
        return running_session(user, lab_slug), False
    return session, True
