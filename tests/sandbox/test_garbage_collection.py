"""The garbage collector: dependents go when their owners are gone, following ownerReferences
across kinds, with background and foreground propagation, and orphaning when asked. Through
the kubernetes client and kubectl only."""

from __future__ import annotations

import uuid

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from .helpers import get_json, wait_for

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: web, image: nginx}}]
"""


@pytest.fixture
def core(sandbox):
    with sandbox.api_client() as api:
        yield client.CoreV1Api(api)


@pytest.fixture
def apps(sandbox):
    with sandbox.api_client() as api:
        yield client.AppsV1Api(api)


def ref(obj, block=False, api_version=None, kind=None):
    out = {"apiVersion": api_version or obj.api_version, "kind": kind or obj.kind, "name": obj.metadata.name,
           "uid": obj.metadata.uid}
    if block:
        out["blockOwnerDeletion"] = True
    return out


def configmap(core, namespace, name, owners=(), finalizers=()):
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}
    if owners:
        body["metadata"]["ownerReferences"] = list(owners)
    if finalizers:
        body["metadata"]["finalizers"] = list(finalizers)
    return core.create_namespaced_config_map(namespace, body)


def deployment(sandbox, apps, namespace, name, replicas=0):
    sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=DEPLOYMENT.format(name=name, replicas=replicas))
    return apps.read_namespaced_deployment(name, namespace)


def names(core, namespace):
    return sorted(c.metadata.name for c in core.list_namespaced_config_map(namespace).items
                  if c.metadata.name != "kube-root-ca.crt")


def read(core, namespace, name):
    try:
        return core.read_namespaced_config_map(name, namespace)
    except ApiException as e:
        if e.status == 404:
            return None
        raise


def test_it_collects_dependents_whose_owners_are_already_gone(sandbox, core, apps, namespace):
    owner = deployment(sandbox, apps, namespace, "web")
    # a kind this server does not serve: the collector cannot look it up, so it leaves the object alone
    configmap(core, namespace, "foreign", [{"apiVersion": "example.com/v1", "kind": "Widget", "name": "w",
                                            "uid": str(uuid.uuid4())}])
    configmap(core, namespace, "never-existed", [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "ghost",
                                                  "uid": str(uuid.uuid4())}])
    # the owner's name, but another uid: an owner deleted and created again is not the same owner
    stale = ref(owner)
    stale["uid"] = str(uuid.uuid4())
    configmap(core, namespace, "stale-uid", [stale])
    configmap(core, namespace, "owned", [ref(owner)])
    wait_for(lambda: names(core, namespace) == ["foreign", "owned"], timeout=30,
             message="the dependents of missing owners to be collected")


def test_it_deletes_a_configmap_with_its_deployment_once_no_owner_is_left(sandbox, core, apps, namespace):
    web = deployment(sandbox, apps, namespace, "web")
    other = configmap(core, namespace, "other-owner")
    configmap(core, namespace, "web-config", [ref(web)])
    configmap(core, namespace, "shared", [ref(web), ref(other)])
    sandbox.kubectl("-n", namespace, "delete", "deployment", "web")
    wait_for(lambda: read(core, namespace, "web-config") is None, timeout=30, message="web-config to go")
    shared = read(core, namespace, "shared")  # another owner remains: only the dangling reference goes
    assert [r.uid for r in shared.metadata.owner_references] == [other.metadata.uid]
    core.delete_namespaced_config_map("other-owner", namespace)
    wait_for(lambda: read(core, namespace, "shared") is None, timeout=30, message="shared to go")


def test_it_holds_a_foreground_owner_only_for_its_blocking_dependents(sandbox, core, apps, namespace):
    web = deployment(sandbox, apps, namespace, "web")
    configmap(core, namespace, "blocking", [ref(web, block=True)], finalizers=["example.com/hold"])
    configmap(core, namespace, "not-blocking", [ref(web)], finalizers=["example.com/hold"])
    apps.delete_namespaced_deployment("web", namespace, propagation_policy="Foreground")
    held = apps.read_namespaced_deployment("web", namespace)
    assert held.metadata.deletion_timestamp and held.metadata.finalizers == ["foregroundDeletion"]
    for name in ("blocking", "not-blocking"):
        assert read(core, namespace, name).metadata.deletion_timestamp
    # once the blocking dependent is gone the owner goes, though the non-blocking one is still held
    core.patch_namespaced_config_map("blocking", namespace, {"metadata": {"finalizers": None}})
    wait_for(lambda: "web" not in [d.metadata.name for d in apps.list_namespaced_deployment(namespace).items],
             timeout=30, message="the deployment to go once its blocking dependent went")
    assert read(core, namespace, "blocking") is None
    assert read(core, namespace, "not-blocking").metadata.deletion_timestamp
    core.patch_namespaced_config_map("not-blocking", namespace, {"metadata": {"finalizers": None}})
    wait_for(lambda: read(core, namespace, "not-blocking") is None, timeout=30, message="not-blocking to go")


def test_it_orphans_dependents_when_asked(sandbox, core, apps, namespace):
    # an owner that carries the orphan finalizer orphans its dependents when deleted without a policy
    owner = configmap(core, namespace, "owner", finalizers=["orphan"])
    configmap(core, namespace, "dependent", [ref(owner)])
    core.delete_namespaced_config_map("owner", namespace)
    wait_for(lambda: read(core, namespace, "owner") is None, timeout=30, message="the owner to go")
    assert read(core, namespace, "dependent").metadata.owner_references is None
    # kubectl --cascade=orphan: the Deployment goes, its ReplicaSet and pods stay, unowned
    deployment(sandbox, apps, namespace, "web", replicas=1)
    wait_for(lambda: get_json(sandbox, "-n", namespace, "pods")["items"], timeout=30, message="a pod")
    sandbox.kubectl("-n", namespace, "delete", "deployment", "web", "--cascade=orphan")
    [rs] = get_json(sandbox, "-n", namespace, "replicasets")["items"]
    assert "ownerReferences" not in rs["metadata"]
    assert [p["metadata"]["ownerReferences"][0]["uid"] for p in get_json(sandbox, "-n", namespace, "pods")["items"]] \
        == [rs["metadata"]["uid"]]
