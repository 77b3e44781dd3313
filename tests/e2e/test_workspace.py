"""The lab page as a workspace at 1366×768: what the lab is about stays in sight, in real Chromium."""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from labs.content_loader import load_lab
from tests.e2e.test_lab_flow import WAIT, _log_in, _start_lab

pytestmark = pytest.mark.django_db(transaction=True)

AXE = Path(__file__).resolve().parents[2] / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
WIDE = {"width": 1366, "height": 768}


def _shot(page, name, full_page=False):
    """Screenshots for people reviewing the layout: set LIVEOPS_SCREENSHOTS=<folder>."""
    folder = os.environ.get("LIVEOPS_SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, f"workspace-{name}.png"), full_page=full_page)


def _with_axe(page):
    """Give every page axe-core (an init script: the pages' Content-Security-Policy refuses inline scripts)."""
    page.add_init_script(path=str(AXE))


def _serious_violations(page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now (WCAG 2 A and AA rules)."""
    found = page.evaluate("""async () => {
        const result = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa', 'best-practice']}});
        return result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' ' + n.failureSummary).join(' | '));
    }""")
    return found


def _in_viewport(page, locator, what):
    box = None
    for _ in range(50):  # a fragment redrawn over the socket is replaced whole: look again once it is back
        box = locator.bounding_box()
        if box is not None:
            break
        page.wait_for_timeout(100)
    size = page.viewport_size
    assert box is not None, f"{what} is not drawn"
    assert box["x"] >= 0 and box["y"] >= 0, f"{what} starts outside the window: {box}"
    assert box["x"] + box["width"] <= size["width"] + 1, f"{what} ends right of the window: {box}"
    assert box["y"] + box["height"] <= size["height"] + 1, f"{what} ends below the window: {box}"


def test_it_keeps_the_lab_in_sight_while_the_student_works(live, page, make_user):
    make_user("wsstudent", password="pw-wsstudent-1")
    lab = load_lab("loadbalancer")
    steps = len(lab.steps)
    page.set_viewport_size(WIDE)
    _with_axe(page)
    _start_lab(page, live["url"], "wsstudent", "pw-wsstudent-1")
    stepper = page.locator("#stepper")
    expect(stepper.get_by_test_id("step-position")).to_have_text(f"Step 1 of {steps}")
    expect(page.locator("#ws-indicator")).to_have_text("Live", timeout=WAIT)
    _shot(page, "1-before-apply")

    # The stepper browses the steps without losing which one the checks say is current.
    stepper.get_by_role("button", name="Next").click()
    expect(stepper.get_by_test_id("step-position")).to_have_text(f"Step 2 of {steps}")
    expect(page.locator(f"#step-{lab.steps[1].key}")).to_be_visible()
    stepper.get_by_role("button", name="Previous").click()
    expect(page.locator(f"#step-{lab.steps[0].key}")).to_be_visible()

    page.evaluate("text => LiveOpsEditor.setValue(text)", lab.example("Deployment") + "---\n" + lab.example("Service"))
    page.get_by_role("button", name="Apply", exact=True).click()
    expect(page.locator("#pods-rows tr", has_text="Running")).to_have_count(3, timeout=WAIT)
    external_cell = page.locator("#svc-lb-test-svc [data-testid=external-ip]")
    expect(external_cell).to_have_text(re.compile(r"^\d+\.\d+\.\d+\.\d+$"), timeout=WAIT)
    checklist = page.locator("#checklist")
    expect(checklist.locator("[data-check='http-external-ip']")).to_have_attribute("data-state", "passed", timeout=WAIT)

    # Reached checks moved the guide on, live: the deploy and external-IP steps are behind the student.
    past = max(i for i, step in enumerate(lab.steps) if "http-external-ip" in step.checks)
    expect(stepper.get_by_test_id("step-position")).not_to_have_text(re.compile(rf"^Step [1-{past + 1}] of"))
    expect(stepper.locator(f"[data-step-mark='{past}']")).to_have_class(re.compile("is-done"))

    # Without scrolling the page: the step, the editor's buttons, the checklist, the pods and the IP.
    _shot(page, "2-after-apply")
    assert page.evaluate("document.scrollingElement.scrollTop") == 0
    assert page.evaluate("document.scrollingElement.scrollHeight <= window.innerHeight + 1")
    for what, locator in (
        ("the current step's title", page.locator("#stepper article:not([hidden]) h3")),
        ("the Apply button", page.get_by_role("button", name="Apply", exact=True)),
        ("the Dry run button", page.get_by_role("button", name="Dry run & diff")),
        ("the checklist", checklist.locator(".checks")),
        ("the pods table", page.locator("#panel-pods table")),
        ("the EXTERNAL-IP cell", external_cell),
    ):
        _in_viewport(page, locator, what)

    # Counts in the tab titles follow the cluster.
    expect(page.locator("#tab-pods .count")).to_have_text("3")
    expect(page.locator("#tab-services .count")).to_have_text("1")

    assert _serious_violations(page) == []

    # Tabs: a real tablist; arrow keys move between the tabs.
    pods_tab = page.get_by_role("tab", name=re.compile("^Pods"))
    pods_tab.click()
    expect(pods_tab).to_have_attribute("aria-selected", "true")
    expect(page.locator("#panel-services")).to_be_hidden()
    page.keyboard.press("ArrowRight")
    events_tab = page.get_by_role("tab", name=re.compile("^Events"))
    expect(events_tab).to_be_focused()
    expect(events_tab).to_have_attribute("aria-selected", "true")
    expect(page.locator("#panel-events")).to_be_visible()
    page.keyboard.press("End")
    expect(page.get_by_role("tab", name=re.compile("^Nodes"))).to_have_attribute("aria-selected", "true")
    expect(page.locator("#nodes-rows [data-testid=node-status]").first).to_have_text("Ready", timeout=WAIT)
    page.get_by_role("tab", name=re.compile("^Namespace")).click()
    expect(page.get_by_test_id("namespace-status")).to_have_text("Active")
    page.get_by_role("tab", name="Overview").click()

    # Panes: resized with the keyboard, collapsed with a button, both remembered after a reload.
    separator = page.locator("[data-separator=guide]")
    guide = page.locator("#pane-guide")
    width = guide.bounding_box()["width"]
    before = int(separator.get_attribute("aria-valuenow"))
    separator.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    expect(separator).to_have_attribute("aria-valuenow", str(before + 6))
    assert guide.bounding_box()["width"] > width + 40
    editor_width = page.locator("#pane-editor").bounding_box()["width"]
    page.get_by_role("button", name="Collapse the live view").click()
    expect(page.locator("#pane-live-body")).to_be_hidden()
    assert page.locator("#pane-editor").bounding_box()["width"] > editor_width + 200
    page.reload()
    expect(page.locator("#pane-live-body")).to_be_hidden()
    expect(page.locator("[data-separator=guide]")).to_have_attribute("aria-valuenow", str(before + 6))
    page.get_by_role("button", name="Expand the live view").click()
    expect(page.locator("#pods-rows tr")).to_have_count(3)

    # A narrow window stacks the panes: the step, the editor, the live view, then the rest.
    page.set_viewport_size({"width": 800, "height": 900})
    tops = [page.locator(sel).bounding_box()["y"] for sel in ("#stepper", "#pane-editor", "#pane-live", "#checklist")]
    assert tops == sorted(tops), tops
    lefts = {round(page.locator(sel).bounding_box()["x"]) for sel in ("#stepper", "#pane-editor", "#pane-live")}
    assert len(lefts) == 1, lefts
    _shot(page, "3-narrow", full_page=True)

    # Once the lab ends, the connection indicator says so in words, not only with a colour.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="End lab").click()
    expect(page.locator("#ws-indicator")).to_have_text("Lab ended — not live", timeout=60_000)


def test_the_catalogue_has_no_serious_accessibility_violation(live, page, make_user):
    make_user("a11ystudent", password="pw-a11ystudent-1")
    _with_axe(page)
    _log_in(page, live["url"], "a11ystudent", "pw-a11ystudent-1")
    assert _serious_violations(page) == []
    # The skip link is the first thing the keyboard reaches.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to the content")).to_be_focused()
