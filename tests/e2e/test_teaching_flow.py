"""An instructor follows two students live on the cohort dashboard, in three browser contexts,
against the real product (Celery worker, watcher, uvicorn)."""

import os
import re

import pytest
from playwright.sync_api import expect

from labs.content_loader import load_lab
from labs.models import Cohort, LabSession
from teaching.roles import make_instructor, make_student
from tests.e2e.helpers import poll
from tests.e2e.test_lab_flow import WAIT

pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORT = {"width": 1366, "height": 768}


def _shot(page, name):
    """Screenshots for people reviewing the UI: set LIVEOPS_SCREENSHOTS=<folder>."""
    folder = os.environ.get("LIVEOPS_SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=False)


def _log_in(browser, url, username, password):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(url + "/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    return page


def _start(page):
    expect(page.get_by_role("heading", name="Labs")).to_be_visible()
    page.get_by_role("button", name="Start lab").click()
    expect(page.get_by_test_id("session-state")).to_have_text("Ready", timeout=WAIT)


def test_it_follows_the_class_live(live, browser, make_user, sandbox):
    teacher = make_user("teach1", password="pw-teach1-123")
    make_instructor(teacher)
    cohort = Cohort.objects.create(name="Morning class", stuck_minutes=30)
    cohort.instructors.add(teacher)
    for name in ("stud1", "stud2"):
        student = make_user(name, password=f"pw-{name}-123")
        make_student(student)
        cohort.students.add(student)
    url = live["url"]

    # The instructor lands on their cohorts and opens the dashboard: two rows, nobody started.
    dash = _log_in(browser, url, "teach1", "pw-teach1-123")
    expect(dash.get_by_role("heading", name="Your cohorts")).to_be_visible()
    dash.get_by_role("link", name="Morning class").first.click()
    grid = dash.get_by_test_id("grid")
    row1, row2 = grid.locator("tr[data-student=stud1]"), grid.locator("tr[data-student=stud2]")
    expect(row1).to_contain_text("not started")
    expect(dash.locator("#ws-indicator")).to_have_attribute("data-state", "open", timeout=WAIT)

    # Both students start: the grid follows without a reload.
    s1 = _log_in(browser, url, "stud1", "pw-stud1-123")
    s2 = _log_in(browser, url, "stud2", "pw-stud2-123")
    _start(s1)
    _start(s2)
    expect(row1).to_contain_text("Ready", timeout=WAIT)
    expect(row2).to_contain_text("Ready", timeout=WAIT)

    # stud1 applies the lab's manifests: their check cells and the funnel move live.
    lab = load_lab("loadbalancer")
    poll(s1, "window.LiveOpsEditor && window.LiveOpsEditor.editor")
    s1.evaluate("text => LiveOpsEditor.setValue(text)", lab.example("Deployment") + "---\n" + lab.example("Service"))
    s1.get_by_role("button", name="Apply", exact=True).click()
    for key in ("deployment-ready", "service-selects-pods", "external-ip"):
        expect(row1.locator(f"td[data-check='{key}']")).to_have_attribute("data-state", "passed", timeout=WAIT)
    expect(dash.locator("#funnel [data-check='deployment-ready']")).to_have_attribute("data-reached", "1")
    expect(row1.locator(".applied")).to_contain_text("rev 1", timeout=WAIT)
    expect(row2.locator("td[data-check='deployment-ready']")).to_have_attribute("data-state", "waiting")

    # stud2 raises a hand: it appears on the dashboard at once; the answer appears on stud2's page.
    s2.get_by_label("Question for your instructor").fill("Where do I start?")
    s2.get_by_role("button", name="Raise hand").click()
    expect(s2.get_by_test_id("hand-raised")).to_be_visible()
    hand = dash.get_by_test_id("help-request").filter(has_text="stud2")
    expect(hand).to_contain_text("Where do I start?", timeout=WAIT)
    expect(row2.get_by_test_id("hand")).to_be_visible()
    _shot(dash, "teaching-1-dashboard")
    _shot(s2, "teaching-2-student-hand-raised")
    hand.get_by_label("Answer").fill("Insert the Deployment example first")
    with dash.expect_response(lambda r: "/answer/" in r.url) as answered:
        hand.get_by_role("button", name="Answer").click()
    assert answered.value.status == 200, answered.value.text()
    expect(dash.get_by_test_id("help-requests")).to_contain_text("No hand raised.")
    expect(s2.get_by_test_id("help-answer")).to_contain_text("Insert the Deployment example first", timeout=WAIT)

    # A broadcast reaches both students' pages.
    dash.get_by_label("Message").fill("Ten minutes left for step 2")
    dash.locator("#message-form").get_by_role("button", name="Send").click()
    expect(dash.locator("#message-form")).to_contain_text("Sent to everyone.")
    for page in (s1, s2):
        expect(page.get_by_test_id("lab-message").filter(has_text="Ten minutes left")).to_be_visible(timeout=WAIT)
    _shot(s1, "teaching-3-student-message")

    # Drill-down into stud1, then reset: the namespace is emptied, the history and revisions stay.
    session1 = LabSession.objects.get(user__username="stud1", state="ready")
    row1.get_by_role("link", name="stud1").click()
    expect(dash.get_by_test_id("revision-stepper")).to_contain_text("Revision 1")
    expect(dash.locator("#services-rows")).to_contain_text("lb-test-svc", timeout=WAIT)
    _shot(dash, "teaching-4-drilldown")
    dash.once("dialog", lambda dialog: dialog.accept())
    dash.get_by_role("button", name="Reset namespace").click()
    expect(dash.locator("#cohort-actions li[data-kind=reset]").first).to_be_visible()

    # Back on the dashboard: the reset reports its progress until done.
    dash.get_by_role("link", name="← Morning class").click()
    expect(dash.locator("#cohort-actions li[data-kind=reset]").first).to_have_attribute(
        "data-status", "done", timeout=60_000)
    _shot(dash, "teaching-5-dashboard-after-reset")
    names = sandbox.kubectl("-n", session1.namespace, "get", "deployments,services", "-o", "name").stdout
    assert names.strip() == "", names
    session1.refresh_from_db()
    assert session1.state == "ready" and session1.revisions.filter(number=1).exists()
    assert session1.log.filter(kind="reset").exists()

    # stud1's checks show they were reached, not any more; their revisions stay.
    row1 = dash.get_by_test_id("grid").locator("tr[data-student=stud1]")
    expect(row1.locator("td[data-check='deployment-ready']")).to_have_class(re.compile(r"\bregressed\b"),
                                                                             timeout=WAIT)
    expect(row1.locator(".applied")).to_contain_text("rev 1")
    for page in (dash, s1, s2):
        page.context.close()
