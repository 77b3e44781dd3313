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


def test_it_never_shows_a_stored_kubeconfig_and_keeps_it_when_left_empty(admin_client):
    secret = "apiVersion: v1\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:6443'}}]\nusers: [{name: u, user: {token: tok-s3cr3t}}]\n"
    cluster = Cluster.objects.create(name="real", kubeconfig=secret)
    page = admin_client.get(f"/admin/clouds/cluster/{cluster.pk}/change/")
    assert page.status_code == 200 and b"tok-s3cr3t" not in page.content
    r = admin_client.post(f"/admin/clouds/cluster/{cluster.pk}/change/", {
        "name": "real-renamed", "kubeconfig": "", "kubeconfig_path": "", "context": ""})
    assert r.status_code == 302
    cluster.refresh_from_db()
    assert cluster.name == "real-renamed" and "tok-s3cr3t" in cluster.kubeconfig
