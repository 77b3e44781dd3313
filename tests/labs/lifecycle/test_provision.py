"""Provisioning and cleanup of a session namespace, on the real sandbox cluster."""

import json
import re

import pytest

from labs.lifecycle import provision_session, teardown_session
from labs.models import LabSession
from tests.labs.helpers import make_session

pytestmark = pytest.mark.django_db


def _get(sandbox, *args):
    return json.loads(sandbox.kubectl("get", *args, "-o", "json").stdout)


def test_it_prepares_a_labelled_namespace_with_quota_and_limits(sandbox, cluster, make_user):
    session = make_session(make_user(), cluster=cluster, state="provisioning")
    provision_session.run(str(session.id))
    session.refresh_from_db()
    assert session.state == "ready", session.error
    ns = _get(sandbox, "namespace", session.namespace)
    assert ns["metadata"]["labels"]["liveops.dev/session"] == session.id.hex
    quota = _get(sandbox, "resourcequota", "lab-quota", "-n", session.namespace)
    assert quota["spec"]["hard"]["services.loadbalancers"] == "1"
    limits = _get(sandbox, "limitrange", "lab-limits", "-n", session.namespace)
    assert limits["spec"]["limits"][0]["type"] == "Container"
    assert session.log.filter(kind="ready").exists()


def test_it_contains_the_namespace_with_pod_security_and_a_network_policy(sandbox, cluster, make_user):
    session = make_session(make_user(), cluster=cluster, state="provisioning")
    provision_session.run(str(session.id))
    labels = _get(sandbox, "namespace", session.namespace)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    policy = _get(sandbox, "networkpolicy", "lab-isolation", "-n", session.namespace)["spec"]
    assert policy["podSelector"] == {} and policy["policyTypes"] == ["Ingress"]
    sources = policy["ingress"][0]["from"]
    assert {"podSelector": {}} in sources
    assert {"namespaceSelector": {"matchExpressions": [
        {"key": "liveops.dev/session", "operator": "DoesNotExist"}]}} in sources
    assert {"ipBlock": {"cidr": "0.0.0.0/0"}} in sources


def test_it_is_idempotent(sandbox, cluster, make_user):
    session = make_session(make_user(), cluster=cluster, state="provisioning")
    provision_session.run(str(session.id))
    LabSession.objects.filter(pk=session.pk).update(state="provisioning")
    provision_session.run(str(session.id))
    session.refresh_from_db()
    assert session.state == "ready", session.error


def test_it_reports_an_unreachable_cluster(cluster, make_user, tmp_path, settings):
    settings.LIVEOPS_KUBECONFIG_DIRS = [str(tmp_path)]
    cluster.kubeconfig_path = str(tmp_path / "kubeconfig")
    (tmp_path / "kubeconfig").write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: x}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
        "current-context: c\n"
    )
    cluster.save()
    session = make_session(make_user(), cluster=cluster, state="provisioning")
    provision_session.run(str(session.id))
    session.refresh_from_db()
    assert session.state == "failed"
    assert "cannot be reached" in session.error and "127.0.0.1" not in session.error


def test_it_deletes_the_service_before_the_namespace(sandbox, cluster, make_user):
    session = make_session(make_user(), cluster=cluster, state="provisioning")
    provision_session.run(str(session.id))
    sandbox.kubectl("-n", session.namespace, "apply", "-f", "-", input=(
        "apiVersion: v1\nkind: Service\nmetadata: {name: lb}\n"
        "spec: {type: LoadBalancer, selector: {app: x}, ports: [{port: 80}]}\n"))
    LabSession.objects.filter(pk=session.pk).update(state="ending")
    teardown_session.run(str(session.id))
    session.refresh_from_db()
    assert session.state == "ended", session.error
    messages = list(session.log.values_list("message", flat=True))
    assert any("Namespace and load balancers released" in m for m in messages)
    result = sandbox.kubectl("get", "namespace", session.namespace, check=False)
    assert result.returncode != 0 and "NotFound" in result.stderr


def test_a_failure_does_not_undo_an_end(cluster, make_user, tmp_path):
    from unittest import mock

    from labs.lifecycle import ProvisioningError

    session = make_session(make_user(), cluster=cluster, state="provisioning")

    def fail_after_the_student_ended(session, progress):
        LabSession.objects.filter(pk=session.pk).update(state="ending")
        raise ProvisioningError("The cluster refused to prepare the namespace")

    with mock.patch("labs.lifecycle.namespace.provision", fail_after_the_student_ended):
        provision_session.run(str(session.id))
    assert LabSession.objects.get(pk=session.pk).state == "ending"


def test_it_removes_a_namespace_created_after_the_lab_ended(sandbox, cluster, make_user):
    from labs.lifecycle import namespace as provisioning

    session = make_session(make_user(), cluster=cluster, state="provisioning")
    real = provisioning.provision

    def provision_while_the_student_ends(session, progress):
        real(session, progress)
        LabSession.objects.filter(pk=session.pk).update(state="ended")  # the cleanup already ran on nothing

    from unittest import mock

    with mock.patch("labs.lifecycle.namespace.provision", provision_while_the_student_ends):
        provision_session.run(str(session.id))
    result = sandbox.kubectl("get", "namespace", session.namespace, check=False)
    assert result.returncode != 0 and "NotFound" in result.stderr


def test_its_history_says_how_long_the_start_waited_for_a_worker(sandbox, cluster, make_user):
    from datetime import timedelta

    from django.utils import timezone

    # Pressed Start 30 s ago: every worker was busy with the rest of the class.
    session = make_session(make_user(), cluster=cluster, state="provisioning",
                           created=timezone.now() - timedelta(seconds=30))
    provision_session.run(str(session.id))
    message = session.log.get(kind="ready").message
    waited = re.fullmatch(rf"Namespace {session.namespace} is ready: waited ([0-9.]+) s for a worker, "
                          r"prepared in [0-9.]+ s", message)
    assert waited and float(waited.group(1)) >= 30, message


def test_its_history_does_not_count_a_preparation_again_as_a_wait(sandbox, cluster, make_user):
    from datetime import timedelta

    from django.utils import timezone

    # Ready since yesterday; the cluster lost the namespace and it is being prepared again.
    yesterday = timezone.now() - timedelta(days=1)
    session = make_session(make_user(), cluster=cluster, state="provisioning", created=yesterday, ready_at=yesterday)
    provision_session.run(str(session.id))
    message = session.log.get(kind="ready").message
    assert "prepared in" in message and "waited" not in message
