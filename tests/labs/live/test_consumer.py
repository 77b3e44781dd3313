import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from django.contrib.auth.models import AnonymousUser

from clouds.watch import state
from labs.notify import notify_session
from labs.routing import websocket_urlpatterns
from tests.labs.helpers import make_session
from tests.labs.ws import WebsocketCommunicator

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


def pod(name, phase="Running", ready=True):
    return {
        "metadata": {"name": name, "namespace": "x", "creationTimestamp": "2025-01-01T00:00:00Z"},
        "spec": {"containers": [{"name": "nginx"}], "nodeName": "node-1"},
        "status": {"phase": phase, "podIP": "10.0.0.1", "containerStatuses": [
            {"name": "nginx", "ready": ready, "restartCount": 0,
             "state": {"running": {}} if ready else {"waiting": {"reason": "ContainerCreating"}}}]},
    }


async def connect(session, user):
    app = URLRouter(websocket_urlpatterns)
    communicator = WebsocketCommunicator(app, f"/ws/sessions/{session.id}/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def connect_past_resync(session, user):
    """A connected socket whose first message, the full resync, has been read."""
    communicator = await connect(session, user)
    await communicator.receive_from(timeout=5)
    return communicator


async def send_change(session, kind, name, obj):
    """What the watcher sends a session's group when an object changes (obj None: deleted)."""
    await get_channel_layer().group_send(session.group_name, {"type": "object.changed", "kind": kind, "name": name,
                                                              "object": obj})


@pytest.fixture
def alice_session(make_user):
    user = make_user("alice")
    session = make_session(user)
    state.clear_namespace(session.cluster_id, session.namespace)
    state.save_object(session.cluster_id, session.namespace, "pods", pod("web-1"))
    return user, session


async def test_it_sends_a_resync_on_connect(alice_session):
    user, session = alice_session
    communicator = await connect(session, user)
    html = await communicator.receive_from(timeout=5)
    for section in ("panel-pods", "panel-deployments", "panel-replicasets", "panel-services", "panel-events"):
        assert f'id="{section}"' in html
    assert 'id="pod-web-1"' in html
    assert ">Running<" in html
    for fragment in ("session-status", "checklist", "revisions", "dns-panel"):
        assert f'id="{fragment}"' in html
    await communicator.disconnect()


async def test_it_checks_owner(alice_session, make_user):
    _, session = alice_session
    bob = await sync_to_async(make_user)("bob")
    communicator = await connect(session, bob)
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4403}


async def test_it_refuses_a_session_that_does_not_exist(alice_session):
    import uuid

    user, session = alice_session
    app = URLRouter(websocket_urlpatterns)
    communicator = WebsocketCommunicator(app, f"/ws/sessions/{uuid.uuid4()}/")
    communicator.scope["user"] = user
    assert (await communicator.connect())[0]
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}


async def test_it_tells_a_refused_socket_nothing_of_the_session(alice_session, make_user):
    """Refused before it joins the session's group: the session's changes never reach it."""
    _, session = alice_session
    bob = await sync_to_async(make_user)("bob")
    communicator = await connect(session, bob)
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}
    await send_change(session, "pods", "web-2", pod("web-2"))
    await sync_to_async(notify_session)(session.id, "status")
    assert await communicator.receive_nothing(timeout=0.5)


async def test_it_refuses_anonymous_users(alice_session):
    _, session = alice_session
    communicator = await connect(session, AnonymousUser())
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4403}


async def test_it_sends_the_changed_row_out_of_band(alice_session):
    user, session = alice_session
    communicator = await connect_past_resync(session, user)
    await send_change(session, "pods", "web-1", pod("web-1", phase="Pending", ready=False))
    html = await communicator.receive_from(timeout=5)
    assert html.startswith('<tr id="pod-web-1"')
    assert 'hx-swap-oob="true"' in html
    assert "ContainerCreating" in html
    assert "panel-pods" not in html  # only the row

    # A new object redraws its table; a deletion removes the row.
    await send_change(session, "pods", "web-2", pod("web-2"))
    html = await communicator.receive_from(timeout=5)
    assert 'id="panel-pods"' in html and 'id="pod-web-1"' in html and 'id="pod-web-2"' in html
    await send_change(session, "pods", "web-1", None)
    html = await communicator.receive_from(timeout=5)
    assert '<tr id="pod-web-1" hx-swap-oob="delete">' in html
    assert '<span id="pods-count" class="count">1</span>' in html
    await communicator.disconnect()


async def test_it_redraws_the_service_row_when_endpoints_change(alice_session):
    user, session = alice_session
    svc = {"metadata": {"name": "web"}, "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.9",
                                                 "ports": [{"port": 80, "nodePort": 30080}]}, "status": {}}
    await sync_to_async(state.save_object)(session.cluster_id, session.namespace, "services", svc)
    communicator = await connect(session, user)
    assert "&lt;pending&gt;" in await communicator.receive_from(timeout=5)
    endpoints = {"metadata": {"name": "web"}, "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]}
    await send_change(session, "endpoints", "web", endpoints)
    html = await communicator.receive_from(timeout=5)
    assert html.startswith('<tr id="svc-web"')
    assert "10.0.0.1:80" in html
    await communicator.disconnect()


async def test_it_redraws_the_status_when_notified(alice_session):
    user, session = alice_session
    communicator = await connect_past_resync(session, user)
    await sync_to_async(type(session).objects.filter(pk=session.pk).update)(progress="Creating the quota")
    await sync_to_async(notify_session)(session.id, "status")
    html = await communicator.receive_from(timeout=5)
    assert html.startswith('<div id="session-status"')
    assert "Creating the quota" in html
    await communicator.disconnect()


async def test_it_resyncs_on_reconnect(alice_session):
    user, session = alice_session
    communicator = await connect_past_resync(session, user)
    await communicator.disconnect()
    # A change the socket missed while away is there after reconnecting.
    await sync_to_async(state.save_object)(session.cluster_id, session.namespace, "pods", pod("web-9"))
    communicator = await connect(session, user)
    assert 'id="pod-web-9"' in await communicator.receive_from(timeout=5)
    await communicator.disconnect()


async def test_it_shows_instructors_the_lab_without_the_students_controls(alice_session, make_user):
    from labs.models import Cohort

    user, session = alice_session
    teacher = await sync_to_async(make_user)("teacher")

    def teach():
        cohort = Cohort.objects.create(name="ws-cohort")
        cohort.students.add(user)
        cohort.instructors.add(teacher)

    await sync_to_async(teach)()
    communicator = await connect(session, teacher)
    html = await communicator.receive_from(timeout=5)
    assert 'id="pod-web-1"' in html and 'id="session-status"' in html
    assert "End lab" not in html and "dns-form" not in html
    owner = await connect(session, user)
    assert "End lab" in await owner.receive_from(timeout=5)
    await communicator.disconnect()
    await owner.disconnect()


async def test_it_throttles_resync_requests(alice_session):
    """A page that floods the socket with resyncs gets one more resync a moment later, not one per message."""
    from labs.live import consumer

    user, session = alice_session
    communicator = await connect_past_resync(session, user)
    for _ in range(50):
        await communicator.send_to(text_data='{"type": "resync"}')
    # The connect's resync was a moment ago: the flood gets exactly one deferred resync...
    message = await communicator.receive_from(timeout=consumer.RESYNC_INTERVAL + 3)
    assert 'id="panel-pods"' in message and 'id="pod-web-1"' in message
    # ...and nothing more.
    assert await communicator.receive_nothing(timeout=consumer.RESYNC_INTERVAL + 0.5)
    await communicator.disconnect()


async def test_it_follows_only_its_sessions_cluster(alice_session):
    """Two cluster rows may reach one API server: what the other cluster's watcher sees is not drawn."""
    user, session = alice_session
    communicator = await connect_past_resync(session, user)
    await get_channel_layer().group_send(session.group_name, {
        "type": "object.changed", "cluster": session.cluster_id + 1000, "kind": "pods", "name": "web-1",
        "object": None})
    assert await communicator.receive_nothing(timeout=0.5)
    await get_channel_layer().group_send(session.group_name, {
        "type": "object.changed", "cluster": session.cluster_id, "kind": "pods", "name": "web-1", "object": None})
    assert "No pods in the namespace" in await communicator.receive_from(timeout=5)
    await communicator.disconnect()
