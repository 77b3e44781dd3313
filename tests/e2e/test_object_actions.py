"""The live view's object dialogs in real Chromium: a pod's logs followed live, a dialog that follows its
object and closes when it is deleted, and a Deployment paused, resumed and rolled back."""

import json
import re

import pytest
from playwright.sync_api import expect

from labs.models import LabSession
from tests.e2e.helpers import open_object
from tests.e2e.test_lab_flow import WAIT, _start_lab
from tests.labs.helpers import wait_for
from tests.sandbox.helpers import http_get

pytestmark = pytest.mark.django_db(transaction=True)

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: nginx, image: "nginx:1.27", ports: [{containerPort: 80}]}]
"""


def _tab(page, name):
    page.get_by_role("tab", name=re.compile(f"^{name}")).click()


def _running_pod(sandbox, namespace) -> dict:
    pods = json.loads(sandbox.kubectl("-n", namespace, "get", "pods", "-o", "json").stdout)["items"]
    running = [p for p in pods if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]
    return running[0] if len(running) == 1 else {}


def test_object_dialogs_follow_their_objects(live, page, make_user, sandbox):
    make_user("dialogstudent", password="pw-dialogstudent-1")
    _start_lab(page, live["url"], "dialogstudent", "pw-dialogstudent-1")
    namespace = LabSession.objects.get(user__username="dialogstudent").namespace
    sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=DEPLOYMENT)
    dialog = page.get_by_test_id("object-dialog")

    # A pod's logs, followed: a request to the pod shows up as a new line, without a refresh.
    _tab(page, "Pods")
    expect(page.locator("#pods-rows tr", has_text="Running")).to_have_count(1, timeout=WAIT)
    pod = _running_pod(sandbox, namespace)
    name = pod["metadata"]["name"]
    open_object(page, page.locator(f"#pod-{name} button.object-name"))
    dialog.get_by_role("button", name="Logs").click()
    expect(dialog.get_by_test_id("log-status")).to_contain_text("Following", timeout=WAIT)
    http_get(pod["status"]["podIP"], 80, "/?seen-in-the-dialog")
    expect(dialog.get_by_test_id("log-text")).to_contain_text("GET /?seen-in-the-dialog", timeout=WAIT)

    # Deleted from its own dialog: the dialog goes and says why.
    page.once("dialog", lambda confirm: confirm.accept())
    dialog.get_by_role("button", name="Describe").click()
    dialog.get_by_role("button", name="Delete").click()
    expect(page.get_by_test_id("object-gone")).to_have_text(f"pod/{name} was deleted.", timeout=WAIT)
    expect(dialog).to_have_count(0)

    # A Deployment paused and resumed: its open dialog follows (Pause becomes Resume and back).
    _tab(page, "Deployments")
    open_object(page, page.locator("#deploy-web button.object-name"))
    dialog.get_by_role("button", name="Pause").click()
    expect(dialog.get_by_test_id("rollout-state")).to_contain_text("Paused", timeout=WAIT)
    expect(dialog.get_by_test_id("object-text")).to_contain_text("DeploymentPaused", timeout=WAIT)
    dialog.get_by_role("button", name="Resume").click()
    expect(dialog.get_by_role("button", name="Pause")).to_be_visible(timeout=WAIT)

    # A new revision appears in the open dialog; rolling back brings the first template back.
    sandbox.kubectl("-n", namespace, "set", "image", "deployment/web", "nginx=nginx:1.28")
    revision = dialog.locator("select[name=revision]")
    expect(revision.locator("option")).to_have_text(["revision 1: nginx:1.27"], timeout=WAIT)
    expect(dialog.get_by_test_id("object-text")).to_contain_text("nginx:1.28", timeout=WAIT)
    dialog.get_by_role("button", name="Roll back").click()
    expect(dialog.locator("#object-feedback")).to_contain_text("Rolling deployment/web back to revision 1")
    expect(revision.locator("option")).to_have_text(["revision 2: nginx:1.28"], timeout=WAIT)
    expect(dialog.get_by_test_id("object-text")).to_contain_text(re.compile(r"Image:\s+nginx:1\.27"), timeout=WAIT)
    # Each action is in the session's history.
    session = LabSession.objects.get(user__username="dialogstudent")
    wait_for(lambda: {f"Deleted pod/{name}", "Resumed deployment/web", "Rolled back deployment/web to revision 1"}
             <= set(session.log.values_list("message", flat=True)), message="the actions in the history")

    # Closed: the dialog goes.
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_have_count(0)
