"""The sandbox cloud (OpenStack APIs beside a Kubernetes API) for the product's cloud tests,
and credentials and clusters made from the clouds.yaml it writes."""

import contextlib

import pytest

from tests.sandbox.openstack.conftest import CloudSandbox


def credential_from(cloud: CloudSandbox, name: str = "sandbox", **fields):
    """A CloudCredential row for one of the sandbox's clouds (`sandbox`: Octavia; `sandbox-taikun`: none)."""
    from clouds.models import CloudCredential

    entry = cloud.clouds["clouds"][name]
    auth = entry["auth"]
    values = {
        "auth_url": auth["auth_url"], "username": auth.get("username", ""), "password": auth.get("password", ""),
        "project_name": auth.get("project_name", ""), "user_domain_name": auth.get("user_domain_name", "Default"),
        "project_domain_name": auth.get("project_domain_name", "Default"),
        "region_name": entry.get("region_name", ""), "floating_network": "public",
        "load_balancers": "taikun" if "taikun" in name else "octavia",
        "taikun_flavor": "m1.small" if "taikun" in name else "",
    }
    row_name = fields.pop("credential_name", name)
    values.update(fields)
    credential, _ = CloudCredential.objects.update_or_create(name=row_name, defaults=values)
    return credential


@pytest.fixture
def cloud_credential(cloud, db):  # noqa: F811
    return credential_from(cloud)


@pytest.fixture
def taikun_credential(cloud, db):  # noqa: F811
    return credential_from(cloud, "sandbox-taikun")


@pytest.fixture
def cloud_cluster(cloud, cloud_credential, settings):  # noqa: F811
    """A Cluster on the cloud sandbox whose balancers this product builds with Octavia."""
    import os

    from clouds.models import Cluster

    settings.LIVEOPS_KUBECONFIG_DIRS = [*settings.LIVEOPS_KUBECONFIG_DIRS, os.path.dirname(cloud.kubeconfig)]
    cluster, _ = Cluster.objects.update_or_create(name="cloudy", defaults={
        "kubeconfig_path": cloud.kubeconfig, "cloud_credential": cloud_credential,
        "load_balancers_by": "product", "lb_subnet": cloud.clouds["sandbox"]["subnet"]})
    return cluster


@contextlib.contextmanager
def nginx_behind_node_ports(cloud, prefix: str, ports: list[dict], timeout: float = 60):
    """A fresh namespace on the cloud sandbox's cluster with nginx (3 ready replicas) behind a NodePort
    Service `web` with `ports`: -> (namespace, the Service, the nodes' InternalIP addresses, sorted)."""
    import random

    from kubernetes import client

    from tests.sandbox.helpers import wait_for

    api = cloud.kube()
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    ns = f"{prefix}-{random.randrange(10**6)}"
    core.create_namespace({"metadata": {"name": ns}})
    labels = {"app": "web"}
    apps.create_namespaced_deployment(ns, {
        "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}}},
    })
    svc = core.create_namespaced_service(ns, {"metadata": {"name": "web"},
                                              "spec": {"type": "NodePort", "selector": labels, "ports": ports}})

    def ready():
        ep = core.read_namespaced_endpoints("web", ns)
        return sum(len(s.addresses or []) for s in ep.subsets or []) == 3
    wait_for(ready, timeout=timeout, message="3 ready endpoints")
    nodes = sorted(a.address for n in core.list_node().items for a in n.status.addresses if a.type == "InternalIP")
    try:
        yield ns, svc, nodes
    finally:
        core.delete_namespace(ns)
        api.close()
