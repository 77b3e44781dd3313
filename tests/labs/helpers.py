"""Builders shared by the labs tests."""

from datetime import timedelta
from functools import partial

from django.utils import timezone

from clouds.models import Cluster
from labs.models import Cohort, LabSession
from tests.sandbox.helpers import wait_for as _wait_for

LAB = "loadbalancer"

# The product's tests wait on the sandbox through Django, Redis and the watcher: allow them longer.
wait_for = partial(_wait_for, timeout=30.0, interval=0.2)


def make_session(user, cluster=None, state=LabSession.State.READY, **extra) -> LabSession:
    cluster = cluster or Cluster.objects.get_or_create(name="test", defaults={"kubeconfig_path": "/nonexistent"})[0]
    extra.setdefault("expires_at", timezone.now() + timedelta(minutes=60))
    session = LabSession(user=user, lab_slug=LAB, cluster=cluster, state=state, **extra)
    session.namespace = f"lab-{user.username}-{session.id.hex[:8]}"
    session.save()
    return session


def make_instructed_session(make_user):
    """A session of alice, a student of a cohort taught by teacher: -> (session, teacher)."""
    alice, teacher = make_user("alice"), make_user("teacher")
    cohort = Cohort.objects.create(name="c")
    cohort.students.add(alice)
    cohort.instructors.add(teacher)
    return make_session(alice), teacher


def tasks_queued(callbacks) -> list[str]:
    """The functions that registered `callbacks` (django_capture_on_commit_callbacks) other than the
    renewal of a session's version, which every change of a row its page shows also registers: what a
    test means by "the task is queued once the transaction committed"."""
    owners = [c.__qualname__.split(".")[0] for c in callbacks]
    return [owner for owner in owners if owner != "session_changed"]
