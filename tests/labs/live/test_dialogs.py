"""An open object dialog follows its object over the session's socket (labs.live.dialogs)."""

import pytest
from asgiref.sync import sync_to_async

from clouds.models import ServiceBalancer
from clouds.watch import state
from labs.live.dialogs import parse_follow
from labs.notify import notify_session
from tests.labs.helpers import make_session
from tests.labs.live.test_consumer import connect_past_resync, pod, send_change


def deployment(paused=False, revision="2"):
    return {"metadata": {"name": "web", "namespace": "x", "uid": "d1",
                         "annotations": {"deployment.kubernetes.io/revision": revision}},
            "spec": {"replicas": 1, "paused": paused, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "nginx", "image": "nginx:1.28"}]}}},
            "status": {}}


def replicaset(name, revision, image):
    return {"metadata": {"name": name, "namespace": "x", "annotations": {"deployment.kubernetes.io/revision": revision},
                         "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": "d1", "controller": True}]},
            "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": "web"}},
                                                 "spec": {"containers": [{"name": "nginx", "image": image}]}}}}


async def dialog_message(socket) -> str:
    """The dialog's update: a message of its own, after the panel's."""
    panel = await socket.receive_from()
    assert 'id="object-text"' not in panel and 'id="object-dialog"' not in panel
    return await socket.receive_from()


@pytest.fixture
def lab(make_user):
    user = make_user("alice")
    session = make_session(user)
    state.clear_namespace(session.cluster_id, session.namespace)
    for kind, obj in (("pods", pod("web-1")), ("deployments", deployment()),
                      ("replicasets", replicaset("web-a", "1", "nginx:1.27")),
                      ("replicasets", replicaset("web-b", "2", "nginx:1.28"))):
        state.save_object(session.cluster_id, session.namespace, kind, obj)
    return user, session


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_it_redraws_the_open_dialog_when_its_object_changes(lab):
    user, session = lab
    socket = await connect_past_resync(session, user)
    await socket.send_to('{"follow": "pods/web-1", "view": "describe"}')
    await send_change(session, "pods", "web-1", pod("web-1", phase="Pending", ready=False))
    html = await dialog_message(socket)
    assert 'id="object-text"' in html and 'hx-swap-oob="true"' in html
    assert "ContainerCreating" in html  # the dialog's text now says what the pod does
    # An event about the pod redraws it too (describe lists the object's events).
    await send_change(session, "events", "web-1.1", {
        "metadata": {"name": "web-1.1"}, "type": "Warning", "reason": "BackOff", "message": "Back-off pulling",
        "involvedObject": {"kind": "Pod", "name": "web-1"}, "lastTimestamp": "2025-01-01T00:00:00Z"})
    html = await dialog_message(socket)
    assert 'id="object-text"' in html and "Back-off pulling" in html
    # Closed: the next change redraws the row only.
    await socket.send_to('{"follow": ""}')
    await send_change(session, "pods", "web-1", pod("web-1"))
    assert 'id="pod-web-1"' in await socket.receive_from()
    assert await socket.receive_nothing(timeout=0.5)
    await socket.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_it_replaces_the_dialog_of_a_deleted_object(lab):
    user, session = lab
    socket = await connect_past_resync(session, user)
    await socket.send_to('{"follow": "pods/web-1", "view": "logs"}')
    await send_change(session, "pods", "web-1", None)
    html = await dialog_message(socket)
    assert 'id="object-dialog" hx-swap-oob="innerHTML"' in html
    assert "pod/web-1 was deleted." in html
    # A page back from a reconnect follows an object deleted meanwhile: told at once.
    await socket.send_to('{"follow": "pods/web-0", "view": "describe"}')
    assert "pod/web-0 was deleted." in await socket.receive_from()
    await socket.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_it_follows_a_deployments_rollout_controls(lab, make_user):
    user, session = lab
    socket = await connect_past_resync(session, user)
    await socket.send_to('{"follow": "deployments/web", "view": "describe"}')
    await send_change(session, "deployments", "web", deployment(paused=True))
    html = await dialog_message(socket)
    assert 'id="object-rollout"' in html and ">Resume</button>" in html
    assert '<option value="1">revision 1: nginx:1.27</option>' in html
    await socket.disconnect()
    # An instructor's dialog follows too, without the controls.
    teacher = await sync_to_async(make_user)("teacher", is_superuser=True)
    socket = await connect_past_resync(session, teacher)
    await socket.send_to('{"follow": "deployments/web", "view": "describe"}')
    await send_change(session, "deployments", "web", deployment(paused=False))
    html = await dialog_message(socket)
    assert 'id="object-text"' in html and 'id="object-rollout"' not in html
    await socket.disconnect()


@pytest.mark.parametrize("message", ['{"follow": "secrets/x"}', '{"follow": "pods/../x"}', '{"follow": "pods/x",'
                                     ' "view": "shell"}', "not json {\"follow\"", '["follow"]', '{"follow": 5}'])
def test_it_follows_nothing_it_does_not_know(message):
    assert parse_follow(message) is None


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_services_dialog_follows_its_cloud_balancer(lab):
    user, session = lab
    await sync_to_async(state.save_object)(session.cluster_id, session.namespace, "services", {
        "metadata": {"name": "web", "namespace": "x"},
        "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]}, "status": {}})
    socket = await connect_past_resync(session, user)
    await socket.send_to('{"follow": "services/web", "view": "describe"}')
    await sync_to_async(ServiceBalancer.objects.create)(
        cluster=session.cluster, namespace=session.namespace, service="web", provider="octavia",
        name="kube_service_x_web", steps=[{"step": "pool"}])
    await sync_to_async(notify_session)(session.id, "balancer")
    html = await dialog_message(socket)
    assert "Cloud Load Balancer:" in html and "Building (last step: pool)" in html
    await socket.disconnect()
