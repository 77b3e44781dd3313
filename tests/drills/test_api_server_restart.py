"""Drill: the cluster's API server restarts (every connection cut, watches included; the port refuses
connections for a while; then the same objects are served again, resourceVersions going on). The
watcher lists again and follows on: a change made after the restart reaches the session's channel
group (what every open page of the session receives) and the observed state, within seconds."""

import asyncio

import pytest
import yaml
from channels.layers import get_channel_layer
from kubernetes import client

from clouds.models import Cluster
from clouds.watch import state as observed
from labs.lifecycle import provision_session
from labs.notify import group_name
from tests import manifests
from tests.drills.conftest import wait_until
from tests.labs.helpers import make_session

pytestmark = pytest.mark.django_db(transaction=True)

DOWN = 2.0  # seconds the API server refuses connections


async def replicas_announced(layer, channel: str, deployment: str, replicas: int, timeout: float = 30.0) -> dict:
    """The first change of `deployment` with `replicas` the session's group hears."""
    async def hear():
        while True:
            message = await layer.receive(channel)
            obj = message.get("object") or {}
            if (message.get("type") == "object.changed" and message.get("name") == deployment
                    and (obj.get("spec") or {}).get("replicas") == replicas):
                return obj
    return await asyncio.wait_for(hear(), timeout)


def restarts(sandbox) -> int | None:
    """How many times the API server restarted; None while it refuses connections."""
    try:
        return sandbox.api_faults()["restarts"]
    except OSError:
        return None


def test_it_follows_the_cluster_again_after_the_api_server_restarts(product, drill_sandbox, make_user):
    cluster = Cluster.objects.create(name="drill-restart", kubeconfig_path=drill_sandbox.kubeconfig,
                                     is_default=True)
    session = make_session(make_user("restartwatch"), cluster=cluster, state="provisioning")
    provision_session.run(str(session.id))
    session.refresh_from_db()
    assert session.state == "ready", session.error
    watcher = product.watcher()
    watcher.wait_for_log("watching cluster drill-restart", timeout=90)
    api = drill_sandbox.kube()
    apps = client.AppsV1Api(api)

    def scale(replicas: int) -> str:
        body = {"spec": {"replicas": replicas}}
        return apps.patch_namespaced_deployment("lb-test", session.namespace, body).metadata.resource_version

    async def scenario():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(group_name(session.id), channel)
        try:
            await asyncio.to_thread(apps.create_namespaced_deployment, session.namespace,
                                    yaml.safe_load(manifests.DEPLOYMENT))
            await replicas_announced(layer, channel, "lb-test", 3)
            before = await asyncio.to_thread(scale, 2)
            await replicas_announced(layer, channel, "lb-test", 2)

            await asyncio.to_thread(drill_sandbox.restart_api, DOWN)
            await asyncio.to_thread(wait_until, lambda: restarts(drill_sandbox) == 1, DOWN + 30, 0.2,
                                    "the API server to be back")
            after = await asyncio.to_thread(scale, 1)
            seen = await replicas_announced(layer, channel, "lb-test", 1)
            return before, after, seen
        finally:
            await layer.group_discard(group_name(session.id), channel)

    before, after, seen = asyncio.run(scenario())
    assert int(after) > int(before)  # resourceVersions went on: the data outlived the restart
    assert int(seen["metadata"]["resourceVersion"]) >= int(after)  # this change, or the state after it
    stored = observed.load_namespace(cluster.pk, session.namespace)
    assert stored["deployments"]["lb-test"]["spec"]["replicas"] == 1
    assert "retrying" in watcher.log()  # the watches were cut, and the watcher came back by itself
    api.close()
