"""The live panel's rollout actions (pause, resume, roll back) and the dialogs that offer them."""


import pytest

from clouds.models import ServiceBalancer
from clouds.watch import state as live_state
from labs.live import actions as object_tasks
from labs.models import LabSession
from tests.labs.helpers import make_session, wait_for
from tests.labs.views.test_objects import get, lab, url  # noqa: F401 (lab is a fixture)

pytestmark = pytest.mark.django_db


def observe(sandbox, session, kind, *args):
    """Put the cluster's objects in the observed state, as the watcher does."""
    for obj in get(sandbox, session.namespace, kind, *args).get("items") or []:
        live_state.save_object(session.cluster_id, session.namespace, kind, obj)


@pytest.fixture
def two_revisions(sandbox, lab):
    user, session, _ = lab
    sandbox.kubectl("-n", session.namespace, "set", "image", "deployment/web", "nginx=nginx:1.28")
    wait_for(lambda: len(get(sandbox, session.namespace, "replicasets")["items"]) == 2, message="revision 2")
    wait_for(lambda: get(sandbox, session.namespace, "deployment", "web")["metadata"]["annotations"].get(
        "deployment.kubernetes.io/revision") == "2", message="the Deployment at revision 2")
    observe(sandbox, session, "replicasets")
    observe(sandbox, session, "deployments")
    return user, session


@pytest.fixture
def queued(monkeypatch):
    """What the views queue, kept here to be run as the worker would."""
    calls = []
    for task in (object_tasks.pause_deployment, object_tasks.resume_deployment, object_tasks.rollback_deployment):
        monkeypatch.setattr(task, "delay", lambda *args, task=task: calls.append((task, args)))
    return calls


def test_it_offers_pause_and_earlier_revisions(client, two_revisions):
    user, session = two_revisions
    client.force_login(user)
    body = client.get(url("object_describe", session, "deployments", "web")).content.decode()
    assert url("object_pause", session, "web") in body and ">Pause</button>" in body
    assert '<option value="1">revision 1: nginx:1.27</option>' in body
    assert "revision 2: nginx:1.28" not in body  # the current one is not offered
    assert "NewReplicaSet:" in body and "revision 2)" in body


def test_it_pauses_resumes_and_rolls_back(client, sandbox, two_revisions, queued):
    user, session = two_revisions
    client.force_login(user)
    r = client.post(url("object_pause", session, "web"))
    assert r.status_code == 202 and "Pausing deployment/web" in r.content.decode()
    r = client.post(url("object_resume", session, "web"))
    assert r.status_code == 202 and "Resuming deployment/web" in r.content.decode()
    r = client.post(url("object_rollback", session, "web"), {"revision": "1"})
    assert r.status_code == 202 and "Rolling deployment/web back to revision 1" in r.content.decode()
    assert [(task.name, args) for task, args in queued] == [
        ("labs.object_tasks.pause_deployment", (str(session.id), "web")),
        ("labs.object_tasks.resume_deployment", (str(session.id), "web")),
        ("labs.object_tasks.rollback_deployment", (str(session.id), "web", 1))]
    for task, args in queued:
        assert task.run(*args)["ok"]
    deploy = get(sandbox, session.namespace, "deployment", "web")
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert deploy["spec"].get("paused") is False


def test_it_explains_a_rollback_it_cannot_do(client, sandbox, two_revisions, queued):
    user, session = two_revisions
    client.force_login(user)
    for value in ("", "one", "0", "-1", "1.5", "١"):
        r = client.post(url("object_rollback", session, "web"), {"revision": value})
        assert r.status_code == 400 and "Choose the revision to roll back to" in r.content.decode()
    r = client.post(url("object_rollback", session, "web"), {"revision": "9"})
    assert r.status_code == 400 and "deployment/web has no revision 9 (its revisions: 1, 2)." in r.content.decode()
    paused = get(sandbox, session.namespace, "deployment", "web")
    paused["spec"]["paused"] = True
    live_state.save_object(session.cluster_id, session.namespace, "deployments", paused)
    r = client.post(url("object_rollback", session, "web"), {"revision": "1"})
    assert r.status_code == 400 and "deployment/web is paused: resume it first" in r.content.decode()
    assert queued == []


def test_it_describes_a_services_cloud_balancer(client, lab):
    user, session, _ = lab
    ServiceBalancer.objects.create(
        cluster=session.cluster, namespace=session.namespace, service="web", provider="octavia",
        name="kube_service_sandbox_x_web", state=ServiceBalancer.State.FAILED, cause="quota",
        error="The project has no floating IP left.", steps=[{"step": "listener", "at": "2025-01-01T00:00:00Z"}])
    client.force_login(user)
    body = client.get(url("object_describe", session, "services", "web")).content.decode()
    assert "Cloud Load Balancer:" in body
    assert "kube_service_sandbox_x_web" in body
    assert "Failed (last step: listener)" in body
    assert "The project has no floating IP left." in body
    assert "LoadBalancer Ingress:" in body and "Events:" in body


def test_it_checks_owner(client, make_user, queued):
    session = make_session(make_user("alice"))
    bob = make_user("bob")
    ended = make_session(bob, state=LabSession.State.ENDED)
    client.force_login(bob)
    for name, data in (("object_pause", {}), ("object_resume", {}), ("object_rollback", {"revision": "1"})):
        assert client.post(url(name, session, "web"), data).status_code == 404
        r = client.post(url(name, ended, "web"), data)
        assert r.status_code == 409 and "nothing can be changed" in r.content.decode()
    assert queued == []
