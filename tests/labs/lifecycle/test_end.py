"""Ending a lab on the real sandbox cluster when something holds its objects (finalizers)."""

import pytest
from kubernetes import client

from clouds.models import Cluster
from labs.lifecycle import end_session, namespace, provision_session, start_session, teardown_session
from labs.lifecycle.expire import cleanups_to_retry
from labs.models import LabSession
from tests.labs.helpers import make_session, wait_for
from tests.sandbox.conftest import start_sandbox, stop_sandbox

pytestmark = pytest.mark.django_db

LB_FINALIZER = "service.kubernetes.io/load-balancer-cleanup"


def _service(name, finalizers):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "finalizers": finalizers},
            "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]}}


def _ready_session(user, cluster):
    session = make_session(user, cluster=cluster, state="provisioning")
    provision_session.run(str(session.id))
    session.refresh_from_db()
    assert session.state == "ready", session.error
    return session


def _end(session):
    from unittest import mock

    with mock.patch("labs.lifecycle.end.teardown_session.delay"):
        assert end_session(session)
    teardown_session.run(str(session.id))
    session.refresh_from_db()
    return session


def test_it_ends_a_lab_whose_service_carries_a_finalizer_no_controller_removes(sandbox, cluster, make_user):
    session = _ready_session(make_user(), cluster)
    core = client.CoreV1Api(sandbox.api_client())
    core.create_namespaced_service(session.namespace, _service("held", ["example.com/hold"]))
    session = _end(session)
    assert session.state == "ended", session.error
    assert session.log.filter(message__contains="Removed the finalizer example.com/hold").exists()
    assert sandbox.kubectl("get", "namespace", session.namespace, check=False).returncode != 0


def test_it_never_strips_the_load_balancer_finalizer_and_lets_the_student_start_anew(make_user, monkeypatch):
    """No controller releases this balancer (the sandbox leaves balancers to an outside controller):
    the cleanup gives up after its timeout, says why, is retried later, and the student can start again."""
    sb = start_sandbox(("--lb-provider", "external"))
    try:
        cluster = Cluster.objects.create(name="no-cloud-controller", kubeconfig_path=sb.kubeconfig, is_default=True)
        student = make_user()
        session = _ready_session(student, cluster)
        core = client.CoreV1Api(sb.api_client())
        core.create_namespaced_service(session.namespace, _service("web", [LB_FINALIZER, "example.com/hold"]))
        monkeypatch.setattr(namespace, "TEARDOWN_TIMEOUT", 2.0)

        session = _end(session)
        assert session.state == "ending"
        assert LB_FINALIZER in session.error and "retried" in session.error
        assert session.cleanup_attempts == 1 and session.cleanup_retry_at is not None
        assert session not in cleanups_to_retry()  # not before its retry time
        held = core.read_namespaced_service("web", session.namespace)
        assert held.metadata.finalizers == [LB_FINALIZER]  # the unknown one went; the balancer's stays

        again, created = start_session(student, "loadbalancer")
        assert created and again.pk != session.pk and again.namespace != session.namespace
        assert LabSession.objects.get(pk=session.pk).state == "ending"

        # Once the cloud controller releases the balancer, the retried cleanup finishes.
        core.patch_namespaced_service("web", session.namespace, {"metadata": {"finalizers": None}},
                                      _content_type="application/merge-patch+json")
        LabSession.objects.filter(pk=session.pk).update(error="")
        teardown_session.run(str(session.id))
        session.refresh_from_db()
        assert session.state == "ended", session.error
        wait_for(lambda: sb.kubectl("get", "namespace", session.namespace, check=False).returncode != 0,
                 message="the namespace to go")
    finally:
        stop_sandbox(sb)


def test_it_shows_the_admin_why_a_cleanup_is_stuck(client, make_user):
    from django.utils import timezone

    student = make_user("stuck-student")
    session = make_session(student, state="ending", error="Service web is still held by the finalizer x",
                           cleanup_attempts=3, cleanup_retry_at=timezone.now())
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    page = client.get("/admin/labs/labsession/")
    assert page.status_code == 200
    assert b"still held by the finalizer x" in page.content and b"cleanup attempt 3" in page.content
    detail = client.get(f"/admin/labs/labsession/{session.pk}/change/")
    assert b"still held by the finalizer x" in detail.content
