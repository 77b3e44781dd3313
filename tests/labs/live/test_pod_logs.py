"""A pod's log followed live over its own socket (labs.live.pod_logs), against the sandbox."""

import asyncio
import json
import threading

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter

from labs.live.pod_logs import MAX_LINES, Budget
from labs.routing import websocket_urlpatterns
from tests.labs.helpers import make_session, wait_for
from tests.labs.ws import WebsocketCommunicator
from tests.sandbox.helpers import http_get

POD = """
apiVersion: v1
kind: Pod
metadata: {{name: web, namespace: {ns}, labels: {{app: web}}}}
spec:
  containers: [{{name: nginx, image: "nginx:1.27", ports: [{{containerPort: 80}}]}}]
"""


async def open_logs(session, user, pod="web", query=""):
    socket = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/sessions/{session.id}/pods/{pod}/logs/{query}")
    socket.scope["user"] = user
    connected, _ = await socket.connect()
    assert connected
    return socket


async def receive_until(socket, text, timeout=15):
    """Everything received up to the message holding `text`."""
    received = ""
    deadline = asyncio.get_running_loop().time() + timeout
    while text not in received:
        received += await socket.receive_from(timeout=max(0.1, deadline - asyncio.get_running_loop().time()))
    return received


@pytest.fixture
def running_pod(sandbox, cluster, make_user):
    session = make_session(make_user("alice"), cluster=cluster)
    ns = session.namespace
    sandbox.kubectl("create", "namespace", ns)
    sandbox.kubectl("apply", "-f", "-", input=POD.format(ns=ns))

    def ip():
        pod = json.loads(sandbox.kubectl("get", "pod", "web", "-n", ns, "-o", "json").stdout)
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])
        return ready and pod["status"]["podIP"]

    yield session, wait_for(ip, message="the pod serving")
    sandbox.kubectl("delete", "namespace", ns, "--wait=false", check=False)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_it_follows_a_pods_log_until_the_pod_goes(sandbox, running_pod):
    session, ip = running_pod
    socket = await open_logs(session, session.user, query="?lines=50")
    received = await receive_until(socket, "start worker processes")  # the pod's last lines
    assert 'id="object-log-text" hx-swap-oob="innerHTML"' in received
    assert "Following: new lines appear as pod/web writes them." in received

    await sync_to_async(http_get)(ip, 80, "/?followed-by-the-test")
    line = await receive_until(socket, "GET /?followed-by-the-test")
    assert 'hx-swap-oob="beforeend"' in line  # appended to what the dialog shows

    # The dialog closed (its socket with it): the request to the cluster ends.
    await socket.disconnect()
    await sync_to_async(wait_for)(lambda: not any(t.name == "pod-log-web" for t in threading.enumerate()),
                                  message="the log stream to end")

    socket = await open_logs(session, session.user, query="?lines=1")
    await receive_until(socket, "Following")
    await sync_to_async(sandbox.kubectl)("delete", "pod", "web", "-n", session.namespace, "--wait=false")
    assert "The log stream of pod/web ended" in await receive_until(socket, "ended", timeout=20)
    assert (await socket.receive_output(5))["type"] == "websocket.close"


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_it_checks_owner_and_names(make_user):
    session = await sync_to_async(make_session)(await sync_to_async(make_user)("alice"))
    bob = await sync_to_async(make_user)("bob")
    socket = await open_logs(session, bob)
    assert await socket.receive_output(5) == {"type": "websocket.close", "code": 4403}

    socket = await open_logs(session, session.user, pod="Web_1")
    assert "&#x27;Web_1&#x27; is not a valid pod name." in await socket.receive_from()
    socket = await open_logs(session, session.user, query="?container=../x")
    assert "&#x27;../x&#x27; is not a valid container name." in await socket.receive_from()
    socket = await open_logs(session, session.user)  # its cluster cannot be reached
    assert "Could not follow the logs of pod/web: the cluster is unavailable." in await socket.receive_from(10)


def test_it_caps_what_one_stream_sends():
    budget = Budget(lines=3, size=1000)
    assert budget.take("a\nb\n") == ("a\nb\n", False)
    assert budget.take("c\nd\ne\n") == ("c\n", True)
    budget = Budget(lines=MAX_LINES, size=10)
    assert budget.take("12345\n67890\n") == ("12345\n", True)
