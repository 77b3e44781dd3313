"""Builders shared by the labs tests."""

from datetime import timedelta

from django.utils import timezone

from clouds.models import Cluster
from labs.models import LabSession

LAB = "loadbalancer"


def make_session(user, cluster=None, state=LabSession.State.READY, **extra) -> LabSession:
    cluster = cluster or Cluster.objects.get_or_create(name="test", defaults={"kubeconfig_path": "/nonexistent"})[0]
    extra.setdefault("expires_at", timezone.now() + timedelta(minutes=60))
    session = LabSession(user=user, lab_slug=LAB, cluster=cluster, state=state, **extra)
    session.namespace = f"lab-{user.username}-{session.id.hex[:8]}"
    session.save()
    return session
