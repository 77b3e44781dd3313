import random

import pytest
import yaml
from kubernetes import client

from clouds.kube import list_namespace_with, reset_clients
from clouds.models import Cluster
from labs.checks import dns as labdns
from labs.checks import evaluate, lb_target, refresh
from labs.checks.diagnosis import diagnose
from labs.checks.probes import probe_session
from labs.models import CheckResult
from tests import manifests
from tests.labs import state_builders as sb
from tests.labs.helpers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

DEPLOYMENT = yaml.safe_load(manifests.DEPLOYMENT)


def service(target_port=80):
    svc = yaml.safe_load(manifests.SERVICE)
    svc["spec"]["ports"][0]["targetPort"] = target_port
    return svc


@pytest.fixture
def lab(sandbox, dns_settings, monkeypatch):
    """A session whose namespace on the sandbox holds the lab's Deployment; returns (session, api)."""
    api = sandbox.api_client()
    namespace = f"lab-probe-{random.randrange(10**6)}"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
    client.AppsV1Api(api).create_namespaced_deployment(namespace, DEPLOYMENT)
    cluster = Cluster.objects.create(name=f"sandbox-{namespace}", kubeconfig_path=sandbox.kubeconfig)
    session = sb.make_session(namespace=namespace)
    session.cluster = cluster
    session.save()
    retries, notified = [], []
    monkeypatch.setattr(probe_session, "apply_async", lambda args, countdown: retries.append((args, countdown)))
    monkeypatch.setattr(refresh, "notify_session", lambda sid, what: notified.append(what))
    yield session, api, retries, notified
    client.CoreV1Api(api).delete_namespace(namespace)
    # The sandbox is shared with other tests: leave it no idle connection, ours or the probes'.
    api.close()
    reset_clients()


def serving_state(api, namespace):
    """The namespace once its LoadBalancer has an address and 3 ready endpoints (read from the API)."""
    def ready():
        state = list_namespace_with(api, namespace)
        target = lb_target(state)
        return state if target and target["ip"] and target["ready"] == 3 else None
    return wait_for(ready, message="external IP and ready endpoints")


def test_it_gets_the_page_from_the_external_ip_and_names_the_pod(lab):
    session, api, retries, notified = lab
    client.CoreV1Api(api).create_namespaced_service(session.namespace, service())
    state = serving_state(api, session.namespace)
    ip = lb_target(state)["ip"]

    probe_session.run(str(session.id))

    http = CheckResult.objects.get(session=session, key="http-external-ip")
    probe = http.detail["probe"]
    assert probe["status"] == 200 and probe["ok"] is True
    assert probe["pod"] in state["pods"]
    assert probe["welcome"] is True
    assert probe["ip"] == ip and probe["latency_ms"] >= 0
    assert http.passed and http.passed_at is not None
    assert "checks" in notified and retries == []

    sslip = CheckResult.objects.get(session=session, key="dns-sslip")
    assert sslip.passed
    assert sslip.detail["probe"]["name"] == f"{ip}.sslip.io"
    assert sslip.detail["probe"]["resolved"] == [ip]
    assert sslip.detail["probe"]["dashed"]["ok"] is True

    statuses = {s.key: s for s in evaluate(session, state)}
    assert [k for k, s in statuses.items() if s.passed] == [
        "deployment-ready", "service-selects-pods", "external-ip", "http-external-ip", "dns-sslip"]
    assert statuses["dns-record"].state == "waiting"
    assert diagnose(session, state) == []


def test_it_checks_the_students_own_record(lab):
    session, api, retries, notified = lab
    client.CoreV1Api(api).create_namespaced_service(session.namespace, service())
    state = serving_state(api, session.namespace)
    ip = lb_target(state)["ip"]

    labdns.set_student_record(session, f"probe{random.randrange(10**6)}", "127.1.2.3")  # a wrong address
    probe_session.run(str(session.id))
    record = CheckResult.objects.get(session=session, key="dns-record")
    assert not record.passed and record.detail["probe"]["resolved"] == ["127.1.2.3"]
    assert [d.code for d in diagnose(session, state)] == ["dns-wrong-ip"]
    assert len(retries) == 1  # a bounded retry was scheduled

    labdns.set_student_record(session, session.dns_record.name.split(".")[0], ip)
    probe_session.run(str(session.id))
    record = CheckResult.objects.get(session=session, key="dns-record")
    assert record.passed
    assert record.detail["probe"]["status"] == 200
    assert record.detail["probe"]["pod"] in state["pods"]
    assert {s.key: s.state for s in evaluate(session, state)}["dns-record"] == "passed"


def test_it_fails_on_a_wrong_target_port_and_names_both_ports(lab):
    session, api, retries, notified = lab
    client.CoreV1Api(api).create_namespaced_service(session.namespace, service(target_port=8080))
    state = serving_state(api, session.namespace)

    probe_session.run(str(session.id))

    http = CheckResult.objects.get(session=session, key="http-external-ip")
    assert not http.passed
    assert http.detail["probe"]["error_kind"] in ("refused", "reset")
    assert {s.key: s.state for s in evaluate(session, state)}["http-external-ip"] == "failing"
    found = {d.code: d for d in diagnose(session, state)}
    assert "target-port-refused" in found
    assert "8080" in found["target-port-refused"].message
    assert "containerPort 80" in found["target-port-refused"].message
    assert retries == [((str(session.id), 1), 2)]


def test_it_retries_a_bounded_number_of_times(lab):
    session, api, retries, notified = lab
    client.CoreV1Api(api).create_namespaced_service(session.namespace, service(target_port=8080))
    serving_state(api, session.namespace)
    probe_session.run(str(session.id), 3)
    assert retries == []


def test_it_does_nothing_for_a_service_without_an_address(lab):
    session, api, retries, notified = lab
    assert probe_session.run(str(session.id)) == {}
    assert not CheckResult.objects.filter(session=session, detail__has_key="probe").exists()
    assert {s.key: s.state for s in evaluate(session, {})}["http-external-ip"] == "waiting"


def test_it_counts_only_an_answer_from_the_sessions_own_pods():
    """Another namespace's nginx answering on the address (two sandboxes sharing addresses) is no pass."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from labs.checks.probes import probe_http

    class Elsewhere(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<h1>Welcome to nginx!</h1> served by lb-test-5d9f-other"
            self.send_response(200)
            self.send_header("X-Pod-Name", "lb-test-5d9f-other")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        target = {"ip": "127.0.0.1", "port": server.server_address[1]}
        result = probe_http(target, pods=["lb-test-5d9f-abcde", "lb-test-5d9f-fghij"])
        assert result["status"] == 200 and result["ok"] is False
        assert result["error_kind"] == "foreign-pod"
        assert "lb-test-5d9f-other, which is not one of your pods" in result["summary"]
        assert probe_http(target, pods=["lb-test-5d9f-other"])["ok"] is True
    finally:
        server.shutdown()
        server.server_close()
