"""The LoadBalancer lab, end to end, through kubectl and plain HTTP."""

from __future__ import annotations

from tests.manifests import LAB_MANIFEST

from .helpers import answers, external_ip, get_json, http_get, reasons, wait_for


def test_it_runs_the_loadbalancer_lab(sandbox, namespace):
    sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=LAB_MANIFEST)
    sandbox.kubectl("-n", namespace, "rollout", "status", "deployment/lb-test", "--timeout=30s", timeout=40)

    pods = get_json(sandbox, "-n", namespace, "pods", "-l", "app=lb-test")["items"]
    assert len(pods) == 3
    assert all(p["status"]["phase"] == "Running" for p in pods)
    assert len({p["status"]["podIP"] for p in pods}) == 3

    ip = wait_for(lambda: external_ip(sandbox, namespace, "lb-test-svc"), message="external IP")
    table = sandbox.kubectl("-n", namespace, "get", "svc", "lb-test-svc").stdout
    assert ip in table and "80:3" in table

    wait_for(lambda: {"EnsuringLoadBalancer", "EnsuredLoadBalancer"} <= reasons(sandbox, namespace, "lb-test-svc"),
             message="load balancer events")
    # As on a real cluster, the endpoints controller follows pod readiness a moment later.
    wait_for(lambda: len((get_json(sandbox, "-n", namespace, "endpoints", "lb-test-svc").get("subsets") or [{}])[0]
                         .get("addresses") or []) == 3, message="three ready endpoints")
    described = sandbox.kubectl("-n", namespace, "describe", "svc", "lb-test-svc").stdout
    assert "EnsuringLoadBalancer" in described and "EnsuredLoadBalancer" in described
    endpoints_line = next(line for line in described.splitlines() if line.startswith("Endpoints:"))
    assert endpoints_line.count(":80") == 3, endpoints_line
    assert f"LoadBalancer Ingress:     {ip}" in described

    served_by = set()
    for _ in range(12):
        status, headers, body = http_get(ip)
        assert status == 200
        assert headers["Server"] == "nginx/1.27.3"
        assert "Welcome to nginx!" in body
        assert f"<code>{headers['X-Pod-Name']}</code>" in body
        served_by.add(headers["X-Pod-Name"])
    assert served_by == {p["metadata"]["name"] for p in pods}


def test_it_scales_up_and_down(sandbox, namespace):
    sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=LAB_MANIFEST)
    sandbox.kubectl("-n", namespace, "rollout", "status", "deployment/lb-test", "--timeout=30s", timeout=40)

    sandbox.kubectl("-n", namespace, "scale", "deployment/lb-test", "--replicas=5")
    sandbox.kubectl("-n", namespace, "rollout", "status", "deployment/lb-test", "--timeout=30s", timeout=40)
    wait_for(lambda: len(get_json(sandbox, "-n", namespace, "endpoints", "lb-test-svc")["subsets"][0]
                         .get("addresses", [])) == 5, message="5 ready endpoints")

    sandbox.kubectl("-n", namespace, "scale", "deployment/lb-test", "--replicas=3")
    wait_for(lambda: len(get_json(sandbox, "-n", namespace, "pods", "-l", "app=lb-test")["items"]) == 3,
             message="3 pods left")
    deploy = get_json(sandbox, "-n", namespace, "deployment", "lb-test")
    wait_for(lambda: get_json(sandbox, "-n", namespace, "deployment", "lb-test")["status"].get("availableReplicas") == 3)
    messages = [e["message"] for e in get_json(sandbox, "-n", namespace, "events")["items"]
                if e["reason"] == "ScalingReplicaSet"]
    rs = deploy["metadata"]["name"]
    assert any(m.startswith(f"Scaled up replica set {rs}-") and m.endswith("from 3 to 5") for m in messages), messages
    assert any(m.startswith(f"Scaled down replica set {rs}-") and m.endswith("from 5 to 3") for m in messages), messages


def test_it_rolls_out_a_restart(sandbox, namespace):
    sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=LAB_MANIFEST)
    sandbox.kubectl("-n", namespace, "rollout", "status", "deployment/lb-test", "--timeout=30s", timeout=40)
    before = {p["metadata"]["name"] for p in get_json(sandbox, "-n", namespace, "pods")["items"]}

    sandbox.kubectl("-n", namespace, "rollout", "restart", "deployment/lb-test")
    sandbox.kubectl("-n", namespace, "rollout", "status", "deployment/lb-test", "--timeout=30s", timeout=40)

    wait_for(lambda: len(get_json(sandbox, "-n", namespace, "pods")["items"]) == 3, message="old pods gone")
    after = {p["metadata"]["name"] for p in get_json(sandbox, "-n", namespace, "pods")["items"]}
    assert not before & after
    rs = get_json(sandbox, "-n", namespace, "replicasets")["items"]
    revisions = sorted(r["metadata"]["annotations"]["deployment.kubernetes.io/revision"] for r in rs)
    assert revisions == ["1", "2"]
    assert sorted(r["spec"]["replicas"] for r in rs) == [0, 3]
    deploy = get_json(sandbox, "-n", namespace, "deployment", "lb-test")
    assert deploy["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    progressing = next(c for c in deploy["status"]["conditions"] if c["type"] == "Progressing")
    assert progressing["reason"] == "NewReplicaSetAvailable"


def test_it_releases_the_ip_when_the_service_is_deleted(sandbox, namespace):
    sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=LAB_MANIFEST)
    ip = wait_for(lambda: external_ip(sandbox, namespace, "lb-test-svc"), message="external IP")
    sandbox.kubectl("-n", namespace, "rollout", "status", "deployment/lb-test", "--timeout=30s", timeout=40)
    wait_for(lambda: answers(ip), message="load balancer answering")

    sandbox.kubectl("-n", namespace, "delete", "svc", "lb-test-svc", timeout=30)

    assert sandbox.kubectl("-n", namespace, "get", "svc", "lb-test-svc", check=False).returncode != 0
    assert not answers(ip)
    assert {"DeletingLoadBalancer", "DeletedLoadBalancer"} <= reasons(sandbox, namespace, "lb-test-svc")


def test_it_reports_a_rollout_stuck_on_a_bad_image(sandbox, namespace):
    manifest = LAB_MANIFEST.split("---\n")[0].replace("image: nginx:1.27", "image: ngnix:1.27").replace(
        "  replicas: 3\n", "  replicas: 3\n  progressDeadlineSeconds: 2\n")
    sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=manifest)

    result = sandbox.kubectl("-n", namespace, "rollout", "status", "deployment/lb-test", "--timeout=20s",
                             check=False, timeout=30)
    assert result.returncode != 0
    assert 'deployment "lb-test" exceeded its progress deadline' in result.stderr
    deploy = get_json(sandbox, "-n", namespace, "deployment", "lb-test")
    available = next(c for c in deploy["status"]["conditions"] if c["type"] == "Available")
    assert available["status"] == "False" and available["reason"] == "MinimumReplicasUnavailable"
    assert deploy["status"]["unavailableReplicas"] == 3
