"""Drill: a Celery worker is killed (SIGKILL, the real process) in the middle of a task. The task is
delivered again (late acknowledgement) and the state ends consistent.

The moment is made deterministic by the sandbox's slow answers: the server carries the call out, then
holds its answer; the worker is killed while it waits for it (the hardest moment: the cluster or the
cloud has acted, the worker never learnt it)."""

import os
import signal

import pytest
import yaml
from kubernetes import client

from clouds.loadbalancers.tasks import request_reconcile
from clouds.models import Cluster, ServiceBalancer
from labs.content_loader import load_lab
from labs.lifecycle import provision_session
from labs.models import ManifestRevision
from labs.revisions.submit import submit_revision
from tests import manifests
from tests.clouds.conftest import credential_from
from tests.drills.conftest import kill_worker, pool_processes, wait_until
from tests.labs.helpers import make_session

pytestmark = pytest.mark.django_db(transaction=True)

HOLD = 30  # seconds an answer is held: far longer than the drill waits before killing


def first_received(worker, task: str) -> str:
    """The time stamp of the worker's first "Task <task>[...] received" line ("" if none)."""
    for line in worker.log().splitlines():
        if f"Task {task}[" in line and line.endswith("received"):
            return line.split("]", 1)[0]
    return ""


def test_it_applies_a_revision_once_when_the_worker_dies_mid_apply(product, drill_sandbox, make_user):
    """The whole worker running the apply is lost (main process and pool): the unacknowledged task is
    handed out again to the other worker, which finishes the apply; nothing is applied or recorded twice."""
    cluster = Cluster.objects.create(name="drill-apply", kubeconfig_path=drill_sandbox.kubeconfig, is_default=True)
    session = make_session(make_user("killedapply"), cluster=cluster, state="provisioning")
    provision_session.run(str(session.id))
    session.refresh_from_db()
    assert session.state == "ready", session.error
    lab = load_lab("loadbalancer")
    text = lab.example("Deployment") + "---\n" + lab.example("Service")
    deployment = yaml.safe_load(lab.example("Deployment"))["metadata"]["name"]
    # The Deployment is applied, then its answer is held: the Service is not applied yet.
    drill_sandbox.api_faults(slow_answers=[{
        "method": "PATCH", "path": f"/apis/apps/v1/namespaces/{session.namespace}/deployments/{deployment}",
        "dry_run": False, "seconds": HOLD, "count": 1}])

    product.redeliver_quickly()
    workers = [product.worker(f"apply-{n}", wait=False) for n in (1, 2)]  # two machines
    for worker in workers:
        worker.wait_for_log("ready", timeout=90)
    revision = submit_revision(session, text, dry_run=False)
    wait_until(lambda: drill_sandbox.api_faults()["slow_answers"][0]["count"] == 0,
               message="the apply to be in the middle")
    # The worker that got the task first is the one in the middle of it (on a slow machine the other
    # may have been handed it too, once it was older than the visibility timeout: it then finishes it).
    busy = min((w for w in workers if first_received(w, "labs.tasks.apply_revision")),
               key=lambda w: first_received(w, "labs.tasks.apply_revision"))
    kill_worker(busy)

    # The other worker hands the lost one's task out again (visibility timeout) and runs it.
    revision = wait_until(lambda: ManifestRevision.objects.filter(pk=revision.pk).exclude(status="applying").first(),
                          message="the revision to be applied by the other worker")
    assert revision.status == "applied", revision.message
    # What the revision changed, as the student applied it: both objects were created by this revision.
    assert {(r["kind"], r["action"]) for r in revision.result} == {("Deployment", "created"), ("Service", "created")}
    assert revision.message.startswith("Applied: ")
    assert list(session.log.filter(kind="apply").values_list("message", flat=True)) == [
        f"Revision {revision.number}: {revision.message}"]
    api = drill_sandbox.kube()
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    assert [d.metadata.name for d in apps.list_namespaced_deployment(session.namespace).items] == [deployment]
    assert [s.metadata.name for s in core.list_namespaced_service(session.namespace).items] == ["lb-test-svc"]
    assert len(apps.list_namespaced_replica_set(session.namespace).items) == 1
    assert drill_sandbox.api_faults()["slow_answers"][0]["count"] == 0
    api.close()


def test_it_builds_one_balancer_and_one_floating_ip_when_pool_processes_die_mid_build(
        product, drill_sandbox, make_user):
    """A pool process is killed while the cloud holds the answer of the balancer's creation, and again
    while it holds the floating IP's: each time the worker gives the task back at once and the next
    run finds what the cloud made instead of making it again."""
    credential = credential_from(drill_sandbox, credential_name="drill-octavia")
    cluster = Cluster.objects.create(
        name="drill-lb", kubeconfig_path=drill_sandbox.kubeconfig, cloud_credential=credential,
        load_balancers_by="product", lb_subnet=drill_sandbox.clouds["sandbox"]["subnet"])
    api = drill_sandbox.kube()
    core = client.CoreV1Api(api)
    namespace = f"drill-lb-{cluster.pk}"
    core.create_namespace({"metadata": {"name": namespace, "labels": {"liveops.dev/session": namespace}}})
    client.AppsV1Api(api).create_namespaced_deployment(namespace, yaml.safe_load(manifests.DEPLOYMENT))
    core.create_namespaced_service(namespace, yaml.safe_load(manifests.SERVICE))
    # The first POST to Octavia creates the balancer (its listeners, pools... come after it is ACTIVE).
    drill_sandbox.faults(slow_answers=[
        {"method": "POST", "path": "/load-balancer/v2", "seconds": HOLD, "count": 1},
        {"method": "POST", "path": "/network/v2.0/floatingips", "seconds": HOLD, "count": 1}])

    worker = product.worker("balancer")
    request_reconcile(cluster.pk, namespace, "lb-test-svc")
    for rule in range(2):
        wait_until(lambda rule=rule: drill_sandbox.faults()["slow_answers"][rule]["count"] == 0,
                   message=f"call {rule + 1} to be held")
        (busy,) = pool_processes(worker)
        os.kill(busy, signal.SIGKILL)
        wait_until(lambda busy=busy: pool_processes(worker) and busy not in pool_processes(worker),
                   message="the worker to replace its pool process")

    record = wait_until(lambda: ServiceBalancer.objects.filter(cluster=cluster, state="active").first(),
                        message="the balancer to be active")
    svc = core.read_namespaced_service("lb-test-svc", namespace)
    address = svc.status.load_balancer.ingress[0].ip
    assert record.address == address
    conn = drill_sandbox.connect("sandbox")
    balancers = [lb for lb in conn.load_balancer.load_balancers() if lb.name == record.name]
    assert len(balancers) == 1
    floating = [ip for ip in conn.network.ips() if f" {namespace}/lb-test-svc " in (ip.description or "")]
    assert [(ip.floating_ip_address, ip.port_id) for ip in floating] == [(address, balancers[0].vip_port_id)]
    assert "WorkerLostError" in worker.log()
    core.delete_namespaced_service("lb-test-svc", namespace)  # leave the cloud as it was
    request_reconcile(cluster.pk, namespace, "lb-test-svc")  # (no watcher in this drill to ask for it)
    wait_until(lambda: ServiceBalancer.objects.filter(pk=record.pk, state="deleted").exists(),
               message="the balancer to be deleted")
    core.delete_namespace(namespace)
    conn.close()
    api.close()
