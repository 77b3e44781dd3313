"""A student completes the lab by cleaning up, then ends it: the record stays, the page turns read-only."""

import re

import pytest
from kubernetes import client
from playwright.sync_api import expect

from labs.content_loader import load_lab
from labs.models import LabSession
from tests.e2e.test_lab_flow import WAIT, _shot, _start_lab

pytestmark = pytest.mark.django_db(transaction=True)

REQUIRED = ("deployment-ready", "service-selects-pods", "external-ip", "http-external-ip")


def test_it_completes_the_lab_after_cleanup_and_ends_read_only(live, page, make_user, sandbox):
    make_user("finisher", password="pw-finisher-1")
    lab = load_lab("loadbalancer")
    _start_lab(page, live["url"], "finisher", "pw-finisher-1")
    page.evaluate("text => LiveOpsEditor.setValue(text)", lab.example("Deployment") + "---\n" + lab.example("Service"))
    page.get_by_role("button", name="Apply", exact=True).click()

    checklist = page.locator("#checklist")
    for key in REQUIRED:
        expect(checklist.locator(f"[data-check='{key}']")).to_have_attribute("data-state", "passed", timeout=WAIT)
    expect(checklist.get_by_test_id("checks-count")).to_have_text("4/5")
    expect(checklist.locator("[data-check='cleanup']")).to_contain_text("delete the Service lb-test-svc")

    # The student deletes the Service (kubectl delete service lb-test-svc).
    session = LabSession.objects.get(user__username="finisher")
    api = sandbox.api_client()
    try:
        client.CoreV1Api(api).delete_namespaced_service("lb-test-svc", session.namespace)
    finally:
        api.close()

    cleanup = checklist.locator("[data-check='cleanup']")
    expect(cleanup).to_have_attribute("data-state", "passed", timeout=WAIT)
    expect(cleanup).to_contain_text("no longer answers")
    expect(checklist.get_by_test_id("checks-count")).to_have_text("5/5")
    external = checklist.locator("[data-check='external-ip']")
    expect(external).to_have_attribute("data-reached", "true")
    expect(external).to_contain_text(re.compile(r"reached at \d\d:\d\d:\d\d"))
    expect(external).to_contain_text("now: no Service (expected after clean-up)")

    expect(page.get_by_test_id("session-state")).to_have_text("Completed", timeout=WAIT)
    summary = page.get_by_test_id("completion-summary")
    expect(summary).to_contain_text(re.compile(r"Completed in \d+ (s|min)"))
    summary.locator("summary").click()  # the time of each step, one click away
    expect(summary.get_by_test_id("completion-step")).to_have_count(4)
    expect(summary).to_contain_text("Clean up:")
    _shot(page, "completed")

    # A completed lab stays usable until the student ends it; ended, it is read-only, live.
    expect(page.get_by_role("button", name="Apply", exact=True)).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="End lab").click()
    expect(page.get_by_test_id("session-state")).to_have_text("Ended", timeout=60_000)
    expect(page.get_by_role("button", name="Apply", exact=True)).to_have_count(0)
    expect(page.locator("form.dns-form")).to_have_count(0)
    expect(page.get_by_test_id("read-only-text")).to_contain_text("kind: Service")
    expect(page.locator("#ws-indicator")).to_contain_text(re.compile("ended", re.I))
    expect(page.get_by_test_id("completion-summary")).to_contain_text("Completed in")
    _shot(page, "ended-read-only")
