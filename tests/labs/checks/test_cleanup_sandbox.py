"""The clean-up check against the sandbox: the Service deleted, its address released, tried from outside."""

import pytest
from kubernetes import client

from clouds.kube import list_namespace_with
from labs.checks import evaluate
from labs.checks.probes import http_get, probe_cleanup, probe_session
from labs.models import CheckResult, LabSession
from tests.labs.checks.test_probes import lab, service, serving_state  # noqa: F401 - the fixture
from tests.labs.helpers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_sees_the_released_address_and_completes_the_lab(lab, monkeypatch):  # noqa: F811
    session, api, _retries, notified = lab
    retries = []
    monkeypatch.setattr(probe_cleanup, "apply_async", lambda args, countdown: retries.append((args, countdown)))
    core = client.CoreV1Api(api)
    core.create_namespaced_service(session.namespace, service())
    state = serving_state(api, session.namespace)
    ip = state["services"]["lb-test-svc"]["status"]["loadBalancer"]["ingress"][0]["ip"]
    probe_session.run(str(session.id))
    assert probe_cleanup.run(str(session.id)) == {}  # nothing to try while the Service is there
    assert {s.key: s.state for s in evaluate(session, state)}["cleanup"] == "waiting"

    core.delete_namespaced_service("lb-test-svc", session.namespace)
    wait_for(lambda: "lb-test-svc" not in list_namespace_with(api, session.namespace)["services"],
             message="the Service to be gone")
    assert probe_cleanup.run(str(session.id)) == {"released": True,
                                                  "error": "connection refused on port 80: nothing listens there"}
    assert retries == []
    assert http_get(ip, 80)["error_kind"] == "refused"  # the same, seen by the test

    cleanup = CheckResult.objects.get(session=session, key="cleanup")
    assert cleanup.passed and cleanup.passed_at is not None
    assert f"{ip} no longer answers" in cleanup.detail["message"]
    session = LabSession.objects.get(pk=session.pk)
    assert session.completed_at == cleanup.passed_at
    assert "checks" in notified  # the page's checklist is redrawn
