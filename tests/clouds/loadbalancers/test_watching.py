"""What the controller's subscription to the shared watch asks for: a reconcile per changed Service
of a managed cluster, every balancer of the cluster when its nodes change, nothing otherwise."""

import pytest

from clouds.loadbalancers import tasks, watching
from clouds.models import CloudCredential, Cluster, ServiceBalancer
from clouds.watch import Change

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks.reconcile_balancer, "apply_async", lambda args, countdown=0: calls.append(args[:3]))
    watching._seen.clear()
    watching._nodes.clear()
    watching._dirty_nodes.clear()
    watching._managed.clear()
    return calls


def managed_cluster(name="managed", by="product"):
    credential = CloudCredential.objects.create(name=f"{name}-cred", auth_url="https://k.example.com/v3",
                                                username="u", password="pw", project_name="p")
    return Cluster.objects.create(name=name, kubeconfig_path="/nonexistent", cloud_credential=credential,
                                  load_balancers_by=by, lb_subnet="s")


def service(name, type_="LoadBalancer", port=80, **meta):
    return {"metadata": {"name": name, "uid": f"uid-{name}", **meta},
            "spec": {"type": type_, "ports": [{"port": port, "nodePort": 30080}]}, "status": {}}


def node(name, ip, ready="True"):
    return {"metadata": {"name": name}, "status": {"addresses": [{"type": "InternalIP", "address": ip}],
                                                   "conditions": [{"type": "Ready", "status": ready}]}}


def test_it_reconciles_a_service_only_when_what_its_balancer_depends_on_changes(queued):
    cluster = managed_cluster()
    state = {"services": {"web": service("web"), "internal": service("internal", type_="ClusterIP")}}
    watching.on_settled(cluster.pk, "lab-a", "s1", state)
    assert queued == [(cluster.pk, "lab-a", "web")]
    watching.on_settled(cluster.pk, "lab-a", "s1", state)  # nothing changed: nothing asked
    assert len(queued) == 1
    state["services"]["web"] = service("web", port=8080)
    watching.on_settled(cluster.pk, "lab-a", "s1", state)
    assert queued[-1] == (cluster.pk, "lab-a", "web") and len(queued) == 2
    watching.on_settled(cluster.pk, "lab-a", "s1", {"services": {}})  # gone: make sure its balancer goes
    assert queued[-1] == (cluster.pk, "lab-a", "web") and len(queued) == 3


def test_it_leaves_clusters_whose_own_controller_builds_balancers(queued):
    cluster = managed_cluster("own", by="cluster")
    watching.on_settled(cluster.pk, "lab-a", "s1", {"services": {"web": service("web")}})
    assert queued == []


def test_it_reconciles_every_balancer_when_the_nodes_change(queued):
    cluster = managed_cluster()
    for name in ("a", "b"):
        ServiceBalancer.objects.create(cluster=cluster, namespace=f"lab-{name}", service="web", provider="octavia",
                                       name=f"kube_service_managed_lab-{name}_web", state="active")
    ServiceBalancer.objects.create(cluster=cluster, namespace="lab-c", service="web", provider="octavia",
                                   name="kube_service_managed_lab-c_web", state="deleted")
    watching.on_change(Change(cluster.pk, "", "", "nodes", "node-1", node("node-1", "10.0.0.1")))
    watching.on_settled(cluster.pk, "", "", {})
    assert sorted(queued) == [(cluster.pk, "lab-a", "web"), (cluster.pk, "lab-b", "web")]
    # A node status update that changes neither its address nor its readiness asks for nothing.
    watching.on_change(Change(cluster.pk, "", "", "nodes", "node-1", node("node-1", "10.0.0.1")))
    watching.on_settled(cluster.pk, "", "", {})
    assert len(queued) == 2
    watching.on_change(Change(cluster.pk, "", "", "nodes", "node-1", node("node-1", "10.0.0.1", ready="False")))
    watching.on_settled(cluster.pk, "", "", {})
    assert len(queued) == 4


def test_it_keeps_only_the_newest_retry_chain(queued, monkeypatch):
    """Each request starts a generation: an older chain's task reconciles once more but does not reschedule."""
    cluster = managed_cluster()
    monkeypatch.setattr(tasks, "reconcile", lambda *args: 5.0)  # the cloud is still working
    tasks.request_reconcile(cluster.pk, "lab-a", "web")
    tasks.request_reconcile(cluster.pk, "lab-a", "web")
    queued.clear()
    first = int(tasks.redis_client().get(tasks._key("generation", cluster.pk, "lab-a", "web"))) - 1
    tasks.reconcile_balancer.run(cluster.pk, "lab-a", "web", first)
    assert queued == []
    tasks.reconcile_balancer.run(cluster.pk, "lab-a", "web", first + 1)
    assert queued == [(cluster.pk, "lab-a", "web")]
