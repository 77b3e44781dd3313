"""When the controller looks again at a Taikun LB being built: servers booting, and a cloud whose compute
(Nova) or network (Neutron) service answers 5xx in the middle of the build. The reconcile loop runs
in-process, as its Celery task would; the delay it returns is when that task is scheduled again."""

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from kubernetes import client

from clouds.loadbalancers import controller
from clouds.loadbalancers.errors import TRANSIENT_RETRY, busy_delay
from clouds.loadbalancers.taikun import provider as taikun
from clouds.models import Cluster, ServiceBalancer
from tests import manifests
from tests.clouds.conftest import credential_from

pytestmark = pytest.mark.django_db(transaction=True)

SERVICE = "lb-test-svc"


@pytest.fixture
def taikun_service(cloud, cloud_cluster):
    """A lab namespace on a cluster whose balancers are Taikun LBs, with a LoadBalancer Service not yet
    seen by the controller: -> (cluster, namespace, CoreV1Api). Whatever the test built is deleted after."""
    Cluster.objects.filter(pk=cloud_cluster.pk).update(cloud_credential=credential_from(cloud, "sandbox-taikun"))
    cloud_cluster.refresh_from_db()
    api = cloud.kube()
    core = client.CoreV1Api(api)
    namespace = f"lab-tk-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": namespace, "labels": {"liveops.dev/session": uuid.uuid4().hex}}})
    core.create_namespaced_service(namespace, yaml.safe_load(manifests.SERVICE))
    try:
        yield cloud_cluster, namespace, core
    finally:
        cloud.faults(unavailable=[])
        core.delete_namespaced_service(SERVICE, namespace)
        deadline = time.monotonic() + 60
        while controller.reconcile(cloud_cluster.pk, namespace, SERVICE) is not None:
            assert time.monotonic() < deadline, "the Taikun LB was not deleted"
            time.sleep(0.1)
        core.delete_namespace(namespace)
        api.close()


def record_of(namespace):
    return ServiceBalancer.objects.get(namespace=namespace, service=SERVICE)


def test_a_5xx_from_nova_or_neutron_during_the_build_is_retried_after_5_s_then_doubled(cloud, taikun_service):
    cluster, namespace, core = taikun_service

    def reconcile():
        return controller.reconcile(cluster.pk, namespace, SERVICE)

    def steps():
        row = ServiceBalancer.objects.filter(namespace=namespace, service=SERVICE).first()
        return [s["step"] for s in row.steps] if row else []

    # The pass that asks Nova for the two servers looks again once they may have booted.
    for _ in range(5):
        delay = reconcile()
        if "servers" in steps():
            break
    assert "servers" in steps()
    assert delay == taikun.BOOT_FIRST

    cloud.faults(unavailable=["compute"])  # Nova answers 503 to everything
    assert reconcile() == TRANSIENT_RETRY
    record = record_of(namespace)
    assert record.state == "failed" and record.cause == "cloud-unavailable"
    assert "HTTP 503" in record.error and "retried" in record.error
    failed = [e for e in core.list_namespaced_event(namespace).items if e.reason == "SyncLoadBalancerFailed"]
    assert failed and "HTTP 503" in failed[0].message

    cloud.faults(unavailable=["network"])  # Nova is back, Neutron is not: the wait doubles
    assert reconcile() == 2 * TRANSIENT_RETRY
    assert record_of(namespace).cause == "cloud-unavailable"

    cloud.faults(unavailable=[])
    deadline = time.monotonic() + 60
    while (delay := reconcile()) is not None:
        assert time.monotonic() < deadline, f"the build did not resume: {record_of(namespace).error}"
        time.sleep(min(delay, 0.2))
    record = record_of(namespace)
    assert record.state == "active" and record.attempts == 0  # the next failure starts again from 5 s
    ingress = core.read_namespaced_service(SERVICE, namespace).status.load_balancer.ingress
    assert ingress[0].ip == record.address


def test_a_server_is_looked_at_more_and_more_rarely_the_longer_it_builds():
    def ago(seconds):
        return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()

    first, cap = taikun.BOOT_FIRST, taikun.BOOT_CAP
    assert busy_delay(ago(0), first, cap) == first  # a server just asked for
    assert 9 <= busy_delay(ago(40), first, cap) <= 11  # a quarter of the time it has been building
    assert busy_delay(ago(600), first, cap) == cap  # a slow cloud: never looked at later than the cap
    assert busy_delay(None, first, cap) == first  # no stamp from the cloud
