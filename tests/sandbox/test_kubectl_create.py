"""kubectl's imperative commands (create, run, expose), which send protobuf bodies."""

from __future__ import annotations

import random

from sandbox import protobuf

from .helpers import answers, external_ip, get_json, wait_for


def running_pods(sandbox, namespace: str, selector: str) -> list[dict]:
    pods = get_json(sandbox, "-n", namespace, "pods", "-l", selector)["items"]
    return [p for p in pods if p.get("status", {}).get("phase") == "Running"
            and not p["metadata"].get("deletionTimestamp")]


def test_it_creates_a_namespace(sandbox):
    name = f"created-{random.randrange(10**6)}"
    out = sandbox.kubectl("create", "namespace", name).stdout
    assert f"namespace/{name} created" in out
    ns = get_json(sandbox, "namespace", name)
    assert ns["metadata"]["name"] == name
    assert ns["status"]["phase"] == "Active"
    sandbox.kubectl("delete", "namespace", name, "--wait=false")


def test_it_refuses_a_namespace_that_exists(sandbox, namespace):
    result = sandbox.kubectl("create", "namespace", namespace, check=False)
    assert result.returncode != 0
    assert "AlreadyExists" in result.stderr


def test_it_creates_a_configmap_from_literals(sandbox, namespace):
    sandbox.kubectl("-n", namespace, "create", "configmap", "settings",
                    "--from-literal=color=blue", "--from-literal=empty=")
    cm = get_json(sandbox, "-n", namespace, "configmap", "settings")
    assert cm["data"] == {"color": "blue", "empty": ""}
    assert "binaryData" not in cm and "immutable" not in cm


def test_it_creates_a_deployment_whose_pods_run(sandbox, namespace):
    sandbox.kubectl("-n", namespace, "create", "deployment", "web", "--image=nginx:1.27", "--replicas=2")
    deploy = get_json(sandbox, "-n", namespace, "deployment", "web")
    spec = deploy["spec"]
    assert spec["replicas"] == 2
    assert spec["selector"] == {"matchLabels": {"app": "web"}}
    assert spec["template"]["metadata"]["labels"] == {"app": "web"}
    assert [(c["name"], c["image"]) for c in spec["template"]["spec"]["containers"]] == [("nginx", "nginx:1.27")]
    assert deploy["metadata"]["labels"] == {"app": "web"}
    pods = wait_for(lambda: len(running_pods(sandbox, namespace, "app=web")) == 2 and
                    running_pods(sandbox, namespace, "app=web"), timeout=30, message="2 running pods")
    assert all(p["spec"]["containers"][0]["image"] == "nginx:1.27" for p in pods)


def test_it_keeps_an_explicit_zero_replicas(sandbox, namespace):
    sandbox.kubectl("-n", namespace, "create", "deployment", "idle", "--image=nginx", "--replicas=0")
    assert get_json(sandbox, "-n", namespace, "deployment", "idle")["spec"]["replicas"] == 0


def test_it_creates_a_deployment_with_a_command_and_a_port(sandbox, namespace):
    sandbox.kubectl("-n", namespace, "create", "deployment", "worker", "--image=busybox", "--port=8080",
                    "--", "sh", "-c", "sleep 1000")
    container = get_json(sandbox, "-n", namespace, "deployment", "worker")["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["sh", "-c", "sleep 1000"]
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]


def test_it_creates_a_load_balancer_service_that_gets_an_external_ip(sandbox, namespace):
    sandbox.kubectl("-n", namespace, "create", "service", "loadbalancer", "lb", "--tcp=80:80")
    svc = get_json(sandbox, "-n", namespace, "service", "lb")
    assert svc["spec"]["type"] == "LoadBalancer"
    assert svc["spec"]["selector"] == {"app": "lb"}
    [port] = svc["spec"]["ports"]
    assert (port["name"], port["port"], port["targetPort"], port["protocol"]) == ("80-80", 80, 80, "TCP")
    assert 30000 <= port["nodePort"] <= 32767
    ip = wait_for(lambda: external_ip(sandbox, namespace, "lb"), timeout=15, message="external IP")
    assert ip.startswith(sandbox.lb_cidr.rsplit(".", 2)[0])


def test_it_creates_a_service_with_a_named_target_port(sandbox, namespace):
    sandbox.kubectl("-n", namespace, "create", "service", "clusterip", "named", "--tcp=443:https")
    [port] = get_json(sandbox, "-n", namespace, "service", "named")["spec"]["ports"]
    assert port["port"] == 443 and port["targetPort"] == "https"


def test_it_creates_a_quota_that_is_enforced(sandbox, namespace):
    sandbox.kubectl("-n", namespace, "create", "quota", "q", "--hard=pods=3,requests.storage=2Gi")
    quota = get_json(sandbox, "-n", namespace, "resourcequota", "q")
    assert quota["spec"]["hard"] == {"pods": "3", "requests.storage": "2Gi"}
    for i in range(3):
        sandbox.kubectl("-n", namespace, "run", f"p{i}", "--image=nginx")
    result = sandbox.kubectl("-n", namespace, "run", "p3", "--image=nginx", check=False)
    assert result.returncode != 0
    assert "exceeded quota" in result.stderr


def test_it_runs_a_pod(sandbox, namespace):
    sandbox.kubectl("-n", namespace, "run", "p", "--image=nginx", "--labels=tier=web", "--env=GREETING=hi",
                    "--port=80")
    pod = get_json(sandbox, "-n", namespace, "pod", "p")
    assert pod["metadata"]["labels"] == {"tier": "web"}
    [container] = pod["spec"]["containers"]
    assert container["image"] == "nginx"
    assert container["env"] == [{"name": "GREETING", "value": "hi"}]
    assert container["ports"][0]["containerPort"] == 80
    wait_for(lambda: get_json(sandbox, "-n", namespace, "pod", "p")["status"].get("phase") == "Running",
             timeout=30, message="pod running")


def test_it_exposes_a_deployment_through_a_load_balancer(sandbox, namespace):
    sandbox.kubectl("-n", namespace, "create", "deployment", "web", "--image=nginx:1.27", "--replicas=2")
    sandbox.kubectl("-n", namespace, "rollout", "status", "deployment/web", "--timeout=30s", timeout=40)
    out = sandbox.kubectl("-n", namespace, "expose", "deployment", "web", "--port", "80",
                          "--type", "LoadBalancer").stdout
    assert "service/web exposed" in out
    svc = get_json(sandbox, "-n", namespace, "service", "web")
    assert svc["spec"]["selector"] == {"app": "web"}
    assert [(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(80, 80)]
    ip = wait_for(lambda: external_ip(sandbox, namespace, "web"), timeout=15, message="external IP")
    wait_for(lambda: answers(ip), timeout=15, message="load balancer answering")


def test_it_answers_the_client_dry_run_object_with_the_same_fields(sandbox, namespace):
    args = ["-n", namespace, "create", "deployment", "same", "--image=nginx", "--replicas=3", "--port=80"]
    client = get_json_out(sandbox, *args, "--dry-run=client")
    server = get_json_out(sandbox, *args, "--dry-run=server")
    assert_subset(client["spec"], server["spec"])
    assert_subset(client["metadata"]["labels"], server["metadata"]["labels"])


def get_json_out(sandbox, *args):
    import json

    return json.loads(sandbox.kubectl("-o", "json", *args).stdout)


def assert_subset(sent, stored, path="spec"):
    if isinstance(sent, dict):
        for k, v in sent.items():
            if v in (None, {}):
                continue
            assert k in stored, f"{path}.{k} missing"
            assert_subset(v, stored[k], f"{path}.{k}")
    elif isinstance(sent, list):
        assert len(sent) == len(stored), path
        for i, (a, b) in enumerate(zip(sent, stored, strict=False)):
            assert_subset(a, b, f"{path}[{i}]")
    else:
        assert sent == stored, f"{path}: {sent!r} != {stored!r}"


# ---- the decoder itself, on bodies built here ----------------------------------------------------

def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _len(num: int, payload: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _int(num: int, value: int) -> bytes:
    return _varint(num << 3) + _varint(value)


def _envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = _len(1, api_version.encode()) + _len(2, kind.encode())
    return protobuf.MAGIC + _len(1, type_meta) + _len(2, raw) + _len(3, b"") + _len(4, b"")


def test_it_decodes_maps_negative_ints_int_or_string_and_skips_unknown_fields():
    meta = _len(1, b"svc") + _len(2, b"") + _len(11, _len(1, b"app") + _len(2, b"x")) + _len(99, b"ignored")
    port = (_len(1, b"http") + _len(2, b"TCP") + _int(3, 80)
            + _len(4, _int(1, 1) + _int(2, 0) + _len(3, b"web")) + _int(5, 0))
    spec = _len(1, port) + _len(4, b"NodePort") + _int(12, -1) + _int(250, 7)
    obj = protobuf.decode(_envelope("v1", "Service", _len(1, meta) + _len(2, spec)))
    assert obj == {"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "svc", "labels": {"app": "x"}},
                   "spec": {"ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": "web"}],
                            "type": "NodePort", "healthCheckNodePort": -1}}


def test_it_decodes_inlined_structs_and_empty_pointer_structs():
    volume = _len(1, b"scratch") + _len(2, _len(2, b""))
    config = _len(1, b"cfg") + _len(2, _len(19, _len(1, _len(1, b"settings"))))
    container = _len(1, b"c") + _len(2, b"busybox") + _len(8, _len(1, _len(1, b"cpu") + _len(2, _len(1, b"250m"))))
    pod_spec = _len(1, volume) + _len(1, config) + _len(2, container) + _len(3, b"Never")
    obj = protobuf.decode(_envelope("v1", "Pod", _len(1, _len(1, b"p")) + _len(2, pod_spec)))
    assert obj["spec"] == {
        "volumes": [{"name": "scratch", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "settings"}}],
        "containers": [{"name": "c", "image": "busybox", "resources": {"limits": {"cpu": "250m"}}}],
        "restartPolicy": "Never",
    }


def test_it_answers_415_for_a_kind_it_cannot_decode_and_400_for_garbage(sandbox):
    body = _envelope("v1", "PersistentVolume", _len(1, _len(1, b"pv")))
    status, _, answer = sandbox.request("POST", "/api/v1/namespaces", body=body.decode("ascii"),
                                        content_type="application/vnd.kubernetes.protobuf")
    assert status == 415 and answer["reason"] == "UnsupportedMediaType"
    status, _, answer = sandbox.request("POST", "/api/v1/namespaces", body="not protobuf at all",
                                        content_type="application/vnd.kubernetes.protobuf")
    assert status == 400 and answer["reason"] == "BadRequest"
