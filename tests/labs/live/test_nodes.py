"""The cluster's nodes in the live view: kept from the shared watch, drawn once, sent to every lab page."""

import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from clouds.watch import Change
from labs.live import nodes, presenters
from labs.live.watching import node_changed, nodes_subscription
from tests.labs.helpers import make_session
from tests.labs.live.test_consumer import connect_past_resync


def node(name, ready="True", cpu="4", heartbeat="2025-01-01T00:00:00Z", **labels):
    return {
        "metadata": {"name": name, "creationTimestamp": "2025-01-01T00:00:00Z", "resourceVersion": heartbeat,
                     "labels": {"kubernetes.io/hostname": name, **labels}},
        "spec": {},
        "status": {"conditions": [{"type": "Ready", "status": ready, "reason": "KubeletReady",
                                   "lastHeartbeatTime": heartbeat}],
                   "capacity": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
                   "allocatable": {"cpu": cpu, "memory": "7Gi", "pods": "110"},
                   "images": [{"names": ["nginx:1.27"], "sizeBytes": 1}]},
    }


def test_it_presents_a_node_as_kubectl_get_nodes():
    row = presenters.present_node(node("n1", **{"node-role.kubernetes.io/control-plane": ""}))
    assert row["status"] == "Ready" and row["roles"] == "control-plane"
    assert (row["cpu"], row["memory"], row["pods"]) == ("4", "7Gi", "110")
    not_ready = node("n2", ready="False")
    not_ready["spec"]["unschedulable"] = True
    row = presenters.present_node(not_ready)
    assert row["status"] == "NotReady,SchedulingDisabled" and row["tone"] == "bad" and row["roles"] == "<none>"


@pytest.fixture
def cluster_id():
    cluster = f"test-{uuid.uuid4().hex[:8]}"
    yield cluster
    from clouds.watch import state

    state.client().delete(nodes._key(cluster))


def test_it_draws_a_node_change_once_and_only_when_it_shows(cluster_id):
    first = nodes.record_change(cluster_id, "n1", node("n1"))
    assert 'id="panel-nodes"' in first and 'id="no-n1"' in first and '<span id="nodes-count" class="count">1</span>' in first
    # A heartbeat changes nothing the page shows: nothing is sent.
    assert nodes.record_change(cluster_id, "n1", node("n1", heartbeat="2025-01-01T00:00:10Z")) == ""
    row = nodes.record_change(cluster_id, "n1", node("n1", ready="False"))
    assert row.startswith('<tr id="no-n1"') and 'hx-swap-oob="true"' in row and "NotReady" in row
    nodes.record_change(cluster_id, "n2", node("n2"))
    removal = nodes.record_change(cluster_id, "n1", None)
    assert '<tr id="no-n1" hx-swap-oob="delete">' in removal and '<span id="nodes-count" class="count">1</span>' in removal
    kept = nodes.load(cluster_id)
    assert list(kept) == ["n2"] and "images" not in kept["n2"]["status"]


def test_the_subscription_sends_one_message_per_cluster_not_per_session(cluster_id):
    assert nodes_subscription().namespace_label is None and nodes_subscription().kinds == ("nodes",)
    messages = node_changed(Change(cluster_id, "", "", "nodes", "n1", node("n1")))
    assert [group for group, _ in messages] == [nodes.group_name(cluster_id)]
    assert messages[0][1]["type"] == "node.changed" and 'id="no-n1"' in messages[0][1]["html"]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_node_change_reaches_the_lab_pages_of_its_cluster(make_user):
    user = await sync_to_async(make_user)("alice")
    session = await sync_to_async(make_session)(user)
    communicator = await connect_past_resync(session, user)
    group = nodes.group_name(session.cluster_id)
    await get_channel_layer().group_send(group, {"type": "node.changed", "cluster": "another", "html": "<tr id='x'>"})
    await get_channel_layer().group_send(group, {"type": "node.changed", "cluster": session.cluster_id,
                                                 "html": '<tr id="no-n1" hx-swap-oob="true"></tr>'})
    assert await communicator.receive_from(timeout=5) == '<tr id="no-n1" hx-swap-oob="true"></tr>'
    await communicator.disconnect()
