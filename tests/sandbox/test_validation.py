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


def refusal(call, *args):
    """The Status of a call the API server refuses with 422, through the official client."""
    from kubernetes.client.rest import ApiException

    try:
        call(*args)
    except ApiException as e:
        assert e.status == 422, e.body
        status = json.loads(e.body)
        assert status["reason"] == "Invalid"
        return status
    raise AssertionError("the API server accepted it")


def causes_of(status):
    return {(c["field"], c["message"]) for c in status["details"]["causes"]}


def service(**port):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80, **port}]}}


def test_it_refuses_a_service_protocol_other_than_tcp_udp_or_sctp(sandbox, namespace):
    from kubernetes import client

    with sandbox.api_client() as api:
        core = client.CoreV1Api(api)
        status = refusal(core.create_namespaced_service, namespace, service(protocol="HTTP"))
        for protocol in ("TCP", "UDP", "SCTP"):
            body = service(protocol=protocol)
            body["metadata"]["name"] = f"web-{protocol.lower()}"
            core.create_namespaced_service(namespace, body)
    assert ("spec.ports[0].protocol", 'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"') \
        in causes_of(status)
    assert status["message"].startswith('Service "web" is invalid: spec.ports[0].protocol: Unsupported value')
    body = manifest()
    body["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "protocol": "tcp"}]
    result = sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump(body), check=False)
    assert result.returncode != 0
    assert 'spec.template.spec.containers[0].ports[0].protocol: Unsupported value: "tcp"' in result.stderr


def test_it_refuses_ephemeral_containers_in_a_pod_template(sandbox, namespace):
    body = manifest()
    body["spec"]["template"]["spec"]["ephemeralContainers"] = [{"name": "debug", "image": "busybox"}]
    result = sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump(body), check=False)
    assert result.returncode != 0
    assert ("spec.template.spec.ephemeralContainers: Forbidden: ephemeral containers not allowed in pod template"
            in result.stderr)
    assert "NotFound" in sandbox.kubectl("-n", namespace, "get", "deploy", "web", check=False).stderr
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "web", "image": "nginx"}],
                    "ephemeralContainers": [{"name": "debug", "image": "busybox"}]}}
    result = sandbox.kubectl("-n", namespace, "create", "-f", "-", input=yaml.safe_dump(pod), check=False)
    assert "spec.ephemeralContainers: Forbidden: cannot be set on create" in result.stderr


def test_it_refuses_out_of_range_ports(sandbox, namespace):
    from kubernetes import client

    body = manifest()
    body["spec"]["template"]["spec"]["containers"][0]["ports"] = [
        {"containerPort": 70000}, {"containerPort": 8080, "hostPort": 65536}]
    with sandbox.api_client() as api:
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        deployment = refusal(apps.create_namespaced_deployment, namespace, body)
        svc = refusal(core.create_namespaced_service, namespace, service(targetPort=70000, nodePort=80))
        named = refusal(core.create_namespaced_service, namespace, service(targetPort="http_port"))
        core.create_namespaced_service(namespace, service(targetPort=0))  # defaulted to the port
    assert causes_of(deployment) >= {
        ("spec.template.spec.containers[0].ports[0].containerPort",
         "Invalid value: 70000: must be between 1 and 65535, inclusive"),
        ("spec.template.spec.containers[0].ports[1].hostPort",
         "Invalid value: 65536: must be between 1 and 65535, inclusive")}
    assert causes_of(svc) >= {
        ("spec.ports[0].targetPort", "Invalid value: 70000: must be between 1 and 65535, inclusive"),
        ("spec.ports[0].nodePort", "Invalid value: 80: provided port is not in the valid range. "
                                   "The range of valid ports is 30000-32767")}
    assert ("spec.ports[0].targetPort",
            'Invalid value: "http_port": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)') \
        in causes_of(named)


def test_it_refuses_names_in_the_api_servers_words(sandbox, namespace):
    from kubernetes import client

    body = manifest()
    body["metadata"]["name"] = "Web"
    container = body["spec"]["template"]["spec"]["containers"][0]
    container["name"] = "Nginx"
    container["ports"] = [{"containerPort": 80, "name": "http--web-server"}, {"containerPort": 81, "name": "8080"}]
    svc = service(targetPort=80, name="Http")
    svc["metadata"]["name"] = "1web"
    with sandbox.api_client() as api:
        deployment = refusal(client.AppsV1Api(api).create_namespaced_deployment, namespace, body)
        service_status = refusal(client.CoreV1Api(api).create_namespaced_service, namespace, svc)
        long_name = refusal(client.CoreV1Api(api).create_namespaced_service, namespace,
                            {**service(), "metadata": {"name": "a" * 64}})
    label = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
             "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
    ports = "spec.template.spec.containers[0].ports"
    assert causes_of(deployment) >= {
        ("metadata.name", 'Invalid value: "Web": a lowercase RFC 1123 subdomain must consist of lower case '
                          "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
                          "character (e.g. 'example.com', regex used for validation is "
                          "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
        ("spec.template.spec.containers[0].name", f'Invalid value: "Nginx": {label}'),
        (f"{ports}[0].name", 'Invalid value: "http--web-server": must be no more than 15 characters'),
        (f"{ports}[0].name", 'Invalid value: "http--web-server": must not contain consecutive hyphens'),
        (f"{ports}[1].name", 'Invalid value: "8080": must contain at least one letter (a-z)'),
    }
    assert causes_of(service_status) >= {
        ("metadata.name", 'Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric '
                          "characters or '-', start with an alphabetic character, and end with an alphanumeric "
                          "character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
                          "'[a-z]([-a-z0-9]*[a-z0-9])?')"),
        ("spec.ports[0].name", f'Invalid value: "Http": {label}'),
    }
    assert ("metadata.name", f'Invalid value: "{"a" * 64}": must be no more than 63 characters') \
        in causes_of(long_name)
