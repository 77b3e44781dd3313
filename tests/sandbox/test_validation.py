"""Validation: unknown fields, wrong types, selector mismatches and names answer 422."""

import json

import yaml


def manifest(**spec_changes):
    d = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
         "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}}
    d["spec"].update(spec_changes)
    return d


def create(sandbox, namespace, body, **query):
    return sandbox.request("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", body, **query)


def test_it_refuses_an_unknown_field_naming_it(sandbox, namespace):
    body = manifest(replica=3)
    del body["spec"]["replicas"]
    code, _, status = create(sandbox, namespace, body, fieldValidation="Strict")
    assert code == 422 and status["reason"] == "Invalid"
    assert {"field": "spec.replica", "reason": "FieldValueNotSupported",
            "message": 'unknown field "spec.replica"'} in status["details"]["causes"]
    assert "spec.replica" in status["message"]


def test_it_warns_about_unknown_fields_when_asked_to(sandbox, namespace):
    code, headers, obj = create(sandbox, namespace, manifest(replica=3), fieldValidation="Warn")
    assert code == 201 and 'unknown field \\"spec.replica\\"' in headers["Warning"]
    assert "replica" not in obj["spec"] and obj["spec"]["replicas"] == 3


def test_it_names_each_invalid_field(sandbox, namespace):
    body = manifest(replicas="three")
    body["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    body["spec"]["template"]["spec"]["containers"][0].pop("image")
    code, _, status = create(sandbox, namespace, body, fieldValidation="Strict")
    fields = {c["field"] for c in status["details"]["causes"]}
    assert code == 422
    assert {"spec.replicas", "spec.template.metadata.labels", "spec.template.spec.containers[0].image"} <= fields
    mismatch = next(c for c in status["details"]["causes"] if c["field"] == "spec.template.metadata.labels")
    assert mismatch["message"] == ('Invalid value: map[string]string{"app":"other"}: '
                                   "`selector` does not match template `labels`")


def test_it_refuses_invalid_names(sandbox, namespace):
    body = manifest()
    body["metadata"]["name"] = "Web_App"
    code, _, status = create(sandbox, namespace, body)
    assert code == 422 and status["details"]["causes"][0]["field"] == "metadata.name"


def test_it_shows_the_field_in_kubectl_apply_errors(sandbox, namespace):
    body = manifest(replica=3)
    result = sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump(body), check=False)
    assert result.returncode != 0
    assert "spec.replica" in result.stderr and "unknown field" in result.stderr
    mismatch = manifest()
    mismatch["spec"]["template"]["metadata"]["labels"] = {"app": "nope"}
    result = sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump(mismatch), check=False)
    assert result.returncode != 0
    assert "spec.template.metadata.labels" in result.stderr and "does not match" in result.stderr
    assert "NotFound" in sandbox.kubectl("-n", namespace, "get", "deploy", "web", check=False).stderr


def test_it_refuses_an_unknown_field_through_the_official_client(sandbox, namespace):
    """A raw dict body sent with the official client's transport reaches the server as is."""
    with sandbox.api_client() as api:
        params = api.param_serialize(
            "POST", f"/apis/apps/v1/namespaces/{namespace}/deployments",
            query_params=[("fieldValidation", "Strict")], body=manifest(replica=3),
            header_params={"Content-Type": "application/json", "Accept": "application/json"},
            auth_settings=["BearerToken"])
        resp = api.call_api(*params)
        resp.read()
        status = json.loads(resp.data)
    assert resp.status == 422 and status["reason"] == "Invalid"
    assert status["details"]["causes"][0]["field"] == "spec.replica"
