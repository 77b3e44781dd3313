import pytest

from clouds.models import Cluster

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    return client


def test_it_explains_a_pasted_kubeconfig_that_is_not_yaml(admin_client):
    r = admin_client.post("/admin/clouds/cluster/add/", {"name": "x", "kubeconfig": "clusters: [\n", "kubeconfig_path": ""})
    assert r.status_code == 200
    assert b"not valid YAML" in r.content
    assert not Cluster.objects.filter(name="x").exists()


def test_it_keeps_one_default_cluster(admin_client):
    Cluster.objects.create(name="old", kubeconfig_path="/a", is_default=True)
    r = admin_client.post("/admin/clouds/cluster/add/", {
        "name": "new", "kubeconfig": "", "kubeconfig_path": "/b", "is_default": "on", "context": ""})
    assert r.status_code == 302
    assert list(Cluster.objects.filter(is_default=True).values_list("name", flat=True)) == ["new"]


def test_it_is_for_admins_only(client, make_user):
    client.force_login(make_user("student"))
    r = client.get("/admin/clouds/cluster/")
    assert r.status_code == 302 and "/admin/login/" in r["Location"]
