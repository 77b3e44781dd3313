"""JSON, merge and strategic merge patches, and server-side apply."""

import json

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException


def deployment(name="web", image="nginx:1.27", replicas=2, env=None, labels=None):
    container = {"name": "nginx", "image": image, "ports": [{"containerPort": 80}]}
    if env is not None:
        container["env"] = env
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels or {"app": name}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}}},
    }


class Api:
    def __init__(self, sandbox, namespace):
        self.sandbox = sandbox
        self.namespace = namespace

    def create(self, body):
        code, _, out = self.sandbox.request("POST", f"/apis/apps/v1/namespaces/{self.namespace}/deployments", body)
        assert code == 201, out
        return out


@pytest.fixture
def api(sandbox, namespace):
    return Api(sandbox, namespace)


def patch(api, namespace, name, body, content_type, **query):
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
    code, _, out = api.sandbox.request("PATCH", path, body, content_type, **query)
    if code >= 400:
        raise ApiException(status=code, reason=out.get("reason"))
    return out


def test_it_applies_a_json_patch(api, namespace):
    api.create(deployment())
    out = patch(api, namespace, "web", [{"op": "replace", "path": "/spec/replicas", "value": 4},
                                        {"op": "add", "path": "/metadata/labels/extra", "value": "yes"}],
                "application/json-patch+json")
    assert out["spec"]["replicas"] == 4 and out["metadata"]["labels"]["extra"] == "yes"
    assert out["metadata"]["generation"] == 2


def test_it_applies_a_merge_patch(api, namespace):
    api.create(deployment(labels={"app": "web", "drop": "me"}))
    out = patch(api, namespace, "web", {"metadata": {"labels": {"drop": None}},
                                        "spec": {"template": {"spec": {"containers": [
                                            {"name": "nginx", "image": "nginx:1.28"}]}}}},
                "application/merge-patch+json")
    assert "drop" not in out["metadata"]["labels"]
    # a merge patch replaces lists wholesale
    assert out["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert "ports" not in out["spec"]["template"]["spec"]["containers"][0]


def test_it_merges_lists_by_key_in_a_strategic_merge_patch(api, namespace):
    api.create(deployment(env=[{"name": "A", "value": "1"},
                                                                 {"name": "B", "value": "2"}]))
    out = patch(api, namespace, "web", {"spec": {"template": {"spec": {"containers": [
        {"name": "nginx", "image": "nginx:1.28",
         "env": [{"name": "A", "value": "changed"}, {"name": "B", "$patch": "delete"}, {"name": "C", "value": "3"}]},
        {"name": "sidecar", "image": "busybox"}]}}}}, "application/strategic-merge-patch+json")
    containers = out["spec"]["template"]["spec"]["containers"]
    nginx = next(c for c in containers if c["name"] == "nginx")
    assert nginx["image"] == "nginx:1.28"
    assert nginx["ports"] == [{"containerPort": 80, "protocol": "TCP"}]  # kept: merged by name
    assert nginx["env"] == [{"name": "A", "value": "changed"}, {"name": "C", "value": "3"}]
    assert [c["name"] for c in containers] == ["nginx", "sidecar"]


def test_it_replaces_with_the_replace_directive(api, namespace):
    api.create(deployment(labels={"app": "web", "a": "b"}))
    out = patch(api, namespace, "web", {"metadata": {"labels": {"$patch": "replace", "only": "this"}}},
                "application/strategic-merge-patch+json")
    assert out["metadata"]["labels"] == {"only": "this"}


def test_it_server_side_applies_twice_removing_a_dropped_field(api, namespace):
    first = deployment(env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                       labels={"app": "web", "team": "blue"})
    out = patch(api, namespace, "web", json.dumps(first), "application/apply-patch+yaml",
                fieldManager="lab", fieldValidation="Strict")
    assert out["spec"]["replicas"] == 2
    managers = {m["manager"]: m for m in out["metadata"]["managedFields"]}
    assert managers["lab"]["operation"] == "Apply"
    assert "f:replicas" in managers["lab"]["fieldsV1"]["f:spec"]

    # another manager adds a label; the lab manager then drops "team" and env B
    patch(api, namespace, "web", {"metadata": {"labels": {"owner": "ops"}}}, "application/merge-patch+json",
          fieldManager="ops")
    second = deployment(env=[{"name": "A", "value": "1"}], labels={"app": "web"}, replicas=3)
    out = patch(api, namespace, "web", json.dumps(second), "application/apply-patch+yaml",
                fieldManager="lab", fieldValidation="Strict")
    assert out["metadata"]["labels"] == {"app": "web", "owner": "ops"}
    assert out["spec"]["replicas"] == 3
    assert out["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]


def test_it_reports_apply_conflicts_unless_forced(api, namespace):
    patch(api, namespace, "web", json.dumps(deployment()), "application/apply-patch+yaml", fieldManager="one")
    other = deployment(replicas=5)
    with pytest.raises(ApiException) as e:
        patch(api, namespace, "web", json.dumps(other), "application/apply-patch+yaml", fieldManager="two")
    assert e.value.status == 409 and e.value.reason == "Conflict"
    code, _, status = api.sandbox.request("PATCH", f"/apis/apps/v1/namespaces/{namespace}/deployments/web",
                                          json.dumps(other), "application/apply-patch+yaml", fieldManager="two")
    assert code == 409 and "spec.replicas" in status["message"]
    out = patch(api, namespace, "web", json.dumps(other), "application/apply-patch+yaml",
                fieldManager="two", force="true")
    assert out["spec"]["replicas"] == 5


def test_it_scales_through_the_scale_subresource(sandbox, api, namespace):
    api.create(deployment())
    sandbox.kubectl("-n", namespace, "scale", "deployment/web", "--replicas=4")
    with sandbox.api_client() as c:
        scale = client.AppsV1Api(c).read_namespaced_deployment_scale("web", namespace)
    assert scale.spec.replicas == 4 and scale.status.selector == "app=web"
