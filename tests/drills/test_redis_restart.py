"""Drill: Redis (broker, channel layer and observed state) restarts under an open lab page.

Redis runs as production should run it, keeping its data in an append-only file (written every
second and at shutdown). What the drill shows:
- a task queued just before the restart runs after it (a Redis without persistence loses it);
- the open WebSocket is not dropped: the web process's channel layer connects again by itself and
  the page hears the changes made after the restart, without a reload;
- a socket that connects again (a reload, a new tab) is resynchronised with the present."""

import asyncio

import pytest
import websockets

from clouds.models import Cluster
from labs.content_loader import load_lab
from labs.lifecycle import provision_session
from labs.models import ManifestRevision
from labs.revisions.submit import submit_revision
from tests.drills.conftest import wait_until
from tests.labs.helpers import make_session
from tests.liveops.test_several_web_processes import receive_until, session_cookie
from tests.services import restart_redis

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_keeps_queued_tasks_and_open_pages_across_a_redis_restart(
        product, drill_redis, drill_sandbox, make_user, client):
    cluster = Cluster.objects.create(name="drill-redis", kubeconfig_path=drill_sandbox.kubeconfig, is_default=True)
    student = make_user("redisrestart")
    session = make_session(student, cluster=cluster, state="provisioning")
    provision_session.run(str(session.id))
    session.refresh_from_db()
    assert session.state == "ready", session.error
    cookie = session_cookie(client, student)
    _, port = product.web()
    url = f"ws://127.0.0.1:{port}/ws/sessions/{session.id}/"
    headers = {"Cookie": f"sessionid={cookie}", "Origin": f"http://127.0.0.1:{port}"}
    lab = load_lab("loadbalancer")

    async def scenario():
        async with websockets.connect(url, additional_headers=headers) as ws:
            await receive_until(ws, 'id="session-status"')  # the first resync
            # No worker yet: the apply waits in the queue while Redis restarts.
            revision = await asyncio.to_thread(submit_revision, session, lab.example("Deployment"), False)
            await asyncio.to_thread(lambda: drill_redis.update(service=restart_redis(
                drill_redis["service"], drill_redis["url"], drill_redis["data_dir"])))
            await asyncio.to_thread(product.worker, "after-restart")
            applied = await asyncio.to_thread(wait_until, lambda: ManifestRevision.objects.filter(
                pk=revision.pk, status="applied").first(), 60, 0.1, "the queued apply to run after the restart")
            # The page hears it on the socket it had before the restart.
            frame = await receive_until(ws, "Applied: Deployment lb-test created", timeout=30)
        async with websockets.connect(url, additional_headers=headers) as again:
            resync = await receive_until(again, 'id="session-status"')
        return applied, frame, resync

    applied, frame, resync = asyncio.run(scenario())
    assert applied.message.startswith("Applied: Deployment lb-test created")
    assert f"Revision {applied.number}" in frame
    assert f"Revision {applied.number}" in resync and "Applied: Deployment lb-test created" in resync
