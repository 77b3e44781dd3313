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


def test_it_keeps_one_default_cluster(admin_client, settings):
    Cluster.objects.create(name="old", kubeconfig_path=f"{settings.VAR_DIR}/a", is_default=True)
    r = admin_client.post("/admin/clouds/cluster/add/", {
        "name": "new", "kubeconfig": "", "kubeconfig_path": f"{settings.VAR_DIR}/b", "is_default": "on",
        "context": "", "load_balancers_by": "cluster"})
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
        "name": "real-renamed", "kubeconfig": "", "kubeconfig_path": "", "context": "", "load_balancers_by": "cluster"})
    assert r.status_code == 302
    cluster.refresh_from_db()
    assert cluster.name == "real-renamed" and "tok-s3cr3t" in cluster.kubeconfig


KUBECONFIG_WITH_USER = (
    "apiVersion: v1\nclusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:6443'}}}}]\n"
    "contexts: [{{name: c, context: {{cluster: c, user: u}}}}]\ncurrent-context: c\n"
    "users: [{{name: u, user: {user}}}]\n"
)


@pytest.mark.parametrize("user, field", [
    ("{exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/touch, args: [/tmp/pwned]}}", "exec"),
    ("{auth-provider: {name: oidc, config: {client-id: x}}}", "auth-provider"),
])
def test_it_refuses_a_kubeconfig_that_would_run_a_command(admin_client, user, field):
    r = admin_client.post("/admin/clouds/cluster/add/", {
        "name": "evil", "kubeconfig": KUBECONFIG_WITH_USER.format(user=user), "kubeconfig_path": "", "context": "", "load_balancers_by": "cluster"})
    assert r.status_code == 200
    errors = r.context["adminform"].form.errors
    assert f"users[0].user.{field}" in errors["kubeconfig"][0]
    assert "run a command on this server" in errors["kubeconfig"][0]
    assert not Cluster.objects.filter(name="evil").exists()


def test_it_refuses_a_kubeconfig_path_outside_the_allowed_directories(admin_client, settings, tmp_path):
    settings.LIVEOPS_KUBECONFIG_DIRS = [str(tmp_path / "kubeconfigs")]
    for path in ("/etc/passwd", str(tmp_path / "kubeconfigs" / ".." / "elsewhere"), "relative/kubeconfig"):
        r = admin_client.post("/admin/clouds/cluster/add/", {
            "name": "files", "kubeconfig": "", "kubeconfig_path": path, "context": "", "load_balancers_by": "cluster"})
        assert r.status_code == 200
        assert "kubeconfig_path" in r.context["adminform"].form.errors
    assert not Cluster.objects.filter(name="files").exists()
    inside = tmp_path / "kubeconfigs" / "lab-cluster.yaml"
    r = admin_client.post("/admin/clouds/cluster/add/", {
        "name": "files", "kubeconfig": "", "kubeconfig_path": str(inside), "context": "", "load_balancers_by": "cluster"})
    assert r.status_code == 302


def test_it_never_runs_a_command_from_a_kubeconfig_stored_before(tmp_path):
    """A cluster saved before the check (or written to the database directly) is refused when used."""
    from clouds.kube import api_client
    from clouds.kubeconfigs import KubeconfigError

    marker = tmp_path / "ran"
    user = f"{{exec: {{apiVersion: client.authentication.k8s.io/v1, command: /bin/touch, args: [{marker}]}}}}"
    cluster = Cluster.objects.create(name="old-evil", kubeconfig=KUBECONFIG_WITH_USER.format(user=user))
    with pytest.raises(KubeconfigError) as info:
        api_client(cluster).call_api("/version", "GET")
    assert "users[0].user.exec" in info.value.message
    assert not marker.exists()


def _cluster_form(settings, **changes):
    return {"name": "cloudy", "kubeconfig": "", "kubeconfig_path": f"{settings.VAR_DIR}/cloudy", "context": "",
            "cloud_credential": "", "load_balancers_by": "cluster", "lb_subnet": "", **changes}


def _credential(name="lab", load_balancers="octavia"):
    from clouds.models import CloudCredential

    return CloudCredential.objects.create(name=name, auth_url="https://k.example.com/v3", username="u", password="pw",
                                          project_name="p", load_balancers=load_balancers)


@pytest.mark.parametrize("changes, field, message", [
    ({"cloud_credential": ""}, "cloud_credential", "Choose the cloud credential this product builds load balancers with"),
    ({"cloud_credential": "none"}, "cloud_credential", "has load balancers “None”"),
    ({"lb_subnet": ""}, "lb_subnet", "Give the subnet of the cluster's nodes"),
])
def test_it_names_what_this_product_needs_to_provision_balancers(admin_client, settings, changes, field, message):
    credentials = {"lab": _credential().pk, "none": _credential("nolb", "none").pk}
    data = _cluster_form(settings, cloud_credential=credentials["lab"], load_balancers_by="product",
                         lb_subnet="lab-subnet")
    data.update({k: credentials.get(v, v) for k, v in changes.items()})
    r = admin_client.post("/admin/clouds/cluster/add/", data)
    assert r.status_code == 200
    assert message in " ".join(r.context["adminform"].form.errors[field])
    assert not Cluster.objects.filter(name="cloudy").exists()


def test_it_binds_a_cluster_to_a_credential(admin_client, settings):
    credential = _credential()
    r = admin_client.post("/admin/clouds/cluster/add/", _cluster_form(
        settings, cloud_credential=credential.pk, load_balancers_by="product", lb_subnet="lab-subnet"))
    assert r.status_code == 302
    cluster = Cluster.objects.get(name="cloudy")
    assert cluster.cloud_credential == credential and cluster.balancers_by_product and cluster.lb_subnet == "lab-subnet"


def test_it_lets_the_clusters_own_controller_provision_without_a_credential(admin_client, settings):
    r = admin_client.post("/admin/clouds/cluster/add/", _cluster_form(settings))
    assert r.status_code == 302
    assert not Cluster.objects.get(name="cloudy").balancers_by_product
