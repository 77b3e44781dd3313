import uuid

import pytest

from clouds.kube.objects import LAST_APPLIED, slim
from clouds.watch import state


@pytest.fixture
def cluster_id():
    # A fresh id per test keeps tests apart in the shared Redis.
    return f"t{uuid.uuid4().hex[:8]}"


def obj(name, namespace="ns1", **extra):
    return {"metadata": {"name": name, "namespace": namespace, **extra}, "spec": {"x": 1}}


def test_it_saves_and_loads_objects(cluster_id):
    state.save_object(cluster_id, "ns1", "pods", obj("a"))
    state.save_object(cluster_id, "ns1", "services", obj("web"))
    loaded = state.load_namespace(cluster_id, "ns1")
    assert set(loaded) == set(state.KINDS)
    assert loaded["pods"] == {"a": obj("a")}
    assert loaded["services"]["web"]["spec"] == {"x": 1}
    assert loaded["events"] == {}
    assert state.namespaces(cluster_id) == {"ns1"}


def test_it_loads_only_the_kinds_asked_for(cluster_id):
    state.save_object(cluster_id, "ns1", "pods", obj("a"))
    state.save_object(cluster_id, "ns1", "services", obj("web"))
    state.save_object(cluster_id, "ns1", "services", obj("web-2"))
    loaded = state.load_namespace(cluster_id, "ns1", kinds=("services", "nodes"))  # nodes: not namespaced
    assert set(loaded) == set(state.KINDS)
    assert set(loaded["services"]) == {"web", "web-2"} and loaded["pods"] == {}

def test_it_slims_objects():
    fat = obj("a", managedFields=[{"manager": "kubectl"}], annotations={
        LAST_APPLIED: "{...}", "keep": "me"})
    stored = slim(fat)
    assert "managedFields" not in stored["metadata"]
    assert stored["metadata"]["annotations"] == {"keep": "me"}
    assert fat["metadata"]["managedFields"]  # the input is left alone
    only = slim(obj("b", annotations={LAST_APPLIED: "{}"}))
    assert "annotations" not in only["metadata"]


def test_it_deletes_objects(cluster_id):
    state.save_object(cluster_id, "ns1", "pods", obj("a"))
    state.delete_object(cluster_id, "ns1", "pods", "a")
    assert state.load_namespace(cluster_id, "ns1")["pods"] == {}
    assert state.load_object(cluster_id, "ns1", "pods", "a") is None


def test_it_clears_a_namespace(cluster_id):
    state.save_object(cluster_id, "ns1", "pods", obj("a"))
    state.save_object(cluster_id, "ns2", "pods", obj("b", "ns2"))
    state.clear_namespace(cluster_id, "ns1")
    assert state.load_namespace(cluster_id, "ns1")["pods"] == {}
    assert state.load_namespace(cluster_id, "ns2")["pods"] == {"b": obj("b", "ns2")}
    assert state.namespaces(cluster_id) == {"ns2"}


def test_it_replaces_a_kind_and_reports_changes(cluster_id):
    state.save_object(cluster_id, "ns1", "pods", obj("old"))
    state.save_object(cluster_id, "ns1", "pods", obj("same"))
    state.save_object(cluster_id, "ns2", "pods", obj("gone", "ns2"))
    state.save_object(cluster_id, "ns1", "services", obj("svc"))
    changed = {**obj("same"), "spec": {"x": 2}}
    changes = state.replace_kind(cluster_id, "pods", {"ns1": [changed, obj("new")]})
    assert sorted((ns, name, o is not None) for ns, name, o in changes) == [
        ("ns1", "new", True), ("ns1", "old", False), ("ns1", "same", True), ("ns2", "gone", False)]
    assert set(state.load_namespace(cluster_id, "ns1")["pods"]) == {"same", "new"}
    assert state.load_namespace(cluster_id, "ns1")["services"] == {"svc": obj("svc")}  # other kinds untouched
    assert state.load_namespace(cluster_id, "ns2")["pods"] == {}
    assert state.replace_kind(cluster_id, "pods", {"ns1": [changed, obj("new")]}) == []


def test_it_limits_a_replace_to_some_namespaces(cluster_id):
    state.save_object(cluster_id, "ns1", "pods", obj("a"))
    state.save_object(cluster_id, "ns2", "pods", obj("b", "ns2"))
    state.replace_kind(cluster_id, "pods", {"ns1": []}, only={"ns1"})
    assert state.load_namespace(cluster_id, "ns1")["pods"] == {}
    assert set(state.load_namespace(cluster_id, "ns2")["pods"]) == {"b"}


def test_it_refuses_unknown_kinds(cluster_id):
    with pytest.raises(ValueError):
        state.save_object(cluster_id, "ns1", "secrets", obj("a"))
