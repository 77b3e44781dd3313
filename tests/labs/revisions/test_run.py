"""The apply task: dry run, diff and server-side apply on the real sandbox cluster."""

import json

import pytest

from labs.content_loader import load_lab
from labs.lifecycle import provision_session
from labs.models import ManifestRevision
from labs.revisions import apply_revision
from tests.labs.helpers import make_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def ready_session(sandbox, cluster, make_user):
    session = make_session(make_user(), cluster=cluster, state="provisioning")
    provision_session.run(str(session.id))
    session.refresh_from_db()
    assert session.state == "ready", session.error
    return session


def _text():
    lab = load_lab("loadbalancer")
    return lab.example("Deployment") + "---\n" + lab.example("Service")


def _revision(session, text, number=1):
    return ManifestRevision.objects.create(session=session, number=number, text=text, status="applying")


def test_it_applies_the_deployment_and_service(sandbox, ready_session):
    revision = _revision(ready_session, _text())
    apply_revision.run(revision.pk)
    revision.refresh_from_db()
    assert revision.status == "applied", revision.message
    assert {r["action"] for r in revision.result} == {"created"}
    svc = json.loads(sandbox.kubectl("-n", ready_session.namespace, "get", "svc", "lb-test-svc", "-o", "json",
                                  "--show-managed-fields").stdout)
    assert svc["spec"]["type"] == "LoadBalancer"
    managers = {m["manager"] for m in svc["metadata"].get("managedFields", [])}
    assert "liveops-lab" in managers


def test_it_shows_a_diff_on_a_dry_run_and_changes_nothing(sandbox, ready_session):
    first = _revision(ready_session, _text())
    apply_revision.run(first.pk)
    changed = _text().replace("replicas: 3", "replicas: 2")
    dry = _revision(ready_session, changed, number=2)
    apply_revision.run(dry.pk, dry_run_only=True)
    dry.refresh_from_db()
    assert dry.status == "draft", dry.message
    deployment = next(r for r in dry.result if r["kind"] == "Deployment")
    assert "-  replicas: 3" in deployment["diff"] and "+  replicas: 2" in deployment["diff"]
    live = json.loads(sandbox.kubectl("-n", ready_session.namespace, "get", "deploy", "lb-test", "-o", "json").stdout)
    assert live["spec"]["replicas"] == 3


def test_it_reports_a_second_apply_without_changes_as_unchanged(ready_session):
    apply_revision.run(_revision(ready_session, _text()).pk)
    again = _revision(ready_session, _text(), number=2)
    apply_revision.run(again.pk)
    again.refresh_from_db()
    assert again.status == "applied"
    assert {r["action"] for r in again.result} == {"unchanged"}


def test_it_keeps_invalid_text_from_the_cluster(sandbox, ready_session):
    revision = _revision(ready_session, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n")
    apply_revision.run(revision.pk)
    revision.refresh_from_db()
    assert revision.status == "invalid"
    assert revision.problems and revision.problems[0]["line"]
    result = sandbox.kubectl("-n", ready_session.namespace, "get", "pods", "-o", "name")
    assert result.stdout.strip() == ""


def test_it_does_not_apply_a_revision_twice(sandbox, ready_session):
    revision = _revision(ready_session, _text())
    apply_revision.run(revision.pk)
    sandbox.kubectl("-n", ready_session.namespace, "scale", "deployment/lb-test", "--replicas=1")
    apply_revision.run(revision.pk)  # a redelivered task
    live = json.loads(sandbox.kubectl("-n", ready_session.namespace, "get", "deploy", "lb-test", "-o", "json").stdout)
    assert live["spec"]["replicas"] == 1


def test_it_marks_the_revision_failed_when_the_cluster_config_is_broken(ready_session, tmp_path):
    cluster = ready_session.cluster
    cluster.kubeconfig_path = str(tmp_path / "missing-kubeconfig")
    cluster.save()
    revision = _revision(ready_session, _text())
    apply_revision.run(revision.pk)
    revision.refresh_from_db()
    assert revision.status == "failed"
    assert "missing-kubeconfig" not in revision.message
