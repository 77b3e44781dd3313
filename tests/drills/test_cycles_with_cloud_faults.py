"""Drill: 100 lab sessions started and ended while the cloud fails some of its calls (500s, and calls
carried out whose answer never arrives, as when a client's timeout strikes) leave nothing behind:
no balancer, server, floating IP or namespace.

Everything runs through the product's real path: start and end as the views do, the Celery tasks
that provision and clean up on a real worker, the watcher that asks the load-balancer controller
(its own worker) to build and release each balancer, the controller's retries, then the sweep.
Most sessions end while their balancer is still being built, one in ten once it serves."""

import threading
import time

import pytest
import yaml
from kubernetes import client

from clouds.loadbalancers.tasks import sweep_balancers
from clouds.models import Cluster, ServiceBalancer
from labs.content_loader import load_lab
from labs.lifecycle.end import end_session
from labs.lifecycle.start import start_session
from labs.models import LabSession
from tests.clouds.conftest import credential_from
from tests.drills.conftest import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]

STUDENTS = 10
CYCLES_EACH = 10  # 100 sessions in all
GIVE_UP = 20  # seconds a student waits for the balancer's address before ending anyway
FAULTS = {"error_rates": {"network": 0.03, "load-balancer": 0.03},
          "lost_answer_rates": {"network": 0.02, "load-balancer": 0.02}}


def cycles(user, count: int, core, service: dict, problems: list) -> None:
    from django.db import close_old_connections

    try:
        for n in range(count):
            session, _ = start_session(user, "loadbalancer")
            started = LabSession.objects.filter(pk=session.pk, state__in=["ready", "failed"])
            session = wait_until(started.first, timeout=60, interval=0.1,
                                 message=f"session {session.namespace} to be ready")
            if session.state == "ready":
                # The student's Service, straight to the API (the apply task has its own drill).
                core.create_namespaced_service(session.namespace, service)
                if n == 0:  # waits for the balancer's address (for a while) before ending; else ends mid-build
                    active = ServiceBalancer.objects.filter(namespace=session.namespace, state="active")
                    deadline = time.monotonic() + GIVE_UP
                    while not active.exists() and time.monotonic() < deadline:
                        time.sleep(0.2)
            end_session(session)
    except Exception as exc:  # reported by the test, with the others
        problems.append(f"{user.username}: {exc}")
    finally:
        close_old_connections()


def test_it_leaves_nothing_behind_after_100_sessions_with_a_failing_cloud(product, drill_sandbox, make_user):
    credential = credential_from(drill_sandbox, credential_name="drill-cycles")
    Cluster.objects.update(is_default=False)
    cluster = Cluster.objects.create(
        name="drill-cycles", kubeconfig_path=drill_sandbox.kubeconfig, cloud_credential=credential,
        load_balancers_by="product", lb_subnet=drill_sandbox.clouds["sandbox"]["subnet"], is_default=True)
    watcher = product.watcher()
    # As production runs them: the lab's tasks on one worker, the balancer controller on another.
    controller = product.worker("controller", concurrency=2, queues="balancers", wait=False)
    product.worker("labs", concurrency=3, queues="celery")
    controller.wait_for_log("ready", timeout=90)
    watcher.wait_for_log("watching cluster drill-cycles", timeout=90)
    service = yaml.safe_load(load_lab("loadbalancer").example("Service"))
    api = drill_sandbox.kube()
    core = client.CoreV1Api(api)
    drill_sandbox.faults(**FAULTS)

    problems: list[str] = []
    students = [make_user(f"cycler{i}") for i in range(STUDENTS)]
    threads = [threading.Thread(target=cycles, args=(s, CYCLES_EACH, core, service, problems)) for s in students]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    assert problems == []
    sessions = LabSession.objects.filter(cluster=cluster)
    assert sessions.count() == STUDENTS * CYCLES_EACH
    wait_until(lambda: not sessions.exclude(state="ended").exists(), timeout=120, interval=0.2,
               message="every session to be ended")
    injected = drill_sandbox.faults()["injected"]
    drill_sandbox.faults(error_rates={}, lost_answer_rates={})

    # The sweep, as beat runs it (every 10 minutes), then removing what it found, as the admin would.
    sweep_balancers.run(remove=True)
    ours = set(sessions.values_list("namespace", flat=True))
    namespaces = [ns.metadata.name for ns in core.list_namespace().items if ns.metadata.name in ours]
    conn = drill_sandbox.connect("sandbox")
    assert namespaces == []
    assert [lb.name for lb in conn.load_balancer.load_balancers() if f"_{cluster.name}_" in lb.name] == []
    assert [ip.floating_ip_address for ip in conn.network.ips()
            if f"from cluster {cluster.name} " in (ip.description or "")] == []
    assert [s.name for s in conn.compute.servers()] == []
    assert set(ServiceBalancer.objects.filter(cluster=cluster).values_list("state", flat=True)) <= {"deleted"}
    assert injected.get("error", 0) > 10 and injected.get("lost", 0) > 5  # the cloud did fail, often
    conn.close()
    api.close()
