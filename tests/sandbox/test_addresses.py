"""Addresses a sandbox hands out (nodes, pods, load balancers) are free on the machine:
sandboxes with the same ranges, or other processes bound to loopback addresses, never
answer for each other."""

from __future__ import annotations

import ipaddress
import random
import socket

from tests.manifests import LAB_MANIFEST
from tests.services import free_port

from .conftest import start_sandbox, stop_sandbox
from .helpers import events, external_ip, get_json, http_get, wait_for
from .test_pods import pod_manifest


def first_address(cidr: str) -> str:
    return str(next(ipaddress.IPv4Network(cidr).hosts()))


def create_namespace(sandbox, name: str) -> None:
    sandbox.kubectl("apply", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")


def ready_pod(sandbox, namespace: str, name: str) -> dict:
    sandbox.kubectl("-n", namespace, "wait", "--for=condition=Ready", f"pod/{name}", "--timeout=30s", timeout=40)
    return get_json(sandbox, "-n", namespace, "pod", name)


def sandbox_failures(sandbox, namespace: str, pod: str) -> list[dict]:
    return [e for e in events(sandbox, namespace, pod)
            if e["reason"] == "FailedCreatePodSandBox" and e["type"] == "Warning"]


def node_addresses(sandbox) -> set[str]:
    return {a["address"] for n in get_json(sandbox, "nodes")["items"]
            for a in n["status"]["addresses"] if a["type"] == "InternalIP"}


def test_it_gives_no_pod_an_address_another_process_is_bound_to():
    sb = start_sandbox()
    first = first_address(sb.pod_cidr)  # the address the first pod would get
    other = socket.socket()
    try:
        other.bind((first, 0))
        other.listen()
        create_namespace(sb, "taken")
        sb.kubectl("-n", "taken", "apply", "-f", "-", input=pod_manifest("web", "nginx:latest"))

        pod = ready_pod(sb, "taken", "web")
        ip = pod["status"]["podIP"]
        assert ip != first
        assert ipaddress.IPv4Address(ip) in ipaddress.IPv4Network(sb.pod_cidr)
        status, headers, _ = http_get(ip)
        assert status == 200 and headers["X-Pod-Name"] == "web"
    finally:
        other.close()
        stop_sandbox(sb)


def test_it_moves_a_pod_whose_port_cannot_be_bound_to_a_new_address():
    sb = start_sandbox()
    first = first_address(sb.pod_cidr)
    # bound without listening: invisible to anyone reading the socket tables, but the port is taken
    other = socket.socket()
    try:
        other.bind((first, 80))
        create_namespace(sb, "moved")
        sb.kubectl("-n", "moved", "apply", "-f", "-", input=pod_manifest("web", "nginx:latest"))

        pod = ready_pod(sb, "moved", "web")
        ip = pod["status"]["podIP"]
        assert ip != first
        [failure] = sandbox_failures(sb, "moved", "web")
        assert f"{first}:80" in failure["message"] and "address already in use" in failure["message"]
        status, headers, _ = http_get(ip)
        assert status == 200 and headers["X-Pod-Name"] == "web"
    finally:
        other.close()
        stop_sandbox(sb)


def test_it_keeps_a_pod_whose_port_is_taken_on_every_address_not_ready(sandbox, namespace):
    other = socket.socket()
    try:
        for _ in range(50):  # a port nothing holds on any address
            port = free_port()
            try:
                other.bind(("0.0.0.0", port))
                break
            except OSError:
                continue
        else:
            raise AssertionError("no port free on every address")
        other.listen()
        sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=pod_manifest(
            "web", "nginx:latest", f"    ports:\n    - containerPort: {port}\n") + f"""\
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: {port}
""")

        failures = wait_for(lambda: len(sandbox_failures(sandbox, namespace, "web")) >= 2 and
                            sandbox_failures(sandbox, namespace, "web"), timeout=30,
                            message="the kubelet to fail creating the pod sandbox twice")
        for failure in failures:
            assert f":{port}: bind: address already in use" in failure["message"], failure["message"]

        st = get_json(sandbox, "-n", namespace, "pod", "web")["status"]
        assert st["phase"] == "Pending"
        assert not st.get("podIP")
        ready = next(c for c in st["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "False" and ready["reason"] == "ContainersNotReady"
        [cs] = st["containerStatuses"]
        assert not cs["ready"] and not cs["started"] and "waiting" in cs["state"]
        subsets = get_json(sandbox, "-n", namespace, "endpoints", "web").get("subsets") or []
        assert not [a for s in subsets for a in s.get("addresses") or []]
        slices = get_json(sandbox, "-n", namespace, "endpointslices", "-l", "kubernetes.io/service-name=web")
        assert not [e for s in slices["items"] for e in s.get("endpoints") or [] if e["conditions"]["ready"]]
    finally:
        other.close()


def test_it_gives_two_sandboxes_with_the_same_ranges_distinct_addresses():
    octet = random.randrange(30, 250)
    first = start_sandbox(octet=octet)
    try:
        second = start_sandbox(octet=octet)
    except BaseException:
        stop_sandbox(first)
        raise
    try:
        assert (first.pod_cidr, first.node_cidr, first.lb_cidr) == (second.pod_cidr, second.node_cidr, second.lb_cidr)
        both = (first, second)
        for sb in both:
            create_namespace(sb, "lab")
            sb.kubectl("-n", "lab", "apply", "-f", "-", input=LAB_MANIFEST)
        for sb in both:
            sb.kubectl("-n", "lab", "rollout", "status", "deployment/lb-test", "--timeout=30s", timeout=40)

        nodes = [node_addresses(sb) for sb in both]
        assert all(len(n) == 3 for n in nodes) and not nodes[0] & nodes[1]
        assert all(ipaddress.IPv4Address(ip) in ipaddress.IPv4Network(first.node_cidr) for n in nodes for ip in n)

        pods = [{p["status"]["podIP"]: p["metadata"]["name"] for p in get_json(sb, "-n", "lab", "pods")["items"]}
                for sb in both]
        assert all(len(p) == 3 for p in pods) and not set(pods[0]) & set(pods[1])
        for own in pods:
            for ip, name in own.items():
                assert http_get(ip)[1]["X-Pod-Name"] == name

        for sb in both:
            wait_for(lambda sb=sb: sum(len(s.get("addresses") or []) for s in get_json(
                sb, "-n", "lab", "endpoints", "lb-test-svc").get("subsets") or []) == 3, message="ready endpoints")
        lbs = [wait_for(lambda sb=sb: external_ip(sb, "lab", "lb-test-svc"), timeout=30, message="external IP")
               for sb in both]
        assert lbs[0] != lbs[1]
        for ip, own in zip(lbs, pods, strict=True):
            assert ipaddress.IPv4Address(ip) in ipaddress.IPv4Network(first.lb_cidr)
            served = {http_get(ip)[1]["X-Pod-Name"] for _ in range(6)}
            assert served <= set(own.values())
    finally:
        stop_sandbox(second)
        stop_sandbox(first)
