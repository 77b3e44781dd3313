"""The student is told when the namespace's Pod Security level refuses the pods of their Deployment."""

import pytest
import yaml
from kubernetes import client

from clouds.kube import list_namespace_with, reset_clients
from labs.checks.diagnosis import diagnose
from labs.lifecycle.namespace import POD_SECURITY_LABELS, namespace_labels
from tests import manifests
from tests.labs import state_builders as sb
from tests.labs.helpers import make_session, wait_for

pytestmark = pytest.mark.django_db

REFUSED = ('Error creating: pods "lb-test-5d8f7c9b4-x7k2p" is forbidden: violates PodSecurity "baseline:latest": '
           'host namespaces (hostNetwork=true), privileged (container "nginx" must not set '
           'securityContext.privileged=true)')


def test_it_names_the_level_and_the_settings_pod_security_refuses():
    events = [sb.event("ReplicaSet", "lb-test-5d8f7c9b4", "FailedCreate", REFUSED, type_="Warning")]
    state = sb.state(deployments=[sb.deployment(ready=0)], events=events, replicasets=[sb.replicaset()])
    [d] = [d for d in diagnose(sb.make_session(), state, probes={}) if d.code == "pod-security"]
    assert d.severity == "error" and d.title == "Pod Security refuses the pods"
    assert d.values["owner"] == "lb-test" and d.values["level"] == "baseline"
    assert d.message.startswith("The namespace's Pod Security level baseline refuses the pods of lb-test: host "
                                "namespaces (hostNetwork=true), privileged (container \"nginx\" must not set "
                                "securityContext.privileged=true).")
    assert "<strong>baseline</strong>" in d.html and "&quot;nginx&quot;" in d.html


def test_it_forgets_the_refusal_once_the_replica_set_has_its_pods():
    events = [sb.event("ReplicaSet", "lb-test-5d8f7c9b4", "FailedCreate", REFUSED, type_="Warning")]
    pods = [sb.pod(f"lb-test-5d8f7c9b4-{i}") for i in range(3)]
    state = sb.state(deployments=[sb.deployment()], pods=pods, events=events, replicasets=[sb.replicaset(current=3)])
    assert "pod-security" not in [d.code for d in diagnose(sb.make_session(), state, probes={})]


def test_it_explains_a_privileged_deployment_in_a_session_namespace_of_the_sandbox(sandbox, cluster, make_user):
    """Through the kubernetes client into a namespace labelled as provisioning labels a session's."""
    session = make_session(make_user("priv"), cluster=cluster, state="ready")
    api = sandbox.api_client()
    client.CoreV1Api(api).create_namespace(
        {"metadata": {"name": session.namespace, "labels": namespace_labels(session)}})
    try:
        privileged = yaml.safe_load(manifests.DEPLOYMENT)
        privileged["spec"]["template"]["spec"]["containers"][0]["securityContext"] = {"privileged": True}
        client.AppsV1Api(api).create_namespaced_deployment(session.namespace, privileged)

        def explained():
            found = [d for d in diagnose(session, list_namespace_with(api, session.namespace), probes={})
                     if d.code == "pod-security"]
            return found[0] if found else None

        assert POD_SECURITY_LABELS.items() <= namespace_labels(session).items()
        d = wait_for(explained, message="the Pod Security diagnosis")
        assert d.values["owner"] == "lb-test" and d.values["level"] == "baseline"
        assert d.values["violations"].startswith('privileged (container "')
        assert d.values["violations"].endswith('must not set securityContext.privileged=true)')
    finally:
        client.CoreV1Api(api).delete_namespace(session.namespace)
        api.close()
        reset_clients()
