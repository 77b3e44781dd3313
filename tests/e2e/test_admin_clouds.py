"""An admin adds a cloud credential and a cluster bound to it, in real Chromium against the running
product (web, Celery worker); the credential's connection test runs on the worker against the
sandbox cloud, reached through the credential's identity URL stored in the database."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from clouds.models import CloudCredential, Cluster
from tests.sandbox.openstack.conftest import cloud  # noqa: F401 - the sandbox cloud fixture

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 30_000  # ms
SCREENSHOTS = Path(os.environ.get("LIVEOPS_SCREENSHOTS") or Path(__file__).resolve().parents[2] / "var" / "screenshots")


def _shot(page, name, full_page=False):
    """The pages at 1366x768, for people reviewing the admin (var/screenshots/ or $LIVEOPS_SCREENSHOTS)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def _log_in(page, url, username, password, then):
    page.goto(f"{url}/admin/login/?next={then}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("input[type=submit]")


def test_it_adds_a_credential_shows_its_test_live_and_binds_a_cluster(live, page, make_user, cloud):
    make_user("ops", password="pw-ops-12345", is_staff=True, is_superuser=True)
    page.set_viewport_size({"width": 1366, "height": 768})
    url = live["url"]
    entry = cloud.clouds["clouds"]["sandbox"]
    auth = entry["auth"]

    _log_in(page, url, "ops", "pw-ops-12345", "/admin/clouds/cloudcredential/add/")
    expect(page.get_by_role("heading", name="Add cloud credential")).to_be_visible()
    for field, value in (("name", "sandbox-lab"), ("auth_url", auth["auth_url"]), ("username", auth["username"]),
                         ("password", auth["password"]), ("user_domain_name", auth["user_domain_name"]),
                         ("project_name", auth["project_name"]), ("project_domain_name", auth["project_domain_name"]),
                         ("region_name", entry["region_name"]),
                         ("floating_network", cloud.clouds["sandbox"]["floating_network"])):
        page.fill(f"#id_{field}", value)
    page.get_by_label("Octavia").check()
    page.click("input[name=_save]")

    # Saved: the page of the credential, where the test's steps arrive over the WebSocket.
    credential = CloudCredential.objects.get(name="sandbox-lab")
    expect(page).to_have_url(f"{url}/admin/clouds/cloudcredential/{credential.pk}/change/")
    result = page.get_by_test_id("connection-test")
    expect(result).to_have_attribute("data-state", "ok", timeout=WAIT)
    for step in ("authentication", "load-balancer-service", "floating-network", "floating-ip-quota"):
        expect(result.locator(f"[data-step='{step}']")).to_have_attribute("data-state", "ok")
    assert auth["password"] not in page.content()

    # Without reloading: the quota runs out, "Test connection" again, the failure appears live.
    page.evaluate("window.stillTheSamePage = true")
    before = cloud.faults()["floating_ip_quota"]
    cloud.faults(floating_ip_quota=0)
    try:
        page.get_by_role("button", name="Test connection").click()
        quota = result.locator("[data-step='floating-ip-quota']")
        expect(quota).to_have_attribute("data-state", "failed", timeout=WAIT)
        expect(quota).to_contain_text("No floating IP left")
        expect(quota).to_contain_text("higher floating-IP quota")
        _shot(page, "admin-credential-test-failed")
    finally:
        cloud.faults(floating_ip_quota=before)
    page.get_by_role("button", name="Test connection").click()
    expect(result).to_have_attribute("data-state", "ok", timeout=WAIT)
    assert page.evaluate("window.stillTheSamePage") is True
    assert CloudCredential.objects.get(pk=credential.pk).tests.count() == 3
    _shot(page, "admin-credential-test")
    _shot(page, "admin-credential-full-page", full_page=True)

    # A cluster whose balancers this product builds with that credential.
    page.goto(f"{url}/admin/clouds/cluster/add/")
    page.fill("#id_name", "cloudy")
    page.fill("#id_kubeconfig_path", cloud.kubeconfig)
    page.select_option("#id_cloud_credential", label="sandbox-lab")
    page.get_by_label("This product (through the cloud credential)").check()
    page.click("input[name=_save]")
    expect(page.locator(".field-lb_subnet .errorlist")).to_contain_text("subnet of the cluster's nodes")
    _shot(page, "admin-cluster-needs-subnet", full_page=True)
    page.fill("#id_lb_subnet", cloud.clouds["sandbox"]["subnet"])
    page.click("input[name=_save]")
    expect(page.locator("#result_list")).to_contain_text("cloudy")
    cluster = Cluster.objects.get(name="cloudy")
    assert cluster.cloud_credential_id == credential.pk and cluster.balancers_by_product
    assert cluster.lb_subnet == cloud.clouds["sandbox"]["subnet"]
