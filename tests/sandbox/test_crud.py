"""Create, read, list, replace and delete through the official client."""

import json
import urllib.request

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException


def configmap(name, labels=None, data=None):
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels or {}}, "data": data or {"k": "v"}}


@pytest.fixture
def core(sandbox):
    with sandbox.api_client() as api:
        yield client.CoreV1Api(api)


def test_it_creates_gets_and_lists(core, namespace):
    created = core.create_namespaced_config_map(namespace, configmap("one", {"app": "a", "tier": "web"}))
    core.create_namespaced_config_map(namespace, configmap("two", {"app": "b"}))
    core.create_namespaced_config_map(namespace, configmap("three"))
    assert created.metadata.uid and created.metadata.resource_version
    got = core.read_namespaced_config_map("one", namespace)
    assert got.data == {"k": "v"} and got.metadata.uid == created.metadata.uid
    listed = core.list_namespaced_config_map(namespace)
    assert sorted(i.metadata.name for i in listed.items) == ["one", "three", "two"]
    assert int(listed.metadata.resource_version) >= int(created.metadata.resource_version)


def test_it_filters_by_label_and_field_selectors(core, namespace):
    for name, labels in [("a", {"app": "x", "env": "prod"}), ("b", {"app": "y"}), ("c", {"env": "dev"})]:
        core.create_namespaced_config_map(namespace, configmap(name, labels))

    def names(**kw):
        return sorted(i.metadata.name for i in core.list_namespaced_config_map(namespace, **kw).items)

    assert names(label_selector="app=x") == ["a"]
    assert names(label_selector="app in (x,y)") == ["a", "b"]
    assert names(label_selector="app notin (x)") == ["b", "c"]
    assert names(label_selector="env,app!=y") == ["a", "c"]
    assert names(label_selector="!app") == ["c"]
    assert names(field_selector="metadata.name=b") == ["b"]
    assert names(field_selector="metadata.name!=b") == ["a", "c"]
    everywhere = core.list_config_map_for_all_namespaces(field_selector=f"metadata.namespace={namespace}")
    assert sorted(i.metadata.name for i in everywhere.items) == ["a", "b", "c"]


def test_it_pages_with_limit_and_continue(core, namespace):
    for i in range(5):
        core.create_namespaced_config_map(namespace, configmap(f"cm-{i}"))
    first = core.list_namespaced_config_map(namespace, limit=2)
    assert [i.metadata.name for i in first.items] == ["cm-0", "cm-1"]
    assert first.metadata._continue and first.metadata.remaining_item_count == 3
    second = core.list_namespaced_config_map(namespace, limit=2, _continue=first.metadata._continue)
    assert [i.metadata.name for i in second.items] == ["cm-2", "cm-3"]
    third = core.list_namespaced_config_map(namespace, limit=2, _continue=second.metadata._continue)
    assert [i.metadata.name for i in third.items] == ["cm-4"] and not third.metadata._continue


def test_it_generates_names(core, namespace):
    body = configmap("")
    body["metadata"] = {"generateName": "gen-"}
    created = core.create_namespaced_config_map(namespace, body)
    assert created.metadata.name.startswith("gen-") and len(created.metadata.name) == 9


def test_it_refuses_duplicates_and_missing_objects(core, namespace):
    core.create_namespaced_config_map(namespace, configmap("dup"))
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map(namespace, configmap("dup"))
    assert e.value.status == 409 and json.loads(e.value.body)["reason"] == "AlreadyExists"
    with pytest.raises(ApiException) as e:
        core.read_namespaced_config_map("nope", namespace)
    body = json.loads(e.value.body)
    assert e.value.status == 404 and body["reason"] == "NotFound" and body["kind"] == "Status"


def test_it_answers_a_stale_replace_with_409(core, namespace):
    cm = core.create_namespaced_config_map(namespace, configmap("rv"))
    cm.data = {"k": "new"}
    updated = core.replace_namespaced_config_map("rv", namespace, cm)
    assert updated.data == {"k": "new"}
    assert int(updated.metadata.resource_version) > int(cm.metadata.resource_version)
    cm.data = {"k": "stale"}  # still carries the old resourceVersion
    with pytest.raises(ApiException) as e:
        core.replace_namespaced_config_map("rv", namespace, cm)
    assert e.value.status == 409 and json.loads(e.value.body)["reason"] == "Conflict"
    assert core.read_namespaced_config_map("rv", namespace).data == {"k": "new"}


def test_it_stores_nothing_on_dry_run(core, namespace):
    dry = core.create_namespaced_config_map(namespace, configmap("dry"), dry_run="All")
    assert dry.metadata.name == "dry"
    with pytest.raises(ApiException) as e:
        core.read_namespaced_config_map("dry", namespace)
    assert e.value.status == 404
    core.create_namespaced_config_map(namespace, configmap("real"))
    core.patch_namespaced_config_map("real", namespace, {"data": {"k": "dry"}}, dry_run="All")
    core.delete_namespaced_config_map("real", namespace, dry_run="All")
    assert core.read_namespaced_config_map("real", namespace).data == {"k": "v"}


def test_it_deletes_and_deletes_collections(core, namespace):
    for name, app in [("d1", "x"), ("d2", "x"), ("d3", "y")]:
        core.create_namespaced_config_map(namespace, configmap(name, {"app": app}))
    core.delete_namespaced_config_map("d3", namespace)
    core.delete_collection_namespaced_config_map(namespace, label_selector="app=x")
    assert core.list_namespaced_config_map(namespace).items == []


def test_it_garbage_collects_dependents(sandbox, core, namespace):
    owner = core.create_namespaced_config_map(namespace, configmap("owner"))
    dependent = configmap("dependent")
    dependent["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
                                                  "uid": owner.metadata.uid}]
    core.create_namespaced_config_map(namespace, dependent)
    core.delete_namespaced_config_map("owner", namespace, propagation_policy="Foreground")
    assert core.list_namespaced_config_map(namespace).items == []


def test_it_refuses_requests_without_the_token(sandbox):
    with pytest.raises(urllib.request.HTTPError) as e:
        urllib.request.urlopen(f"{sandbox.url}/api/v1/namespaces", timeout=5)
    assert e.value.code == 401
    assert json.loads(e.value.read())["reason"] == "Unauthorized"
    req = urllib.request.Request(f"{sandbox.url}/api/v1/namespaces",
                                 headers={"Authorization": f"Bearer {sandbox.token}"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        names = [n["metadata"]["name"] for n in json.loads(resp.read())["items"]]
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= set(names)
