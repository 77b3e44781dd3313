"""The scheduler: node selectors, node affinity, requests against allocatable, and the
FailedScheduling event a real kube-scheduler writes when no node fits. Through the
kubernetes client only."""

from __future__ import annotations

import random

import pytest
from kubernetes import client

from .helpers import wait_for

NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
AFFINITY = "node(s) didn't match Pod's node affinity/selector"


@pytest.fixture
def core(sandbox):
    with sandbox.api_client() as api:
        yield client.CoreV1Api(api)


def pod_body(name, cpu=None, memory=None, node_selector=None, affinity=None, image="nginx:latest"):
    container = {"name": "web", "image": image}
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    if requests:
        container["resources"] = {"requests": requests}
    spec = {"containers": [container]}
    if node_selector:
        spec["nodeSelector"] = node_selector
    if affinity:
        spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": affinity}}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}}, "spec": spec}


def node_names(core) -> list[str]:
    return sorted(n.metadata.name for n in core.list_node().items)


def scheduled_condition(core, namespace, name):
    pod = core.read_namespaced_pod(name, namespace)
    return next((c for c in pod.status.conditions or [] if c.type == "PodScheduled"), None)


def wait_unschedulable(core, namespace, name):
    def check():
        cond = scheduled_condition(core, namespace, name)
        return cond if cond is not None and cond.status == "False" else None

    return wait_for(check, timeout=30, message=f"{name} to be unschedulable")


def wait_bound(core, namespace, name) -> str:
    return wait_for(lambda: core.read_namespaced_pod(name, namespace).spec.node_name, timeout=30,
                    message=f"{name} to be bound")


def failed_scheduling(core, namespace, name) -> list[str]:
    events = core.list_namespaced_event(namespace).items
    return [e.message for e in events if e.involved_object.name == name and e.reason == "FailedScheduling"
            and e.type == "Warning" and e.source.component == "default-scheduler"]


def test_it_reports_realistic_nodes(core):
    nodes = core.list_node().items
    assert len(nodes) >= 3
    zones = set()
    for node in nodes:
        labels = node.metadata.labels
        assert labels["kubernetes.io/hostname"] == node.metadata.name
        assert labels["kubernetes.io/os"] == "linux"
        assert labels["topology.kubernetes.io/region"]
        zones.add(labels["topology.kubernetes.io/zone"])
        capacity, allocatable = node.status.capacity, node.status.allocatable
        assert capacity["cpu"] == "8" and allocatable["cpu"] == "7910m"
        assert allocatable["memory"] != capacity["memory"] and allocatable["memory"].endswith("Ki")
        assert allocatable["pods"] == "110"
    assert len(zones) == 3  # spread over zones, as a regional cluster's workers are


def test_it_leaves_a_pod_that_asks_for_more_cpu_than_any_node_has_pending(core, namespace):
    n = len(node_names(core))
    core.create_namespaced_pod(namespace, pod_body("huge", cpu="64"))

    cond = wait_unschedulable(core, namespace, "huge")
    expected = (f"0/{n} nodes are available: {n} Insufficient cpu. "
                f"preemption: 0/{n} nodes are available: {n} {NO_VICTIMS}.")
    assert cond.reason == "Unschedulable"
    assert cond.message == expected
    assert wait_for(lambda: failed_scheduling(core, namespace, "huge"), timeout=30) == [expected]
    pod = core.read_namespaced_pod("huge", namespace)
    assert pod.status.phase == "Pending" and pod.spec.node_name is None


def test_it_counts_every_resource_a_node_lacks(core, namespace):
    n = len(node_names(core))
    core.create_namespaced_pod(namespace, pod_body("greedy", cpu="64", memory="512Gi"))

    cond = wait_unschedulable(core, namespace, "greedy")
    assert cond.message == (f"0/{n} nodes are available: {n} Insufficient cpu, {n} Insufficient memory. "
                            f"preemption: 0/{n} nodes are available: {n} {NO_VICTIMS}.")


def test_it_places_a_pod_only_on_the_node_its_node_selector_names(core, namespace):
    target = node_names(core)[1]
    for i in range(3):
        core.create_namespaced_pod(namespace, pod_body(f"pinned-{i}",
                                                       node_selector={"kubernetes.io/hostname": target}))
    assert {wait_bound(core, namespace, f"pinned-{i}") for i in range(3)} == {target}


def test_it_leaves_a_pod_whose_node_selector_no_node_matches_pending(core, namespace):
    n = len(node_names(core))
    core.create_namespaced_pod(namespace, pod_body("picky", node_selector={"disktype": "ssd"}))

    cond = wait_unschedulable(core, namespace, "picky")
    expected = f"0/{n} nodes are available: {n} {AFFINITY}. preemption: 0/{n} nodes are available: {n} {NOT_HELPFUL}."
    assert cond.message == expected
    assert wait_for(lambda: failed_scheduling(core, namespace, "picky"), timeout=30) == [expected]


def test_it_names_each_nodes_reason_when_they_differ(core, namespace):
    names = node_names(core)
    n = len(names)
    core.create_namespaced_pod(namespace, pod_body("pinned-huge", cpu="64",
                                                   node_selector={"kubernetes.io/hostname": names[0]}))

    cond = wait_unschedulable(core, namespace, "pinned-huge")
    assert cond.message == (f"0/{n} nodes are available: 1 Insufficient cpu, {n - 1} {AFFINITY}. "
                            f"preemption: 0/{n} nodes are available: 1 {NO_VICTIMS}, {n - 1} {NOT_HELPFUL}.")


def test_it_honours_required_node_affinity(core, namespace):
    zones = {n.metadata.name: n.metadata.labels["topology.kubernetes.io/zone"] for n in core.list_node().items}
    names = sorted(zones)
    zone = zones[names[1]]

    def expr(key, operator, *values):
        return {"key": key, "operator": operator, **({"values": list(values)} if values else {})}

    cases = {
        "in-zone": ([{"matchExpressions": [expr("topology.kubernetes.io/zone", "In", zone)]}],
                    {n for n, z in zones.items() if z == zone}),
        "not-in-zone": ([{"matchExpressions": [expr("topology.kubernetes.io/zone", "NotIn", zone),
                                               expr("kubernetes.io/os", "Exists")]}],
                        {n for n, z in zones.items() if z != zone}),
        "either-term": ([{"matchExpressions": [expr("kubernetes.io/hostname", "In", names[0])]},
                         {"matchExpressions": [expr("kubernetes.io/hostname", "In", names[2])]}],
                        {names[0], names[2]}),
    }
    for case, (terms, _) in cases.items():
        for i in range(2):
            core.create_namespaced_pod(namespace, pod_body(f"{case}-{i}", affinity=terms))
    for case, (_, allowed) in cases.items():
        for i in range(2):
            assert wait_bound(core, namespace, f"{case}-{i}") in allowed

    n = len(names)
    core.create_namespaced_pod(namespace, pod_body("nowhere", affinity=[
        {"matchExpressions": [expr("kubernetes.io/os", "DoesNotExist")]}]))
    cond = wait_unschedulable(core, namespace, "nowhere")
    assert cond.message == f"0/{n} nodes are available: {n} {AFFINITY}. preemption: 0/{n} nodes are available: " \
                           f"{n} {NOT_HELPFUL}."


def test_it_schedules_a_pending_pod_once_a_bound_pod_frees_room(core, namespace):
    node = node_names(core)[2]
    pin = {"kubernetes.io/hostname": node}
    # two pods of 5 cores cannot share one node of 7910m allocatable
    core.create_namespaced_pod(namespace, pod_body("first", cpu="5", node_selector=pin))
    assert wait_bound(core, namespace, "first") == node
    core.create_namespaced_pod(namespace, pod_body("second", cpu="5", node_selector=pin))
    cond = wait_unschedulable(core, namespace, "second")
    assert "1 Insufficient cpu" in cond.message

    core.delete_namespaced_pod("first", namespace)

    assert wait_bound(core, namespace, "second") == node
    cond = scheduled_condition(core, namespace, "second")
    assert cond.status == "True" and cond.reason is None and cond.message is None


def test_it_schedules_a_pending_pod_once_a_node_gets_the_label_it_selects(core, namespace):
    label = f"sandbox.test/pool-{random.randrange(10**6)}"
    core.create_namespaced_pod(namespace, pod_body("waiting", node_selector={label: "blue"}))
    wait_unschedulable(core, namespace, "waiting")
    node = node_names(core)[0]
    core.patch_node(node, {"metadata": {"labels": {label: "blue"}}})
    try:
        assert wait_bound(core, namespace, "waiting") == node
    finally:
        core.patch_node(node, {"metadata": {"labels": {label: None}}})


def test_it_never_runs_a_pod_bound_to_a_node_that_does_not_exist(core, namespace):
    lost = pod_body("lost")
    lost["spec"]["nodeName"] = "no-such-node"
    core.create_namespaced_pod(namespace, lost)
    # a pod created afterwards runs: the kubelets and the scheduler have seen both
    core.create_namespaced_pod(namespace, pod_body("found"))
    wait_for(lambda: core.read_namespaced_pod("found", namespace).status.phase == "Running", timeout=30,
             message="the other pod to run")
    pod = core.read_namespaced_pod("lost", namespace)
    assert pod.spec.node_name == "no-such-node"
    assert pod.status.phase == "Pending"
    assert not pod.status.pod_ip and not pod.status.host_ip and not pod.status.container_statuses
    assert not pod.status.conditions  # neither a scheduler nor a kubelet wrote one
    events = core.list_namespaced_event(namespace, field_selector="involvedObject.name=lost").items
    assert events == []
    # deleted, it goes (as the pod garbage collector removes pods of nodes that do not exist)
    core.delete_namespaced_pod("lost", namespace)
    wait_for(lambda: "lost" not in [p.metadata.name for p in core.list_namespaced_pod(namespace).items],
             timeout=30, message="the pod to go")
