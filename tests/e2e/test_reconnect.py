"""A lab page that loses its WebSocket (server restart) comes back to the present by itself."""

import pytest
from playwright.sync_api import expect

from labs.content_loader import load_lab
from labs.models import LabSession
from tests.e2e.test_lab_flow import WAIT, _start_lab

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_resynchronises_after_a_server_restart(live, page, make_user, sandbox):
    make_user("blipstudent", password="pw-blipstudent-1")
    lab = load_lab("loadbalancer")
    _start_lab(page, live["url"], "blipstudent", "pw-blipstudent-1")
    page.evaluate("text => LiveOpsEditor.setValue(text)", lab.example("Deployment"))
    page.get_by_role("button", name="Apply", exact=True).click()
    expect(page.locator("#pods-rows tr", has_text="Running")).to_have_count(3, timeout=WAIT)
    expect(page.locator("#ws-indicator")).to_have_attribute("data-state", "open")

    namespace = LabSession.objects.get(user__username="blipstudent").namespace
    # While the server is down, the cluster changes: the page cannot be told.
    live["restart_web"](while_down=lambda: sandbox.kubectl(
        "-n", namespace, "scale", "deployment/lb-test", "--replicas=1"))

    # No reload: the socket reconnects and the page shows the present.
    expect(page.locator("#pods-rows tr", has_text="Running")).to_have_count(1, timeout=WAIT)
    expect(page.locator("#ws-indicator")).to_have_attribute("data-state", "open")
    expect(page.locator("#deploy-lb-test")).to_contain_text("1/1")

    # However long the server was away, the page tries again within 4 s of the last try (htmx's own
    # delay doubles up to 64 s: after a slow restart the page stayed stale for up to a minute).
    delays = page.evaluate("[...Array(200).keys()].map(i => htmx.config.wsReconnectDelay(i % 12))")
    assert max(delays) <= 4000 and min(delays) > 0
