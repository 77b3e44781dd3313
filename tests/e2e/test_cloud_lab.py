"""The lab on a cluster whose load balancers this product builds in the (sandbox) OpenStack cloud:
the student watches the balancer being built, live, opens its floating IP, and ending the lab leaves
nothing in the cloud. Real Chromium, the real watcher and Celery worker, openstacksdk against the cloud."""

import re
import urllib.request

import pytest
from playwright.sync_api import expect

from clouds.models import Cluster
from clouds.openstack.connection import connect
from labs.content_loader import load_lab
from tests.clouds.conftest import credential_from
from tests.e2e.test_lab_flow import WAIT, _shot, _start_lab

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cloud_default_cluster(live, cloud):
    """New labs start on the cloud sandbox's cluster, its balancers built by this product with Octavia."""
    credential = credential_from(cloud)
    Cluster.objects.update(is_default=False)
    cluster, _ = Cluster.objects.update_or_create(name="e2e-cloud", defaults={
        "kubeconfig_path": cloud.kubeconfig, "cloud_credential": credential, "load_balancers_by": "product",
        "lb_subnet": cloud.clouds["sandbox"]["subnet"], "is_default": True})
    yield cluster
    Cluster.objects.filter(pk=cluster.pk).update(is_default=False)
    Cluster.objects.filter(name="sandbox").update(is_default=True)


def test_it_builds_the_cloud_balancer_live_and_releases_it_at_the_end(live, page, make_user, cloud,
                                                                     cloud_default_cluster):
    make_user("cloudstudent", password="pw-cloudstudent-1")
    lab = load_lab("loadbalancer")
    _start_lab(page, live["url"], "cloudstudent", "pw-cloudstudent-1")

    page.evaluate("text => LiveOpsEditor.setValue(text)", lab.example("Deployment") + "---\n" + lab.example("Service"))
    page.get_by_role("button", name="Apply", exact=True).click()
    panel = page.get_by_test_id("balancer-panel")
    # The balancer's steps appear one after the other, without a reload, then its address.
    expect(panel).to_contain_text("Load balancer", timeout=60_000)
    expect(panel).to_contain_text("Floating IP", timeout=60_000)
    expect(panel.get_by_test_id("balancer")).to_have_attribute("data-state", "active", timeout=60_000)
    external_cell = page.locator("#svc-lb-test-svc [data-testid=external-ip]")
    expect(external_cell).to_have_text(re.compile(r"^127\.\d+\.\d+\.\d+$"), timeout=WAIT)
    external_ip = external_cell.inner_text().strip()
    assert external_ip in panel.inner_text()
    checklist = page.locator("#checklist")
    expect(checklist.locator("[data-check='http-external-ip']")).to_have_attribute("data-state", "passed",
                                                                                  timeout=60_000)
    events = page.locator("#panel-events")
    expect(events).to_contain_text("EnsuredLoadBalancer", timeout=WAIT)
    _shot(page, "cloud-1-balancer-built")
    with urllib.request.urlopen(f"http://{external_ip}/", timeout=5) as resp:
        assert resp.status == 200 and resp.headers["X-Pod-Name"].startswith("lb-test-")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="End lab").click()
    expect(page.get_by_test_id("session-state")).to_have_text("Ended", timeout=90_000)
    conn = connect(cloud_default_cluster.cloud_credential)
    assert [lb.name for lb in conn.load_balancer.load_balancers() if "cloudstudent" in lb.name] == []
    assert [ip.floating_ip_address for ip in conn.network.ips() if ip.floating_ip_address == external_ip] == []
