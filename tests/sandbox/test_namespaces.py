"""Namespaces, nodes and the objects every namespace gets."""

from __future__ import annotations

from tests.manifests import LAB_MANIFEST

from .helpers import answers, external_ip, get_json, wait_for


def test_it_cascades_namespace_deletion_and_releases_the_load_balancer(sandbox):
    ns = "doomed"
    sandbox.kubectl("apply", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n")
    sandbox.kubectl("-n", ns, "apply", "-f", "-", input=LAB_MANIFEST)
    sandbox.kubectl("-n", ns, "rollout", "status", "deployment/lb-test", "--timeout=30s", timeout=40)
    ip = wait_for(lambda: external_ip(sandbox, ns, "lb-test-svc"), message="external IP")
    wait_for(lambda: answers(ip), message="load balancer answering")
    pod_ips = [p["status"]["podIP"] for p in get_json(sandbox, "-n", ns, "pods")["items"]]

    sandbox.kubectl("delete", "namespace", ns, "--wait=false")
    # Terminating while its contents go (the namespace controller may already have finished when we look).
    seen = sandbox.kubectl("get", "namespace", ns, "-o", "jsonpath={.status.phase}", check=False)
    assert seen.returncode != 0 or seen.stdout == "Terminating", seen.stdout

    wait_for(lambda: sandbox.kubectl("get", "namespace", ns, check=False).returncode != 0, timeout=20,
             message="namespace gone")
    assert not answers(ip)
    assert not any(answers(pod_ip) for pod_ip in pod_ips)
    for kind in ("pods", "services", "deployments", "replicasets"):
        assert get_json(sandbox, kind, "--all-namespaces", "--field-selector", f"metadata.namespace={ns}")["items"] == []


def test_it_gives_every_namespace_a_default_service_account(sandbox, namespace):
    wait_for(lambda: sandbox.kubectl("-n", namespace, "get", "serviceaccount", "default", check=False).returncode == 0,
             message="default service account")


def test_it_registers_ready_nodes(sandbox):
    nodes = get_json(sandbox, "nodes")["items"]
    assert [n["metadata"]["name"] for n in nodes] == ["sandbox-node-1", "sandbox-node-2", "sandbox-node-3"]
    for node in nodes:
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True"
        assert node["status"]["allocatable"]["pods"] == "110"
        assert node["status"]["nodeInfo"]["kubeletVersion"].startswith("v1.32.")
    table = sandbox.kubectl("get", "nodes").stdout
    assert table.count(" Ready ") == 3
