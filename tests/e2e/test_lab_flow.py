"""A new student does the whole LoadBalancer lab in real Chromium, against the real product."""

import os
import re
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from labs.content_loader import load_lab
from tests.e2e.helpers import open_object, poll
from tests.manifests import SERVICE

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 30_000  # ms

MISMATCHED_SERVICE = SERVICE.replace("app: lb-test", "app: lb-tset")  # selects no pod


def _shot(page, name):
    """Screenshots for people reviewing the UI: set LIVEOPS_SCREENSHOTS=<folder>."""
    folder = os.environ.get("LIVEOPS_SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


def _log_in(page, url, username, password):
    page.goto(url + "/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Labs")).to_be_visible()


def _start_lab(page, url, username, password):
    """A new student logs in, starts the lab and waits for the session and the editor."""
    _log_in(page, url, username, password)
    page.get_by_role("button", name="Start lab").click()
    expect(page.get_by_test_id("session-state")).to_have_text("Ready", timeout=WAIT)
    poll(page, "window.LiveOpsEditor && window.LiveOpsEditor.editor")


def _http_get(url, timeout=3):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, resp.read().decode()


def test_it_runs_the_whole_lab(live, page, make_user, sandbox):
    make_user("newstudent", password="pw-newstudent-1")
    lab = load_lab("loadbalancer")
    _start_lab(page, live["url"], "newstudent", "pw-newstudent-1")

    # A Service whose selector matches no pod: explained before anything is applied.
    page.evaluate("text => LiveOpsEditor.setValue(text)", lab.example("Deployment") + "---\n" + MISMATCHED_SERVICE)
    page.get_by_role("button", name="Apply", exact=True).click()
    problems = page.locator("#problems")
    expect(problems).to_contain_text("nothing was applied", timeout=WAIT)
    expect(problems).to_contain_text("app=lb-tset")
    expect(problems).to_contain_text("app=lb-test")
    _shot(page, "1-selector-mismatch")

    # Fixed: applied through Celery; pods and the external IP appear live, without reloading.
    page.evaluate("text => LiveOpsEditor.setValue(text)", lab.example("Deployment") + "---\n" + lab.example("Service"))
    page.get_by_role("button", name="Apply", exact=True).click()
    expect(page.get_by_test_id("latest-revision")).to_contain_text("Applied", timeout=WAIT)
    pods = page.locator("#pods-rows tr", has_text="Running")
    expect(pods).to_have_count(3, timeout=WAIT)
    external_cell = page.locator("#svc-lb-test-svc [data-testid=external-ip]")
    expect(external_cell).to_have_text(re.compile(r"^127\.\d+\.\d+\.\d+$"), timeout=WAIT)
    external_ip = external_cell.inner_text().strip()
    assert external_ip.startswith(sandbox.lb_cidr.rsplit(".", 2)[0])

    checklist = page.locator("#checklist")
    for key in ("deployment-ready", "service-selects-pods", "external-ip", "http-external-ip", "dns-sslip"):
        expect(checklist.locator(f"[data-check='{key}']")).to_have_attribute("data-state", "passed", timeout=WAIT)

    _shot(page, "2-checks-passed")
    status, body = _http_get(f"http://{external_ip}/")
    assert status == 200 and "Welcome to nginx" in body

    # Describe the Service from the panel, and bring its live YAML into the editor.
    dialog = open_object(page, page.locator("#svc-lb-test-svc .object-name"))
    expect(dialog).to_contain_text("LoadBalancer Ingress")
    dialog.get_by_role("button", name="Edit YAML in the editor").click()
    expect(page.locator("#object-feedback")).to_contain_text("now in the editor")
    text = page.evaluate("LiveOpsEditor.getValue()")
    assert text.count("kind: Service") == 1 and "kind: Deployment" in text and "nodePort" not in text

    # The student's own DNS record.
    dns = page.locator("#dns-panel")
    dns.locator("input[name=label]").fill("newstudent")
    dns.locator("input[name=address]").fill(external_ip)
    dns.get_by_role("button", name=re.compile("Set record|Save", re.I)).click()
    expect(checklist.locator("[data-check='dns-record']")).to_have_attribute("data-state", "passed", timeout=WAIT)

    # Ending the lab releases the load balancer.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="End lab").click()
    expect(page.get_by_test_id("session-state")).to_have_text("Ended", timeout=60_000)
    _shot(page, "3-ended")
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        _http_get(f"http://{external_ip}/", timeout=2)
