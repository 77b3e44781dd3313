"""LoadBalancer Services: provisioning, listeners, port changes and release."""

from __future__ import annotations

import json
import time

import pytest

from tests.manifests import LAB_MANIFEST

from .conftest import start_sandbox, stop_sandbox
from .helpers import answers, external_ip, get_json, http_get, reasons, wait_for

FINALIZER = "service.kubernetes.io/load-balancer-cleanup"


def deploy_lab(sandbox, namespace):
    sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=LAB_MANIFEST)
    sandbox.kubectl("-n", namespace, "rollout", "status", "deployment/lb-test", "--timeout=30s", timeout=40)
    return wait_for(lambda: external_ip(sandbox, namespace, "lb-test-svc"), message="external IP")


@pytest.fixture(scope="module")
def slow_lb_sandbox():
    sb = start_sandbox(("--lb-delay", "1.5,1.5"))
    try:
        yield sb
    finally:
        stop_sandbox(sb)


def test_it_shows_pending_until_the_load_balancer_is_provisioned(slow_lb_sandbox):
    sb = slow_lb_sandbox
    sb.kubectl("apply", "-f", "-", input="apiVersion: v1\nkind: Namespace\nmetadata:\n  name: slow\n")
    sb.kubectl("-n", "slow", "apply", "-f", "-", input=LAB_MANIFEST)

    row = sb.kubectl("-n", "slow", "get", "svc", "lb-test-svc", "--no-headers").stdout.split()
    assert row[1] == "LoadBalancer" and row[3] == "<pending>", row
    svc = get_json(sb, "-n", "slow", "svc", "lb-test-svc")
    assert FINALIZER in svc["metadata"].get("finalizers", [])
    started = time.monotonic()

    ip = wait_for(lambda: external_ip(sb, "slow", "lb-test-svc"), timeout=10, message="external IP")
    assert time.monotonic() - started > 0.5
    row = sb.kubectl("-n", "slow", "get", "svc", "lb-test-svc", "--no-headers").stdout.split()
    assert row[3] == ip
    assert ip.startswith(sb.lb_cidr.rsplit(".", 2)[0])
    svc = get_json(sb, "-n", "slow", "svc", "lb-test-svc")
    assert svc["status"]["loadBalancer"]["ingress"] == [{"ip": ip, "ipMode": "VIP"}]


def test_it_releases_the_load_balancer_when_the_type_changes(sandbox, namespace):
    ip = deploy_lab(sandbox, namespace)
    wait_for(lambda: answers(ip), message="load balancer answering")

    sandbox.kubectl("-n", namespace, "patch", "svc", "lb-test-svc", "--type=merge",
                    "-p", json.dumps({"spec": {"type": "ClusterIP"}}))

    wait_for(lambda: not get_json(sandbox, "-n", namespace, "svc", "lb-test-svc")["metadata"].get("finalizers"),
             message="finalizer removed")
    assert external_ip(sandbox, namespace, "lb-test-svc") is None
    assert not answers(ip)
    assert {"DeletingLoadBalancer", "DeletedLoadBalancer"} <= reasons(sandbox, namespace, "lb-test-svc")


def test_it_follows_port_changes(sandbox, namespace):
    ip = deploy_lab(sandbox, namespace)
    wait_for(lambda: answers(ip), message="port 80 answering")

    sandbox.kubectl("-n", namespace, "patch", "svc", "lb-test-svc", "--type=json", "-p", json.dumps(
        [{"op": "replace", "path": "/spec/ports/0/port", "value": 8080}]))

    wait_for(lambda: answers(ip, 8080), message="port 8080 answering")
    assert not answers(ip, 80)
    assert external_ip(sandbox, namespace, "lb-test-svc") == ip
    status, headers, _ = http_get(ip, 8080)
    assert status == 200 and headers["X-Pod-Name"].startswith("lb-test-")


def test_it_closes_connections_when_no_endpoint_is_ready(sandbox, namespace):
    sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=LAB_MANIFEST.split("---\n")[1].replace(
        "app: lb-test", "app: nothing-matches"))
    ip = wait_for(lambda: external_ip(sandbox, namespace, "lb-test-svc"), message="external IP")
    assert get_json(sandbox, "-n", namespace, "endpoints", "lb-test-svc").get("subsets") is None
    assert not answers(ip)


def test_it_resolves_named_target_ports(sandbox, namespace):
    manifest = LAB_MANIFEST.replace("- containerPort: 80", "- containerPort: 8081\n              name: web").replace(
        "targetPort: 80", "targetPort: web")
    ip = deploy_lab(sandbox, namespace)  # first the plain lab, then switch to the named port
    sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=manifest)
    sandbox.kubectl("-n", namespace, "rollout", "status", "deployment/lb-test", "--timeout=30s", timeout=40)

    def ports():
        subsets = get_json(sandbox, "-n", namespace, "endpoints", "lb-test-svc").get("subsets") or []
        return {p["port"] for s in subsets for p in s["ports"]} == {8081} and \
            sum(len(s.get("addresses", [])) for s in subsets) == 3
    wait_for(ports, message="endpoints on port 8081")
    status, _, body = http_get(ip)
    assert status == 200 and "Welcome to nginx!" in body
    slices = get_json(sandbox, "-n", namespace, "endpointslices", "-l", "kubernetes.io/service-name=lb-test-svc")
    [sl] = slices["items"]
    assert sl["ports"] == [{"name": "", "port": 8081, "protocol": "TCP"}]
    assert all(e["conditions"]["ready"] and e["targetRef"]["kind"] == "Pod" and e["nodeName"]
               for e in sl["endpoints"])


def test_it_leaves_load_balancers_to_an_external_controller():
    sb = start_sandbox(("--lb-provider", "external"))
    try:
        sb.kubectl("apply", "-f", "-", input="apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ext\n")
        sb.kubectl("-n", "ext", "apply", "-f", "-", input=LAB_MANIFEST)
        sb.kubectl("-n", "ext", "rollout", "status", "deployment/lb-test", "--timeout=30s", timeout=40)
        time.sleep(0.5)
        svc = get_json(sb, "-n", "ext", "svc", "lb-test-svc")
        assert not svc["metadata"].get("finalizers")
        assert not (svc.get("status") or {}).get("loadBalancer", {}).get("ingress")
        assert "EnsuringLoadBalancer" not in reasons(sb, "ext", "lb-test-svc")
        # endpoints are still maintained for the outside controller
        subsets = get_json(sb, "-n", "ext", "endpoints", "lb-test-svc")["subsets"]
        assert len(subsets[0]["addresses"]) == 3
    finally:
        stop_sandbox(sb)


def test_it_skips_pool_addresses_taken_outside_the_sandbox():
    import socket

    sb = start_sandbox()
    blocker = socket.socket()
    try:
        first = sb.lb_cidr.rsplit(".", 1)[0] + ".1"
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind((first, 80))
        blocker.listen()
        sb.kubectl("apply", "-f", "-", input="apiVersion: v1\nkind: Namespace\nmetadata:\n  name: taken\n")
        ip = deploy_lab(sb, "taken")
        assert ip != first
        assert http_get(ip)[0] == 200
    finally:
        blocker.close()
        stop_sandbox(sb)
