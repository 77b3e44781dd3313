"""The cloud credential's admin page: its validation, its write-only secrets, and "Test connection"
(the Celery task run in-process against the sandbox cloud, and the page's WebSocket)."""

import logging

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from django.contrib.auth.models import AnonymousUser
from django.db import connection

from clouds.models import CloudCredential, ConnectionTest
from clouds.openstack import testing
from clouds.openstack.testing import planned_steps
from liveops.routing import websocket_urlpatterns
from tests.clouds.conftest import credential_from
from tests.labs.ws import WebsocketCommunicator
from tests.services import free_port

SECRET = "pw-s3cr3t-value"
APP_SECRET = "ac-s3cr3t-value"

FORM = {
    "name": "lab", "auth_url": "https://keystone.example.com:5000/v3", "username": "alice", "password": SECRET,
    "application_credential_id": "", "application_credential_secret": "", "user_domain_name": "Default",
    "project_name": "lab", "project_domain_name": "Default", "region_name": "", "floating_network": "public",
    "availability_zone": "", "load_balancers": "octavia", "taikun_flavor": "", "taikun_vrid_start": "1",
    "taikun_vrid_end": "255",
}


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    return client


def add(client, **changes):
    return client.post("/admin/clouds/cloudcredential/add/", {**FORM, **changes})


def errors_of(response) -> dict:
    assert response.status_code == 200, response.status_code
    return response.context["adminform"].form.errors


def run_test(credential) -> tuple[ConnectionTest, dict]:
    """Run "Test connection" in-process: -> (the test, its steps by key)."""
    test = ConnectionTest.objects.create(credential=credential, steps=planned_steps(credential))
    testing.test_connection.apply(args=[test.pk])
    test.refresh_from_db()
    return test, {s["key"]: s for s in test.steps}


def states(steps: dict) -> dict:
    return {key: s["state"] for key, s in steps.items()}


# ---- validation ------------------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("changes, field, message", [
    ({"password": ""}, "password", "Give either a password or an application credential"),
    ({"application_credential_id": "ac-1", "application_credential_secret": APP_SECRET}, "password",
     "Give either a password or an application credential, not both"),
    ({"password": "", "application_credential_id": "ac-1"}, "application_credential_secret",
     "Give the application credential's secret"),
    ({"password": "", "application_credential_secret": APP_SECRET}, "application_credential_id",
     "Give the application credential's id"),
    ({"username": ""}, "username", "Give the user name"),
    ({"project_name": ""}, "project_name", "Give the project"),
    ({"auth_url": "not a url"}, "auth_url", "Enter a valid URL"),
    ({"taikun_vrid_start": "200", "taikun_vrid_end": "100"}, "taikun_vrid_start",
     "The first virtual router id (200) is above the last (100)"),
    ({"taikun_vrid_start": "0"}, "taikun_vrid_start", "between 1 and 255 (0 is not)"),
    ({"taikun_vrid_end": "256"}, "taikun_vrid_end", "between 1 and 255 (256 is not)"),
    ({"load_balancers": "taikun", "taikun_flavor": ""}, "taikun_flavor", "Taikun LB needs a flavor"),
])
def test_it_names_the_field_of_each_mistake(admin_client, changes, field, message):
    errors = errors_of(add(admin_client, **changes))
    assert message in " ".join(errors[field])
    assert not CloudCredential.objects.filter(name="lab").exists()


@pytest.mark.django_db
def test_it_accepts_an_application_credential_without_user_or_project(admin_client):
    r = add(admin_client, username="", password="", project_name="", application_credential_id="ac-1",
            application_credential_secret=APP_SECRET)
    assert r.status_code == 302
    credential = CloudCredential.objects.get(name="lab")
    assert credential.uses_application_credential and credential.application_credential_secret == APP_SECRET
    assert credential.password == ""


@pytest.mark.django_db
def test_it_accepts_a_taikun_credential_with_its_flavor_and_router_ids(admin_client):
    r = add(admin_client, load_balancers="taikun", taikun_flavor="m1.small", taikun_vrid_start="100",
            taikun_vrid_end="120")
    assert r.status_code == 302
    credential = CloudCredential.objects.get(name="lab")
    assert (credential.load_balancers, credential.taikun_vrid_start, credential.taikun_vrid_end) == ("taikun", 100, 120)


# ---- secrets -----------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_it_never_renders_secrets(admin_client):
    add(admin_client)
    credential = CloudCredential.objects.get(name="lab")
    app = CloudCredential.objects.create(name="app", auth_url="https://k.example.com/v3", application_credential_id="ac-1",
                                         application_credential_secret=APP_SECRET)
    for pk in (credential.pk, app.pk):
        page = admin_client.get(f"/admin/clouds/cloudcredential/{pk}/change/")
        assert page.status_code == 200
        assert SECRET.encode() not in page.content and APP_SECRET.encode() not in page.content
        assert b"is stored (encrypted, never shown)" in page.content
    # A form sent back with a mistake does not echo the secret typed in either.
    r = add(admin_client, name="again", project_name="")
    assert "project_name" in errors_of(r) and SECRET.encode() not in r.content


@pytest.mark.django_db
def test_it_keeps_secrets_left_empty_and_stores_them_encrypted(admin_client):
    add(admin_client)
    credential = CloudCredential.objects.get(name="lab")
    r = admin_client.post(f"/admin/clouds/cloudcredential/{credential.pk}/change/",
                          {**FORM, "password": "", "region_name": "RegionTwo"})
    assert r.status_code == 302
    credential.refresh_from_db()
    assert credential.password == SECRET and credential.region_name == "RegionTwo"
    with connection.cursor() as cursor:
        cursor.execute("SELECT password FROM clouds_cloudcredential WHERE id = %s", [credential.pk])
        (stored,) = cursor.fetchone()
    assert stored and SECRET not in stored


@pytest.mark.django_db
def test_it_forgets_the_password_when_switching_to_an_application_credential(admin_client):
    add(admin_client)
    credential = CloudCredential.objects.get(name="lab")
    r = admin_client.post(f"/admin/clouds/cloudcredential/{credential.pk}/change/", {
        **FORM, "password": "", "application_credential_id": "ac-1", "application_credential_secret": APP_SECRET})
    assert r.status_code == 302
    credential.refresh_from_db()
    assert credential.password == "" and credential.application_credential_secret == APP_SECRET


# ---- starting a test ----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_it_tests_the_connection_after_each_save_with_the_test_id_only(admin_client, monkeypatch,
                                                                       django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(testing.test_connection, "delay", lambda *args, **kwargs: queued.append((args, kwargs)))
    with django_capture_on_commit_callbacks(execute=True):
        r = add(admin_client)
    credential = CloudCredential.objects.get(name="lab")
    assert r.status_code == 302 and r["Location"] == f"/admin/clouds/cloudcredential/{credential.pk}/change/"
    test = ConnectionTest.objects.get(credential=credential)
    assert queued == [((test.pk,), {})]
    assert [s["state"] for s in test.steps] == ["pending"] * 4
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(f"/admin/clouds/cloudcredential/{credential.pk}/change/", {**FORM, "password": ""})
    assert ConnectionTest.objects.filter(credential=credential).count() == 2 and len(queued) == 2


@pytest.mark.django_db
def test_it_starts_a_test_from_the_button_and_returns_at_once(admin_client, monkeypatch,
                                                              django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(testing.test_connection, "delay", lambda *args: queued.append(args))
    credential = CloudCredential.objects.create(name="lab", auth_url="https://k.example.com/v3", username="u",
                                                password=SECRET, project_name="p")
    url = f"/admin/clouds/cloudcredential/{credential.pk}/test-connection/"
    assert admin_client.get(url).status_code == 405
    with django_capture_on_commit_callbacks(execute=True):
        r = admin_client.post(url, HTTP_HX_REQUEST="true")
    assert r.status_code == 204  # the steps come over the page's WebSocket
    with django_capture_on_commit_callbacks(execute=True):
        r = admin_client.post(url)
    assert r.status_code == 302
    tests = list(ConnectionTest.objects.filter(credential=credential))
    assert len(tests) == 2 and sorted(queued) == sorted((t.pk,) for t in tests)


@pytest.mark.django_db
def test_it_tests_the_selected_credentials_from_the_list(admin_client, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(testing.test_connection, "delay", lambda *args: queued.append(args))
    ids = [CloudCredential.objects.create(name=n, auth_url="https://k.example.com/v3", username="u", password=SECRET,
                                          project_name="p").pk for n in ("a", "b")]
    with django_capture_on_commit_callbacks(execute=True):
        r = admin_client.post("/admin/clouds/cloudcredential/", {"action": "test_connection", "_selected_action": ids})
    assert r.status_code == 302
    assert ConnectionTest.objects.filter(credential_id__in=ids).count() == 2 and len(queued) == 2


@pytest.mark.django_db
def test_it_checks_the_credential_of_the_button(admin_client):
    assert admin_client.post("/admin/clouds/cloudcredential/999/test-connection/").status_code == 404


@pytest.mark.django_db
def test_it_is_for_admins_only(client, make_user):
    credential = CloudCredential.objects.create(name="lab", auth_url="https://k.example.com/v3", username="u",
                                                password=SECRET, project_name="p")
    client.force_login(make_user("student"))
    r = client.post(f"/admin/clouds/cloudcredential/{credential.pk}/test-connection/")
    assert r.status_code == 302 and "/admin/login/" in r["Location"]
    assert not ConnectionTest.objects.exists()


# ---- the test's steps, against the sandbox cloud ------------------------------------------------------------

@pytest.mark.django_db
def test_it_passes_a_good_octavia_credential(cloud, caplog):
    credential = credential_from(cloud)
    with caplog.at_level(logging.DEBUG):
        test, steps = run_test(credential)
    assert states(steps) == {"authentication": "ok", "load-balancer-service": "ok", "floating-network": "ok",
                             "floating-ip-quota": "ok"}
    assert test.ok is True and test.finished is not None
    assert "project lab" in steps["authentication"]["message"]
    assert "Octavia is in the catalog" in steps["load-balancer-service"]["message"]
    assert steps["floating-network"]["message"].startswith("public (")
    assert " left (" in steps["floating-ip-quota"]["message"]
    assert credential.password not in caplog.text


@pytest.mark.django_db
def test_it_says_the_password_is_wrong_and_skips_the_rest(cloud, caplog):
    credential = credential_from(cloud, password="not-the-password-42")
    with caplog.at_level(logging.DEBUG):
        test, steps = run_test(credential)
    auth = steps["authentication"]
    assert auth["state"] == "failed" and "refused the user name or password" in auth["message"]
    assert "Check the user name, the password" in auth["fix"]
    assert {k: v for k, v in states(steps).items() if k != "authentication"} == {
        "load-balancer-service": "skipped", "floating-network": "skipped", "floating-ip-quota": "skipped"}
    assert test.ok is False
    assert "not-the-password-42" not in str(test.steps) and "not-the-password-42" not in caplog.text


@pytest.mark.django_db
def test_it_says_the_user_has_no_role_on_the_project(cloud):
    _, steps = run_test(credential_from(cloud, project_name="service", credential_name="no-role"))
    auth = steps["authentication"]
    assert auth["state"] == "failed"
    assert "user name and password are right" in auth["message"] and "“service”" in auth["message"]
    assert "no role there" in auth["message"] and "give the user a role" in auth["fix"]
    assert steps["floating-network"]["state"] == "skipped"


@pytest.mark.django_db
def test_it_says_the_identity_url_is_unreachable(cloud):
    port = free_port()  # nothing listens there
    _, steps = run_test(credential_from(cloud, auth_url=f"http://127.0.0.1:{port}/identity", credential_name="closed"))
    auth = steps["authentication"]
    assert auth["state"] == "failed"
    assert f"Could not connect to 127.0.0.1:{port}: connection refused" in auth["message"]
    assert "identity URL" in auth["fix"]


@pytest.mark.django_db
def test_it_accepts_an_application_credential_and_says_when_one_is_refused(cloud):
    entry = cloud.clouds["clouds"]["sandbox-appcred"]["auth"]
    fields = {"username": "", "password": "", "project_name": "",
              "application_credential_id": entry["application_credential_id"]}
    test, steps = run_test(credential_from(cloud, credential_name="appcred",
                                           application_credential_secret=entry["application_credential_secret"],
                                           **fields))
    assert test.ok is True and "Application credential accepted for project lab" in steps["authentication"]["message"]
    test, steps = run_test(credential_from(cloud, credential_name="appcred", application_credential_secret="wrong-1",
                                           **fields))
    auth = steps["authentication"]
    assert auth["state"] == "failed" and "refused the application credential" in auth["message"]
    assert "expired or been deleted" in auth["fix"]


@pytest.mark.django_db
def test_it_refuses_taikun_lb_where_octavia_is_in_the_catalog(cloud):
    credential = credential_from(cloud, "sandbox", load_balancers="taikun", taikun_flavor="m1.small",
                                 credential_name="taikun-on-lab")
    test, steps = run_test(credential)
    lb = steps["load-balancer-service"]
    assert lb["state"] == "failed" and "Octavia is in this project's catalog" in lb["message"]
    assert "Choose Octavia" in lb["fix"]
    assert test.ok is False and steps["taikun-flavor"]["state"] == "ok"


@pytest.mark.django_db
def test_it_passes_taikun_lb_without_octavia(cloud):
    test, steps = run_test(credential_from(cloud, "sandbox-taikun"))
    assert states(steps) == {"authentication": "ok", "load-balancer-service": "ok", "floating-network": "ok",
                             "floating-ip-quota": "ok", "taikun-image": "ok", "taikun-flavor": "ok"}
    assert test.ok is True
    assert "not in the catalog" in steps["load-balancer-service"]["message"]
    assert steps["taikun-flavor"]["message"] == "m1.small: 1 vCPU, 2 GB RAM."


@pytest.mark.django_db
def test_it_says_a_flavor_is_too_small_for_taikun_lb(cloud):
    test, steps = run_test(credential_from(cloud, "sandbox-taikun", taikun_flavor="m1.tiny", credential_name="tiny"))
    flavor = steps["taikun-flavor"]
    assert flavor["state"] == "failed"
    assert flavor["message"] == "m1.tiny has 1 vCPU, 512 MB RAM: Taikun LB needs at least 1 vCPU and 1 GB RAM."
    assert "m1.small (1 vCPU, 2 GB RAM)" in flavor["fix"]
    assert test.ok is False


@pytest.mark.django_db
def test_it_says_a_flavor_does_not_exist(cloud):
    _, steps = run_test(credential_from(cloud, "sandbox-taikun", taikun_flavor="m9.huge", credential_name="nope"))
    assert steps["taikun-flavor"]["state"] == "failed" and "No flavor named or with id “m9.huge”" in \
        steps["taikun-flavor"]["message"]


@pytest.mark.django_db
def test_it_says_when_no_floating_ip_is_left(cloud):
    before = cloud.faults()["floating_ip_quota"]
    cloud.faults(floating_ip_quota=0)
    try:
        test, steps = run_test(credential_from(cloud))
    finally:
        cloud.faults(floating_ip_quota=before)
    quota = steps["floating-ip-quota"]
    assert quota["state"] == "failed" and quota["message"].startswith("No floating IP left: ")
    assert "higher floating-IP quota" in quota["fix"]
    assert test.ok is False and steps["authentication"]["state"] == "ok"


@pytest.mark.django_db
def test_it_says_when_the_floating_network_is_not_there_or_not_external(cloud):
    _, steps = run_test(credential_from(cloud, floating_network="nowhere", credential_name="nowhere"))
    network = steps["floating-network"]
    assert network["state"] == "failed" and "No network named or with id “nowhere”" in network["message"]
    assert "public" in network["fix"]
    _, steps = run_test(credential_from(cloud, floating_network=cloud.clouds["sandbox"]["network"],
                                        credential_name="internal"))
    assert "not an external network" in steps["floating-network"]["message"]


@pytest.mark.django_db
def test_it_publishes_each_step_to_the_credentials_group(cloud, monkeypatch):
    published = []
    monkeypatch.setattr(testing, "publish", lambda test: published.append([s["state"] for s in test.steps]))
    run_test(credential_from(cloud))
    assert published[0] == ["running", "pending", "pending", "pending"]
    assert published[-1] == ["ok", "ok", "ok", "ok"]
    assert len(published) >= 8


# ---- the page's WebSocket ------------------------------------------------------------------------------------

async def _socket(credential_id, user):
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/admin/credentials/{credential_id}/test/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


@pytest.fixture
def tested_credential(db):
    credential = CloudCredential.objects.create(name="lab", auth_url="https://k.example.com/v3", username="u",
                                                password=SECRET, project_name="p")
    steps = planned_steps(credential)
    steps[0].update(state="ok", message="Signed in as u to project p (abc).")
    ConnectionTest.objects.create(credential=credential, steps=steps)
    return credential


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("who", ["anonymous", "student"])
async def test_it_closes_the_socket_for_anyone_but_staff(tested_credential, make_user, who):
    user = AnonymousUser() if who == "anonymous" else await sync_to_async(make_user)("student")
    communicator = await _socket(tested_credential.pk, user)
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_it_resyncs_staff_on_connect_and_redraws_on_each_change(tested_credential, make_user):
    admin = await sync_to_async(make_user)("root", is_staff=True, is_superuser=True)
    communicator = await _socket(tested_credential.pk, admin)
    html = await communicator.receive_from(timeout=5)
    assert 'id="connection-test"' in html and 'hx-swap-oob="true"' in html
    assert "Signed in as u to project p" in html and SECRET not in html

    def finish():
        test = ConnectionTest.objects.get(credential=tested_credential)
        test.steps[1].update(state="failed", message="Octavia is not there.", fix="Choose Taikun LB.")
        test.save()
        return test

    test = await sync_to_async(finish)()
    await get_channel_layer().group_send(test.group_name, {"type": testing.CHANGED, "test": test.pk})
    html = await communicator.receive_from(timeout=5)
    assert "Octavia is not there." in html and "Choose Taikun LB." in html
    await communicator.disconnect()


@pytest.mark.django_db
def test_it_says_the_identity_certificate_is_not_trusted(cloud):
    # The sandbox's Kubernetes port speaks TLS with its own self-signed certificate.
    _, steps = run_test(credential_from(cloud, auth_url=f"https://127.0.0.1:{cloud.api_port}/v3", credential_name="tls"))
    auth = steps["authentication"]
    assert auth["state"] == "failed"
    assert auth["message"].startswith(f"TLS error talking to 127.0.0.1:{cloud.api_port}: the certificate is not trusted")
    assert "certificate" in auth["fix"]


@pytest.mark.django_db
def test_it_says_when_the_identity_service_is_unavailable(cloud):
    cloud.faults(unavailable=["identity"])
    try:
        _, steps = run_test(credential_from(cloud))
    finally:
        cloud.faults(unavailable=[])
    auth = steps["authentication"]
    assert auth["state"] == "failed" and auth["message"] == "The cloud's identity service answered 503 Service Unavailable."
    assert "test again later" in auth["fix"]


@pytest.mark.django_db
def test_it_names_the_service_that_is_unavailable_after_signing_in(cloud):
    cloud.faults(unavailable=["network"])
    try:
        test, steps = run_test(credential_from(cloud))
    finally:
        cloud.faults(unavailable=[])
    assert steps["authentication"]["state"] == "ok" and test.ok is False
    for key in ("floating-network", "floating-ip-quota"):
        assert steps[key]["message"] == "The cloud's network service answered 503 Service Unavailable."


@pytest.mark.django_db
def test_it_names_the_catalogs_regions_when_the_region_is_wrong(cloud):
    test, steps = run_test(credential_from(cloud, region_name="RegionTwo", credential_name="elsewhere"))
    catalog = steps["load-balancer-service"]
    assert catalog["state"] == "failed" and "no network endpoint in region “RegionTwo”" in catalog["message"]
    assert catalog["fix"] == "Choose one of the catalog's regions: RegionOne."
    assert "region RegionTwo" in steps["floating-network"]["message"] and test.ok is False
