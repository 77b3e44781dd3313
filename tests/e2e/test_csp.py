"""The enforced Content-Security-Policy breaks nothing a user relies on, in real Chromium against the running
product: every page is visited, its scripts, editor (with its web workers) and WebSocket work, and the
browser reports no violation of the policy (`securitypolicyviolation` events and console errors)."""


import pytest
from playwright.sync_api import expect

from clouds.models import CloudCredential, Cluster
from labs.models import Cohort
from teaching.roles import make_instructor
from tests.e2e.helpers import poll
from tests.e2e.test_lab_flow import WAIT

pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORT = {"width": 1366, "height": 768}
# Every violation the page reports, whatever page it is on (kept across navigations by the binding).
COLLECT = """
document.addEventListener('securitypolicyviolation', function (e) {
  window.reportCspViolation({page: location.pathname, directive: e.violatedDirective, blocked: e.blockedURI,
                             source: e.sourceFile, line: e.lineNumber, sample: e.sample});
}, true);
"""


class Violations(list):
    def text(self):
        """Each distinct violation once, with how often it happened."""
        counts = {}
        for v in self:
            key = str(v)
            counts[key] = counts.get(key, 0) + 1
        return "\n".join(f"{n} x {key}" for key, n in counts.items())


def _context(browser):
    """A browser context whose pages report every CSP violation (events and console errors) into a list."""
    context = browser.new_context(viewport=VIEWPORT)
    seen = Violations()
    context.expose_function("reportCspViolation", lambda violation: seen.append(violation))
    context.add_init_script(COLLECT)

    def on_page(page):
        page.on("console", lambda m: m.type == "error" and "Content Security Policy" in m.text
                and seen.append({"page": page.url, "console": m.text[:160], "at": m.location.get("url")}))

    context.on("page", on_page)
    return context, seen


def _log_in(page, url, username, password):
    page.goto(url + "/login/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_the_student_pages_and_the_lab_run_under_the_policy(live, browser, make_user):
    make_user("cspstudent", password="pw-cspstudent-1")
    context, violations = _context(browser)
    page = context.new_page()
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    try:
        _log_in(page, live["url"], "cspstudent", "pw-cspstudent-1")
        expect(page.get_by_role("heading", name="Labs")).to_be_visible()  # the catalogue

        page.get_by_role("button", name="Start lab").click()
        expect(page.get_by_test_id("session-state")).to_have_text("Ready", timeout=WAIT)
        # The live connection is open (the page's WebSocket to this site).
        expect(page.locator("#ws-indicator")).to_have_attribute("data-state", "open", timeout=WAIT)
        assert any("/ws/sessions/" in url for url in sockets)

        # The editor runs: its lines are laid out one below the other (Monaco positions them with styles) ...
        poll(page, "!!(window.LiveOpsEditor && window.LiveOpsEditor.editor)")
        page.evaluate("LiveOpsEditor.setValue('apiVersion: apps/v1\\nkind: Deployment\\nreplica: 3\\n')")
        lines = page.locator(".monaco-editor .view-line")
        expect(lines.nth(2)).to_contain_text("replica: 3")
        # Read in one go: Monaco may redraw its lines between two separate reads.
        tops = page.evaluate("() => [...document.querySelectorAll('.monaco-editor .view-line')].slice(0, 3)"
                             ".map(line => line.getBoundingClientRect().top)")
        assert len(tops) == 3 and len(set(tops)) == 3, tops  # blocked style attributes would stack them at 0
        # ... and its YAML worker checks the text against the schema (a web worker under worker-src).
        poll(page, "LiveOpsEditor.monaco.editor.getModelMarkers({}).some(m => /replica/.test(m.message))")
    finally:
        context.close()
    assert not violations, violations.text()


def test_the_instructor_dashboard_runs_under_the_policy(live, browser, make_user):
    teacher = make_user("cspteacher", password="pw-cspteacher-1")
    make_instructor(teacher)
    cohort = Cohort.objects.create(name="CSP class", stuck_minutes=30)
    cohort.instructors.add(teacher)
    context, violations = _context(browser)
    page = context.new_page()
    try:
        _log_in(page, live["url"], "cspteacher", "pw-cspteacher-1")
        page.goto(f"{live['url']}/teaching/cohorts/{cohort.pk}/")
        expect(page.get_by_role("heading", name="CSP class")).to_be_visible()
        expect(page.locator("#ws-indicator")).to_have_attribute("data-state", "open", timeout=WAIT)
        # A click in the join link selects it (a script now, not an inline handler).
        page.get_by_label("Join link").click()
        assert page.evaluate("() => { const f = document.querySelector('.join-link'); "
                             "return f.selectionEnd - f.selectionStart === f.value.length && f.value.length > 0 }")
        expect(page.get_by_test_id("funnel").locator("progress").first).to_be_visible()
    finally:
        context.close()
    assert not violations, violations.text()


def test_the_admin_and_its_connection_test_run_under_the_policy(live, browser, make_user):
    make_user("cspadmin", password="pw-cspadmin-12", is_staff=True, is_superuser=True)
    credential = CloudCredential.objects.create(
        name="unreachable", auth_url="http://127.0.0.1:9/v3", username="u", password="p", project_name="p")
    cluster = Cluster.objects.get(name="sandbox")
    cohort = Cohort.objects.create(name="CSP admin class")
    context, violations = _context(browser)
    page = context.new_page()
    url = live["url"]
    try:
        page.goto(f"{url}/admin/login/?next=/admin/")
        page.fill("input[name=username]", "cspadmin")
        page.fill("input[name=password]", "pw-cspadmin-12")
        page.click("input[type=submit]")
        expect(page.get_by_role("heading", name="Site administration")).to_be_visible()

        page.goto(f"{url}/admin/clouds/cluster/{cluster.pk}/change/")
        expect(page.locator("input[name=name]")).to_have_value("sandbox")
        page.goto(f"{url}/admin/clouds/cluster/add/")
        expect(page.get_by_role("heading", name="Add cluster")).to_be_visible()
        # The admin's own scripts: a two-box chooser and date-time shortcuts, drawn by script.
        page.goto(f"{url}/admin/labs/cohort/{cohort.pk}/change/")
        expect(page.locator("#id_students_from")).to_be_visible()
        expect(page.locator(".datetimeshortcuts").first).to_be_visible()

        # The credential's page: "Test connection" runs on the worker, its steps arrive over the WebSocket.
        page.goto(f"{url}/admin/clouds/cloudcredential/{credential.pk}/change/")
        result = page.get_by_test_id("connection-test")
        page.get_by_role("button", name="Test connection").click()
        expect(result).to_have_attribute("data-state", "failed", timeout=WAIT)
        expect(result.locator("[data-step='authentication']")).to_have_attribute("data-state", "failed")
        # The panel's stylesheet applies (the badge is drawn as a badge, not as plain text).
        badge = page.get_by_test_id("connection-test-result")
        expect(badge).to_have_css("border-radius", "4px")  # looked at again if the socket was redrawing it
    finally:
        context.close()
    assert not violations, violations.text()
