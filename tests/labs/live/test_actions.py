"""Pause, resume and roll back, as the Celery tasks do them, against the sandbox."""

import json

import pytest

from labs.live import actions
from labs.models import LabSession, SessionLog
from tests.labs.helpers import make_session, wait_for

pytestmark = pytest.mark.django_db

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: nginx, image: "nginx:1.27", ports: [{{containerPort: 80}}]}}]
"""


def get(sandbox, ns, *args):
    return json.loads(sandbox.kubectl("get", *args, "-n", ns, "-o", "json").stdout)


def image(sandbox, ns) -> str:
    return get(sandbox, ns, "deployment", "web")["spec"]["template"]["spec"]["containers"][0]["image"]


def progressing(sandbox, ns) -> str:
    conditions = get(sandbox, ns, "deployment", "web")["status"].get("conditions") or []
    return next((c["reason"] for c in conditions if c["type"] == "Progressing"), "")


def replicasets(sandbox, ns) -> int:
    return len(get(sandbox, ns, "replicasets")["items"])


def history(session) -> list[str]:
    return list(SessionLog.objects.filter(session=session, kind="action").values_list("message", flat=True))


@pytest.fixture
def lab(sandbox, cluster, make_user):
    session = make_session(make_user("alice"), cluster=cluster)
    sandbox.kubectl("create", "namespace", session.namespace)
    sandbox.kubectl("apply", "-f", "-", input=DEPLOYMENT.format(ns=session.namespace))
    wait_for(lambda: replicasets(sandbox, session.namespace) == 1, message="the first ReplicaSet")
    yield session
    sandbox.kubectl("delete", "namespace", session.namespace, "--wait=false", check=False)


def test_it_pauses_and_resumes_a_rollout(sandbox, lab):
    ns = lab.namespace
    assert actions.pause_deployment.run(str(lab.id), "web")["ok"]
    assert get(sandbox, ns, "deployment", "web")["spec"]["paused"] is True
    wait_for(lambda: progressing(sandbox, ns) == "DeploymentPaused", message="the paused condition")
    sandbox.kubectl("-n", ns, "set", "image", "deployment/web", "nginx=nginx:1.28")
    assert replicasets(sandbox, ns) == 1  # the new template waits

    assert actions.resume_deployment.run(str(lab.id), "web")["ok"]
    wait_for(lambda: replicasets(sandbox, ns) == 2, message="the new template rolling out")
    assert history(lab) == ["Paused deployment/web: changes to its template wait until it is resumed",
                            "Resumed deployment/web"]


def test_it_rolls_back_to_an_earlier_revision(sandbox, lab):
    ns = lab.namespace
    sandbox.kubectl("-n", ns, "set", "image", "deployment/web", "nginx=nginx:1.28")
    wait_for(lambda: replicasets(sandbox, ns) == 2, message="revision 2")

    missing = actions.rollback_deployment.run(str(lab.id), "web", 5)
    assert not missing["ok"] and missing["message"] == "deployment/web has no revision 5 (its revisions: 1, 2)."
    result = actions.rollback_deployment.run(str(lab.id), "web", 1)
    assert result == {"ok": True, "message": "Rolled back deployment/web to revision 1"}
    assert image(sandbox, ns) == "nginx:1.27"
    # Revision 1's ReplicaSet rolls out again, as the newest revision.
    wait_for(lambda: get(sandbox, ns, "deployment", "web")["metadata"]["annotations"][
        "deployment.kubernetes.io/revision"] == "3", message="revision 3")
    assert replicasets(sandbox, ns) == 2

    actions.pause_deployment.run(str(lab.id), "web")
    paused = actions.rollback_deployment.run(str(lab.id), "web", 2)
    assert not paused["ok"] and "is paused: resume it first" in paused["message"]
    assert image(sandbox, ns) == "nginx:1.27"
    assert history(lab)[0] == "deployment/web has no revision 5 (its revisions: 1, 2)."
    assert history(lab)[1] == "Rolled back deployment/web to revision 1"


def test_it_does_nothing_for_a_lab_that_is_not_running(make_user):
    lab = make_session(make_user("alice"), state=LabSession.State.ENDED)
    for result in (actions.pause_deployment.run(str(lab.id), "web"),
                   actions.rollback_deployment.run(str(lab.id), "web", 1)):
        assert result == actions.NOT_RUNNING
