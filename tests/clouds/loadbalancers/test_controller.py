"""The load-balancer controller end to end on the sandbox: a lab's Service gets a cloud balancer built
by this product (Octavia or Taikun LB), its IP answers from the pods, and deleting the Service leaves
nothing in the cloud. The reconcile loop runs in-process, as its Celery task would, honouring its delays."""

import http.client
import json
import time
import uuid

import pytest
import yaml
from kubernetes import client

from clouds.loadbalancers import controller
from clouds.loadbalancers.base import ANNOTATION_LB_ADDRESS, ANNOTATION_LB_ID
from clouds.models import Cluster, ServiceBalancer
from clouds.openstack.connection import connect
from tests import manifests
from tests.clouds.conftest import credential_from
from tests.sandbox.helpers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

LABEL = "liveops.dev/session"


def settle(cluster, namespace, name, timeout=60.0):
    """Run reconcile until it says the Service and the cloud agree (or the timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        delay = controller.reconcile(cluster.pk, namespace, name)
        if delay is None:
            return
        time.sleep(min(delay, 0.3))
    raise AssertionError(f"the balancer of {namespace}/{name} did not settle in {timeout}s")


@pytest.fixture
def lab_namespace(cloud):
    api = cloud.kube()
    core = client.CoreV1Api(api)
    name = f"lab-lb-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name, "labels": {LABEL: uuid.uuid4().hex}}})
    client.AppsV1Api(api).create_namespaced_deployment(name, yaml.safe_load(manifests.DEPLOYMENT))
    yield name, core
    core.delete_namespace(name)
    api.close()


def events_of(core, namespace, service):
    return [e.reason for e in sorted(core.list_namespaced_event(namespace).items, key=lambda e: e.metadata.name)
            if e.involved_object.name == service and e.involved_object.kind == "Service"]


def get_pod_name(ip, port=80):
    conn = http.client.HTTPConnection(ip, port, timeout=5)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("X-Pod-Name")
    finally:
        conn.close()


def cloud_leftovers(credential, balancer_name):
    conn = connect(credential)
    found = []
    if conn.has_service("load-balancer"):
        found += [lb.name for lb in conn.load_balancer.load_balancers(name=balancer_name)]
    found += [s.name for s in conn.compute.servers() if s.name.startswith(balancer_name)]
    found += [p.name for p in conn.network.ports() if (p.name or "").startswith(balancer_name)]
    found += [f.floating_ip_address for f in conn.network.ips() if balancer_name in (f.description or "")]
    return found


def build_and_delete(cloud, cluster, lab_namespace):
    namespace, core = lab_namespace
    core.create_namespaced_service(namespace, yaml.safe_load(manifests.SERVICE))
    settle(cluster, namespace, "lb-test-svc")

    svc = core.read_namespaced_service("lb-test-svc", namespace)
    assert controller.FINALIZER in svc.metadata.finalizers
    ip = svc.status.load_balancer.ingress[0].ip
    assert svc.metadata.annotations[ANNOTATION_LB_ADDRESS] == ip and svc.metadata.annotations[ANNOTATION_LB_ID]
    pods = {p.metadata.name for p in core.list_namespaced_pod(namespace).items}
    status, pod = wait_for(lambda: (lambda r: r if r[1] in pods else None)(get_pod_name(ip)),
                           timeout=30, message="an answer from one of the pods through the balancer")
    assert status == 200
    record = ServiceBalancer.objects.get(cluster=cluster, namespace=namespace, service="lb-test-svc")
    assert record.state == "active" and record.address == ip
    assert [s["step"] for s in record.steps][-1] == "ready"
    assert events_of(core, namespace, "lb-test-svc")[:2] == ["EnsuringLoadBalancer", "EnsuredLoadBalancer"] or \
        {"EnsuringLoadBalancer", "EnsuredLoadBalancer"} <= set(events_of(core, namespace, "lb-test-svc"))
    assert cloud_leftovers(cluster.cloud_credential, record.name)

    core.delete_namespaced_service("lb-test-svc", namespace)
    settle(cluster, namespace, "lb-test-svc")
    wait_for(lambda: not [s for s in core.list_namespaced_service(namespace).items if s.metadata.name == "lb-test-svc"],
             message="the Service to go once its finalizer is removed")
    assert cloud_leftovers(cluster.cloud_credential, record.name) == []
    record.refresh_from_db()
    assert record.state == "deleted"
    assert {"DeletingLoadBalancer", "DeletedLoadBalancer"} <= set(events_of(core, namespace, "lb-test-svc"))
    return record


def test_it_builds_an_octavia_balancer_for_a_lab_service_and_removes_it_with_the_service(
        cloud, cloud_cluster, lab_namespace):
    record = build_and_delete(cloud, cloud_cluster, lab_namespace)
    assert record.provider == "octavia"
    assert record.name == f"kube_service_cloudy_{lab_namespace[0]}_lb-test-svc"
    assert {"balancer", "active", "listener", "pool", "members", "floating-ip"} <= {s["step"] for s in record.steps}


def test_it_builds_a_taikun_pair_when_octavia_is_disabled(cloud, cloud_cluster, lab_namespace):
    Cluster.objects.filter(pk=cloud_cluster.pk).update(cloud_credential=credential_from(cloud, "sandbox-taikun"))
    cloud_cluster.refresh_from_db()
    record = build_and_delete(cloud, cloud_cluster, lab_namespace)
    assert record.provider == "taikun"
    assert {"servers", "floating-ip"} <= {s["step"] for s in record.steps}


def test_it_reports_an_exhausted_floating_ip_quota_to_the_student(cloud, cloud_cluster, lab_namespace):
    from labs.live.fragments import BALANCER_TEMPLATE, balancer_context
    from tests.labs.helpers import make_session

    namespace, core = lab_namespace
    before = cloud.faults()["floating_ip_quota"]
    cloud.faults(floating_ip_quota=0)
    try:
        core.create_namespaced_service(namespace, yaml.safe_load(manifests.SERVICE))
        delay = None
        for _ in range(40):
            delay = controller.reconcile(cloud_cluster.pk, namespace, "lb-test-svc")
            record = ServiceBalancer.objects.filter(namespace=namespace).first()
            if record and record.state == "failed":
                break
            time.sleep(min(delay or 0.1, 0.3))
        assert record.state == "failed" and record.cause == "floating-ip-quota"
        assert delay and delay > 0  # retried later, with backoff
        assert "floating IP" in record.error
        failed = [e for e in core.list_namespaced_event(namespace).items if e.reason == "SyncLoadBalancerFailed"]
        assert failed and "floating IP" in failed[0].message and failed[0].type == "Warning"
        assert core.read_namespaced_service("lb-test-svc", namespace).status.load_balancer.ingress is None

        # The student's page shows the step that failed and why.
        from django.contrib.auth import get_user_model
        from django.template.loader import render_to_string

        student = get_user_model().objects.create_user("quota-student")
        session = make_session(student, cluster=cloud_cluster)
        type(session).objects.filter(pk=session.pk).update(namespace=namespace)
        session.namespace = namespace
        html = render_to_string(BALANCER_TEMPLATE, balancer_context(session))
        assert "floating IP" in html and 'data-testid="balancer-error"' in html
    finally:
        cloud.faults(floating_ip_quota=before)
    settle(cloud_cluster, namespace, "lb-test-svc")
    assert ServiceBalancer.objects.get(namespace=namespace).state == "active"


def test_it_retries_a_balancer_that_went_to_error(cloud, cloud_cluster, lab_namespace):
    namespace, core = lab_namespace
    cloud.faults(lb_errors=1)
    core.create_namespaced_service(namespace, yaml.safe_load(manifests.SERVICE))
    settle(cloud_cluster, namespace, "lb-test-svc", timeout=120)
    record = ServiceBalancer.objects.get(namespace=namespace)
    assert record.state == "active"
    assert "failed" in [s["step"] for s in record.steps]  # the error was reported before the retry
    conn = connect(cloud_cluster.cloud_credential)
    assert len(list(conn.load_balancer.load_balancers(name=record.name))) == 1


def test_it_leaves_one_balancer_when_a_killed_reconcile_runs_again(cloud, cloud_cluster, lab_namespace, monkeypatch):
    namespace, core = lab_namespace
    core.create_namespaced_service(namespace, yaml.safe_load(manifests.SERVICE))
    real_step = controller.Record.step

    def killed_after_the_pool(self, step, detail=""):
        real_step(self, step, detail)
        if step == "pool":
            raise SystemExit("worker killed")

    monkeypatch.setattr(controller.Record, "step", killed_after_the_pool)
    with pytest.raises(SystemExit):
        for _ in range(60):
            time.sleep(min(controller.reconcile(cloud_cluster.pk, namespace, "lb-test-svc") or 0.1, 0.3))
    monkeypatch.setattr(controller.Record, "step", real_step)
    settle(cloud_cluster, namespace, "lb-test-svc")
    record = ServiceBalancer.objects.get(namespace=namespace)
    conn = connect(cloud_cluster.cloud_credential)
    assert len(list(conn.load_balancer.load_balancers(name=record.name))) == 1
    vip_port = conn.load_balancer.find_load_balancer(record.name).vip_port_id
    assert len(list(conn.network.ips(port_id=vip_port))) == 1


def test_it_sweeps_a_balancer_whose_service_is_gone(cloud, cloud_cluster, lab_namespace):
    from clouds.loadbalancers.sweep import sweep
    from clouds.models import OrphanedResource

    namespace, core = lab_namespace
    core.create_namespaced_service(namespace, yaml.safe_load(manifests.SERVICE))
    settle(cloud_cluster, namespace, "lb-test-svc")
    record = ServiceBalancer.objects.get(namespace=namespace)
    # The Service goes without the controller (its finalizer stripped by hand): the balancer is orphaned.
    core.patch_namespaced_service("lb-test-svc", namespace, {"metadata": {"finalizers": None}},
                                  _content_type="application/merge-patch+json")
    core.delete_namespaced_service("lb-test-svc", namespace)
    wait_for(lambda: not core.list_namespaced_service(namespace).items, message="the Service to go")

    reported = sweep(cloud_cluster.cloud_credential, remove=False)
    assert record.name in {o.name for o in reported} and any(o.kind == "load balancer" for o in reported)
    assert cloud_leftovers(cloud_cluster.cloud_credential, record.name)  # a dry run removes nothing
    sweep(cloud_cluster.cloud_credential, remove=True)
    wait_for(lambda: not cloud_leftovers(cloud_cluster.cloud_credential, record.name), timeout=30,
             message="the orphans removed")
    assert not OrphanedResource.objects.filter(credential=cloud_cluster.cloud_credential, removed__isnull=True,
                                               name=record.name).exists()


def test_it_refuses_to_start_a_lab_when_the_cloud_has_no_floating_ip_left(cloud, cloud_cluster, make_user):
    from labs.lifecycle import provision_session
    from tests.labs.helpers import make_session

    before = cloud.faults()["floating_ip_quota"]
    cloud.faults(floating_ip_quota=0)
    try:
        session = make_session(make_user("no-ip"), cluster=cloud_cluster, state="provisioning")
        provision_session.run(str(session.id))
        session.refresh_from_db()
    finally:
        cloud.faults(floating_ip_quota=before)
    assert session.state == "failed"
    assert "no floating IP left" in session.error
    assert "raise the project's floating-IP quota" in session.error


def test_it_ignores_clusters_whose_own_cloud_controller_builds_balancers(cloud, cloud_cluster, lab_namespace):
    namespace, core = lab_namespace
    Cluster.objects.filter(pk=cloud_cluster.pk).update(load_balancers_by="cluster")
    core.create_namespaced_service(namespace, yaml.safe_load(manifests.SERVICE))
    assert controller.reconcile(cloud_cluster.pk, namespace, "lb-test-svc") is None
    svc = core.read_namespaced_service("lb-test-svc", namespace)
    assert not svc.metadata.finalizers and not ServiceBalancer.objects.filter(namespace=namespace).exists()
    assert json.loads(json.dumps(events_of(core, namespace, "lb-test-svc"))) == []
