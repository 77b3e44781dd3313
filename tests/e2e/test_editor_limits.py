"""In real Chromium against the running product: a text the server refuses before the view is explained on the page."""

import pytest
from django.test import Client
from playwright.sync_api import expect

from clouds.models import Cluster
from tests.e2e.helpers import poll
from tests.labs.helpers import make_session
from tests.manifests import LAB_MANIFEST

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 30_000  # ms

PASTE = """(text) => {
    const data = new DataTransfer()
    data.setData('text/plain', text)
    const target = document.querySelector('[data-yaml-editor] textarea')
    target.focus()
    target.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true}))
}"""


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1366, "height": 768}}


def _open_session_page(live, page, make_user):
    user = make_user("paster", password="pw-paster-1")
    session = make_session(user, cluster=Cluster.objects.get(name="sandbox"))
    client = Client()
    client.force_login(user)
    page.context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live["url"]}])
    page.goto(f"{live['url']}/sessions/{session.id}/")
    poll(page, "window.LiveOpsEditor && window.LiveOpsEditor.editor")
    return session


def test_it_says_why_an_oversized_paste_was_not_checked(live, page, make_user):
    _open_session_page(live, page, make_user)
    error = page.get_by_test_id("request-error")
    expect(error).to_be_hidden()

    text = ("# " + "x" * 997 + "\n") * 3000  # 3,000,000 bytes: over Django's 2,621,440 bytes per request
    page.evaluate("LiveOpsEditor.setValue('')")
    page.evaluate(PASTE, text)
    assert page.evaluate("LiveOpsEditor.getValue().length") == len(text)
    page.get_by_role("button", name="Check", exact=True).click()
    expect(error).to_be_visible(timeout=WAIT)
    expect(error).to_contain_text("The server refused the text before checking it (HTTP 400)")
    expect(error).to_contain_text("it is 3,000,000 bytes of UTF-8")
    expect(error).to_contain_text("the server takes at most 2,621,440 bytes in one request")
    expect(error).to_contain_text("at most 20,000 bytes")
    assert error.is_visible() and error.bounding_box()["height"] > 0

    # The next request that goes through replaces the message.
    page.evaluate("(text) => LiveOpsEditor.setValue(text)", LAB_MANIFEST)
    page.get_by_role("button", name="Check", exact=True).click()
    expect(error).to_be_hidden(timeout=WAIT)
    expect(page.locator("#problems")).to_contain_text("Looks good", timeout=WAIT)
