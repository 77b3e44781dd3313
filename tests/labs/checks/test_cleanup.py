"""The clean-up check and completion: the Service gone, its balancer decommissioned, its address silent."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.template.loader import render_to_string

from clouds.models import ServiceBalancer
from labs.checks import evaluate, save_checks, save_probe
from labs.checks.completion import completion_summary, format_duration, record_completion
from labs.checks.probes import probe_released
from labs.content_loader import load_lab
from labs.live import fragments
from labs.models import CheckResult, LabSession
from tests.labs import state_builders as sb
from tests.labs.checks.test_evaluation import probe_for

pytestmark = pytest.mark.django_db


def by_key(statuses):
    return {s.key: s for s in statuses}


def reach_everything_but_cleanup(session, state):
    """The student's lab working: the cluster checks and the HTTP probe of the external IP passed."""
    save_probe(session, "http-external-ip", probe_for(state))
    save_checks(session, evaluate(session, state))


def cleaned_up(state):
    """The namespace after `kubectl delete service`: the Deployment and its pods are still there."""
    state = {k: dict(v) for k, v in state.items()}
    state["services"], state["endpoints"] = {}, {}
    return state


def released(ip, port, **extra):
    return {"ip": ip, "port": port, "released": True, "ok": True, "error_kind": "refused",
            "error": f"connection refused on port {port}: nothing listens there", **extra}


class Answering:
    """A real HTTP server on loopback: the former address still answering."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_it_is_not_reached_by_an_empty_namespace_at_the_start():
    session = sb.make_session()
    statuses = evaluate(session, sb.state())
    cleanup = by_key(statuses)["cleanup"]
    assert cleanup.state == "waiting" and not cleanup.optional
    assert "When the checks above are reached, delete your Service" in cleanup.message
    save_checks(session, statuses)
    assert not record_completion(session, statuses)
    assert LabSession.objects.get(pk=session.pk).completed_at is None


def test_it_asks_to_delete_the_service_once_the_lab_works():
    session = sb.make_session()
    state = sb.healthy()
    reach_everything_but_cleanup(session, state)
    cleanup = by_key(evaluate(session, state))["cleanup"]
    assert cleanup.state == "waiting"
    assert cleanup.message.startswith("When you are done, delete the Service lb-test-svc")


def test_it_waits_for_the_cloud_to_decommission_the_balancer(make_user):
    session = sb.make_session()
    state = sb.healthy()
    reach_everything_but_cleanup(session, state)
    balancer = ServiceBalancer.objects.create(cluster=session.cluster, namespace=session.namespace,
                                              service="lb-test-svc", provider="octavia", name="kube_service_x",
                                              state=ServiceBalancer.State.DELETING)
    cleanup = by_key(evaluate(session, cleaned_up(state)))["cleanup"]
    assert cleanup.state == "waiting"
    assert "lb-test-svc is deleted; the cloud is decommissioning its load balancer kube_service_x (deleting)" in (
        cleanup.message)

    ServiceBalancer.objects.filter(pk=balancer.pk).update(state=ServiceBalancer.State.DELETED)
    cleanup = by_key(evaluate(session, cleaned_up(state)))["cleanup"]
    assert "checking from the outside that 127.31.129.5 no longer answers" in cleanup.message


def test_it_is_reached_only_when_the_former_address_no_longer_answers():
    server = Answering()
    try:
        session = sb.make_session()
        state = sb.healthy()
        state["services"] = {"lb-test-svc": sb.service(ip="127.0.0.1", port=server.port)}
        reach_everything_but_cleanup(session, state)
        after = cleaned_up(state)

        answer = probe_released("127.0.0.1", server.port)
        assert answer["released"] is False and answer["status"] == 200
        save_probe(session, "cleanup", {**answer, "ip": "127.0.0.1", "port": server.port, "final": False})
        cleanup = by_key(evaluate(session, after))["cleanup"]
        assert cleanup.state == "waiting"
        assert f"127.0.0.1 still answers on port {server.port} (HTTP 200)" in cleanup.message

        save_probe(session, "cleanup", {**answer, "ip": "127.0.0.1", "port": server.port, "final": True})
        cleanup = by_key(evaluate(session, after))["cleanup"]
        assert cleanup.state == "failing" and "the cloud has not released the address" in cleanup.message
    finally:
        server.close()

    answer = probe_released("127.0.0.1", server.port)
    assert answer["released"] is True and answer["error_kind"] == "refused"
    save_probe(session, "cleanup", {**answer, "ip": "127.0.0.1", "port": server.port, "final": False})
    cleanup = by_key(evaluate(session, after))["cleanup"]
    assert cleanup.state == "passed"
    assert cleanup.message == ("lb-test-svc is gone, its load balancer decommissioned, and 127.0.0.1 no longer "
                               f"answers (connection refused on port {server.port}: nothing listens there).")


def test_it_keeps_the_record_and_shows_the_cluster_now_after_cleanup():
    session = sb.make_session()
    state = sb.healthy()
    reach_everything_but_cleanup(session, state)
    after = cleaned_up(state)
    save_probe(session, "cleanup", released("127.31.129.5", 80))
    statuses = evaluate(session, after)
    save_checks(session, statuses)
    checks = by_key(statuses)
    assert checks["cleanup"].passed
    assert checks["external-ip"].cleaned_up and checks["external-ip"].message == "no Service"
    assert checks["deployment-ready"].passed and not checks["deployment-ready"].cleaned_up

    html = render_to_string("labs/fragments/checklist.html", fragments.checklist_context(session, state=after))
    assert '<span class="muted" data-testid="checks-count">5/5</span>' in html
    assert "Completed" in html
    assert "now: no Service (expected after clean-up)" in html
    assert 'data-check="external-ip" data-state="waiting" data-reached="true"' in html
    assert "No Service of type LoadBalancer yet" not in html
    assert "it no longer passes" not in html and "check-failing" not in html
    assert 'data-testid="diagnoses"' not in html  # nothing to fix after a clean-up

    empty = sb.state()  # the Deployment deleted too
    checks = by_key(evaluate(session, empty))
    assert checks["deployment-ready"].cleaned_up and checks["deployment-ready"].message == "no Deployment"
    assert checks["cleanup"].passed


def test_it_completes_the_lab_with_the_time_of_each_step():
    session = sb.make_session()
    state = sb.healthy()
    reach_everything_but_cleanup(session, state)
    save_probe(session, "cleanup", released("127.31.129.5", 80))
    statuses = evaluate(session, cleaned_up(state))
    save_checks(session, statuses)
    assert record_completion(session, statuses)
    assert not record_completion(session, statuses)  # once
    session.refresh_from_db()
    cleanup_at = CheckResult.objects.get(session=session, key="cleanup").passed_at
    assert session.completed_at == cleanup_at
    assert session.log.filter(kind="completed").count() == 1

    summary = completion_summary(session, load_lab("loadbalancer"))
    steps = {s["title"]: s for s in summary["steps"]}
    assert list(steps) == ["Write the Deployment and the Service", "Get the external IP and open it",
                           "Give it a name (optional)", "Clean up"]
    assert steps["Give it a name (optional)"]["optional"] and steps["Give it a name (optional)"]["at"] is None
    assert steps["Clean up"]["at"] == cleanup_at
    assert summary["total"] == format_duration(cleanup_at - session.started_at)

    html = fragments.render_session_fragment("status", session)
    assert '<span class="badge state-completed" data-testid="session-state">Completed</span>' in html
    assert f'Completed in <strong data-testid="completion-total">{summary["total"]}</strong>' in html
    assert "Clean up:" in html and "Give it a name (optional):" in html
    assert "End lab" in html  # a completed lab stays usable until the student ends it


def test_it_formats_durations_as_a_student_reads_them():
    from datetime import timedelta
    assert format_duration(timedelta(seconds=45)) == "45 s"
    assert format_duration(timedelta(minutes=12, seconds=3)) == "12 min 03 s"
    assert format_duration(timedelta(hours=1, minutes=4, seconds=59)) == "1 h 04 min"


def test_it_leaves_the_ends_own_cleanup_out():
    """Ending the lab deletes the Service too: that is not the student's clean-up, and completes nothing."""
    from labs.checks.probes import maybe_enqueue_cleanup_probe, probe_cleanup

    session = sb.make_session()
    state = sb.healthy()
    reach_everything_but_cleanup(session, state)
    LabSession.objects.filter(pk=session.pk).update(state=LabSession.State.ENDING)
    session.refresh_from_db()
    assert maybe_enqueue_cleanup_probe(session, cleaned_up(state)) is False
    assert probe_cleanup.run(str(session.id)) == {}

    save_probe(session, "cleanup", released("127.31.129.5", 80))  # had a probe been made
    statuses = evaluate(session, cleaned_up(state))
    save_checks(session, statuses)
    assert by_key(statuses)["cleanup"].passed
    assert not record_completion(session, statuses)
    assert LabSession.objects.get(pk=session.pk).completed_at is None
