"""Pod Security Admission: a namespace labelled enforce=baseline, warn=restricted (as each lab session's)
refuses pods as a real API server does (403, the real plugin's message), warns for workloads whose pods
would be refused, and its ReplicaSet controller reports the refusal as a FailedCreate event."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from .helpers import events, wait_for

LABELS = {"pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/enforce-version": "latest",
          "pod-security.kubernetes.io/warn": "restricted", "pod-security.kubernetes.io/warn-version": "latest"}
RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
RESTRICTED_POD = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


@pytest.fixture(scope="module")
def api(sandbox):
    with sandbox.api_client() as api_client:
        yield api_client


@pytest.fixture
def lab_namespace(sandbox, namespace, api):
    client.CoreV1Api(api).patch_namespace(namespace, {"metadata": {"labels": LABELS}})
    return namespace


def pod(name: str, spec: dict | None = None, container: dict | None = None, pod_security: dict | None = None) -> dict:
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.27", **(container or {})}], **(spec or {})}}
    if pod_security is not None:
        body["spec"]["securityContext"] = pod_security
    return body


def refusal(api, namespace: str, body: dict) -> str:
    with pytest.raises(ApiException) as refused:
        client.CoreV1Api(api).create_namespaced_pod(namespace, body)
    assert refused.value.status == 403
    status = json.loads(refused.value.body)
    assert status["reason"] == "Forbidden" and status["code"] == 403
    return status["message"]


def warnings_of(headers) -> str:
    return headers.get("Warning", "")


def test_it_refuses_a_pod_that_violates_baseline_with_the_real_message(api, lab_namespace):
    body = pod("x", spec={"hostNetwork": True},
               container={"securityContext": {"privileged": True}, "ports": [{"containerPort": 80, "hostPort": 80}]})
    assert refusal(api, lab_namespace, body) == (
        'pods "x" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true), '
        'hostPort (container "c" uses hostPort 80), '
        'privileged (container "c" must not set securityContext.privileged=true)')
    assert client.CoreV1Api(api).list_namespaced_pod(lab_namespace).items == []


@pytest.mark.parametrize("spec,container,pod_security,detail", [
    ({"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}, {}, None, 'hostPath volumes (volume "root")'),
    ({}, {"securityContext": {"capabilities": {"add": ["SYS_ADMIN", "NET_ADMIN", "CHOWN"]}}}, None,
     'non-default capabilities (container "c" must not include "NET_ADMIN", "SYS_ADMIN" in '
     'securityContext.capabilities.add)'),
    ({"hostPID": True, "hostIPC": True}, {}, None, "host namespaces (hostPID=true, hostIPC=true)"),
    ({}, {}, {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}, "forbidden sysctls (kernel.msgmax)"),
    ({}, {"securityContext": {"seccompProfile": {"type": "Unconfined"}}}, None,
     'seccompProfile (container "c" must not set securityContext.seccompProfile.type to "Unconfined")'),
    ({}, {"securityContext": {"appArmorProfile": {"type": "Unconfined"}}}, None,
     'forbidden AppArmor profile (container "c" must not set AppArmor profile type to "Unconfined")'),
    ({}, {}, {"seLinuxOptions": {"type": "spc_t", "user": "root"}},
     'seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: type "spc_t"; user may not be set)'),
    ({}, {"securityContext": {"procMount": "Unmasked"}}, None,
     'procMount (container "c" must not set securityContext.procMount to "Unmasked")'),
], ids=["hostPath", "capabilities", "hostPID-hostIPC", "sysctls", "seccomp", "apparmor", "selinux", "procMount"])
def test_it_names_each_baseline_violation_as_the_real_plugin(api, lab_namespace, spec, container, pod_security, detail):
    message = refusal(api, lab_namespace, pod("p", spec=spec, container=container, pod_security=pod_security))
    assert message == f'pods "p" is forbidden: violates PodSecurity "baseline:latest": {detail}'


def test_it_refuses_a_dry_run_too(api, lab_namespace):
    with pytest.raises(ApiException) as refused:
        client.CoreV1Api(api).create_namespaced_pod(
            lab_namespace, pod("dry", container={"securityContext": {"privileged": True}}), dry_run="All")
    assert refused.value.status == 403 and "violates PodSecurity" in json.loads(refused.value.body)["message"]


def test_it_admits_a_baseline_pod_with_a_warning_about_restricted(api, lab_namespace):
    _, status, headers = client.CoreV1Api(api).create_namespaced_pod_with_http_info(lab_namespace, pod("web"))
    assert status == 201
    assert warnings_of(headers) == (
        '299 - "would violate PodSecurity \\"restricted:latest\\": allowPrivilegeEscalation != false '
        '(container \\"c\\" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities '
        '(container \\"c\\" must set securityContext.capabilities.drop=[\\"ALL\\"]), runAsNonRoot != true '
        '(pod or container \\"c\\" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container '
        '\\"c\\" must set securityContext.seccompProfile.type to \\"RuntimeDefault\\" or \\"Localhost\\")"')


def test_it_admits_a_restricted_pod_without_warning(api, lab_namespace):
    body = pod("tight", container={"securityContext": RESTRICTED_CONTAINER}, pod_security=RESTRICTED_POD)
    _, status, headers = client.CoreV1Api(api).create_namespaced_pod_with_http_info(lab_namespace, body)
    assert status == 201 and "Warning" not in headers


def test_it_checks_nothing_in_a_namespace_without_labels(api, namespace):
    body = pod("free", spec={"hostNetwork": True}, container={"securityContext": {"privileged": True}})
    _, status, headers = client.CoreV1Api(api).create_namespaced_pod_with_http_info(namespace, body)
    assert status == 201 and "Warning" not in headers


def test_it_warns_for_a_deployment_whose_pods_its_replicaset_cannot_create(sandbox, api, lab_namespace):
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "priv"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "priv"}},
                 "template": {"metadata": {"labels": {"app": "priv"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx:1.27",
                                                       "securityContext": {"privileged": True}}]}}}}
    _, status, headers = client.AppsV1Api(api).create_namespaced_deployment_with_http_info(lab_namespace, deployment)
    assert status == 201  # a workload is never refused: its pods are
    warning = warnings_of(headers)
    assert warning.startswith('299 - "would violate PodSecurity \\"restricted:latest\\": privileged (container \\"c\\" '
                              'must not set securityContext.privileged=true), allowPrivilegeEscalation != false')

    def failed_create():
        found = [e for e in events(sandbox, lab_namespace) if e["reason"] == "FailedCreate"
                 and e["involvedObject"]["kind"] == "ReplicaSet"]
        return found[0] if found else None

    event = wait_for(failed_create, message="a FailedCreate event on the ReplicaSet")
    assert event["type"] == "Warning"
    assert event["message"].startswith('Error creating: pods "priv-')
    assert event["message"].endswith('is forbidden: violates PodSecurity "baseline:latest": '
                                     'privileged (container "c" must not set securityContext.privileged=true)')
    assert client.CoreV1Api(api).list_namespaced_pod(lab_namespace).items == []


def test_kubectl_shows_the_refusal_and_the_warning(sandbox, lab_namespace):
    refused = sandbox.kubectl("-n", lab_namespace, "run", "bad", "--image=nginx:1.27", "--privileged", check=False)
    assert refused.returncode != 0
    assert ('Error from server (Forbidden): pods "bad" is forbidden: violates PodSecurity "baseline:latest": '
            'privileged (container "bad" must not set securityContext.privileged=true)') in refused.stderr
    admitted = sandbox.kubectl("-n", lab_namespace, "run", "good", "--image=nginx:1.27")
    assert 'Warning: would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false' in admitted.stderr
