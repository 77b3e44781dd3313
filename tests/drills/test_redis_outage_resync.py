"""Drill: what changed while Redis was away reaches the pages that stayed open through the outage.

While Redis is down, the messages that tell open pages to redraw are lost: a raised hand's (to the lab
page and to the instructor's dashboard) and the cluster change the watcher could not keep. The pages'
WebSockets to the web process stay open all along (the channel layer reconnects by itself), so nothing
would ever tell them; the web process notices that Redis came back and resyncs its open sockets
(labs.live.redis_watch)."""

import asyncio
import re

import pytest
import websockets
import yaml
from django.test import Client
from django.urls import reverse
from kubernetes import client as k8s

from clouds.kube.connect import new_api_client
from clouds.models import Cluster
from clouds.watch import state as observed
from labs.content_loader import load_lab
from labs.lifecycle import provision_session
from labs.models import HelpRequest
from tests.drills.conftest import wait_until
from tests.liveops.test_several_web_processes import session_cookie
from tests.services import start_redis
from tests.teaching.helpers import cohort_session, make_cohort

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "Why does my Service stay pending?"
DEPLOYMENT = "lb-test"


def shown_ready(html: str) -> str | None:
    """The READY column of the Deployment's row in a frame ("2/2"), if the frame draws that row."""
    found = re.search(rf'<tr id="deploy-{DEPLOYMENT}"[^>]*>\s*<td>.*?</td>\s*<td>([^<]*)</td>', html, re.S)
    return found.group(1) if found else None


async def receive_until_all(ws, wanted: dict, timeout: float) -> dict:
    """Frames until each predicate of `wanted` (name -> frame -> bool) held for some frame: -> name -> frame."""
    seen: dict = {}

    async def read():
        while len(seen) < len(wanted):
            frame = await ws.recv()
            seen.update({name: frame for name, holds in wanted.items() if name not in seen and holds(frame)})

    try:
        await asyncio.wait_for(read(), timeout)
    except TimeoutError:
        raise AssertionError(f"the open page never showed {sorted(set(wanted) - set(seen))}") from None
    return seen


def test_an_open_page_catches_up_on_what_changed_while_redis_was_away(
        product, drill_redis, drill_sandbox, make_user, client):
    cluster = Cluster.objects.create(name="drill-redis-away", kubeconfig_path=drill_sandbox.kubeconfig,
                                     is_default=True)
    cohort, teacher, (student,) = make_cohort(make_user, students=("awaystudent",), teacher="awayteacher")
    session = cohort_session(cohort, student, cluster=cluster, state="provisioning")
    provision_session.run(str(session.id))
    session.refresh_from_db()
    assert session.state == "ready", session.error
    with open(drill_sandbox.kubeconfig) as f:
        apps = k8s.AppsV1Api(new_api_client(yaml.safe_load(f), None))
    deployment = yaml.safe_load(load_lab("loadbalancer").example("Deployment"))
    deployment["spec"]["replicas"] = 1
    apps.create_namespaced_deployment(session.namespace, deployment)
    watcher = product.watcher()
    _, port = product.web()
    wait_until(lambda: ((observed.load_object(cluster.pk, session.namespace, "deployments", DEPLOYMENT) or {})
                        .get("status", {}).get("readyReplicas")), 60, 0.1, "the Deployment ready, as observed")
    origin = f"http://127.0.0.1:{port}"
    page = (f"ws://127.0.0.1:{port}/ws/sessions/{session.id}/",
            {"Cookie": f"sessionid={session_cookie(client, student)}", "Origin": origin})
    dashboard = (f"ws://127.0.0.1:{port}/ws/teaching/cohorts/{cohort.pk}/",
                 {"Cookie": f"sessionid={session_cookie(Client(), teacher)}", "Origin": origin})

    async def scenario():
        async with (websockets.connect(page[0], additional_headers=page[1]) as ws,
                    websockets.connect(dashboard[0], additional_headers=dashboard[1]) as board):
            first = await receive_until_all(ws, {"resync": lambda f: 'id="session-status"' in f}, 30)
            await receive_until_all(board, {"dashboard": lambda f: 'id="help-requests"' in f}, 30)
            await asyncio.to_thread(drill_redis["service"].stop)
            # Redis is down: the watcher hears the scale but cannot keep or publish it...
            await asyncio.to_thread(apps.patch_namespaced_deployment_scale, DEPLOYMENT, session.namespace,
                                    {"spec": {"replicas": 2}})
            await asyncio.to_thread(watcher.wait_for_log, "deployments: ConnectionError", 30)
            # ... and the student's raised hand is saved, its "redraw" lost.
            raised = await asyncio.to_thread(client.post, reverse("labs:raise_hand", args=[session.id]),
                                             {"question": QUESTION})
            assert raised.status_code == 200
            assert await asyncio.to_thread(HelpRequest.objects.filter(session=session, question=QUESTION).exists)
            drill_redis["service"] = await asyncio.to_thread(
                lambda: start_redis(int(drill_redis["url"].rsplit(":", 1)[1].split("/")[0]), drill_redis["data_dir"])[0])
            # The same sockets, never reconnected, are sent the present.
            await asyncio.gather(
                receive_until_all(ws, {"hand": lambda f: QUESTION in f, "scaled": lambda f: shown_ready(f) == "2/2"}, 30),
                receive_until_all(board, {"hand": lambda f: QUESTION in f}, 30))
        return first["resync"]

    first = asyncio.run(scenario())
    assert shown_ready(first) == "1/1" and QUESTION not in first
