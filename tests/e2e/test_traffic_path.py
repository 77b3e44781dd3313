"""The traffic path follows the cluster live in real Chromium: a Service selecting no pod breaks it at
the endpoints, with the cause in words; fixing the selector mends it without a reload."""

import re

import pytest
import yaml
from kubernetes import client
from playwright.sync_api import expect

from clouds.kube import reset_clients
from labs.models import LabSession
from tests import manifests
from tests.e2e.test_lab_flow import WAIT, _log_in, _shot

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_draws_the_first_broken_hop_and_follows_the_fix(live, page, make_user, sandbox):
    page.set_viewport_size({"width": 1366, "height": 768})
    make_user("pathstudent", password="pw-pathstudent-1")
    _log_in(page, live["url"], "pathstudent", "pw-pathstudent-1")
    page.get_by_role("button", name="Start lab").click()
    expect(page.get_by_test_id("session-state")).to_have_text("Ready", timeout=WAIT)
    namespace = LabSession.objects.get(user__username="pathstudent").namespace

    # The student's objects reach the cluster (as an apply would); the page hears of them from the watcher.
    api = sandbox.api_client()
    core = client.CoreV1Api(api)
    try:
        client.AppsV1Api(api).create_namespaced_deployment(namespace, yaml.safe_load(manifests.DEPLOYMENT))
        service = yaml.safe_load(manifests.SERVICE)
        service["spec"]["selector"] = {"app": "wbe"}
        core.create_namespaced_service(namespace, service)

        page.get_by_role("tab", name="Traffic path").click()
        path = page.locator("#traffic-path")
        expect(path).to_be_visible()
        endpoints = path.locator("[data-hop=endpoints]")
        expect(endpoints).to_have_attribute("data-state", "broken", timeout=WAIT)
        expect(endpoints).to_contain_text("Traffic stops here.")
        expect(endpoints).to_contain_text("Service lb-test-svc selects app=wbe, but no pod has that label")
        expect(endpoints.locator(".hop-state")).to_have_text(re.compile(r"Broken"))
        assert path.evaluate("e => e.scrollWidth <= e.clientWidth")  # read without scrolling sideways
        _shot(page, "path-1-selector")

        core.patch_namespaced_service("lb-test-svc", namespace, {"spec": {"selector": {"app": "lb-test"}}})
        expect(endpoints).to_have_attribute("data-state", "ok", timeout=WAIT)
        expect(path.get_by_test_id("path-summary")).to_have_text(re.compile("^Traffic reaches your pods"),
                                                                 timeout=WAIT)
        expect(path.locator("[data-hop=external-ip]")).to_contain_text(re.compile(r"answers HTTP 200 from pod lb-test-"))
        expect(path.locator("[data-state=broken]")).to_have_count(0)
        _shot(page, "path-2-fixed")
    finally:
        core.delete_namespace(namespace)
        api.close()
        reset_clients()
