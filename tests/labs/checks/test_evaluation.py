from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from labs.checks import evaluate, lb_target, on_namespace_change, refresh, save_checks, save_probe, target_signature
from labs.live import fragments
from labs.models import CheckResult, DnsRecord
from tests.labs import state_builders as sb

pytestmark = pytest.mark.django_db


def by_key(statuses):
    return {s.key: s for s in statuses}


def probe_for(state, ok=True, **extra):
    target = lb_target(state)
    result = {"ok": ok, "signature": target_signature(target), "ip": target["ip"], "port": target["port"],
              "url": f"http://{target['ip']}/", "summary": "HTTP 200 from pod p1 in 3 ms." if ok else "Refused."}
    if ok:
        result.update(status=200, latency_ms=3.2, pod="lb-test-abc-1", welcome=True)
    result.update(extra)
    return result


def test_it_passes_every_cluster_check_on_a_finished_lab():
    session = sb.make_session()
    result = by_key(evaluate(session, sb.healthy()))
    assert result["deployment-ready"].state == "passed"
    assert result["service-selects-pods"].state == "passed"
    assert result["external-ip"].state == "passed"
    assert "127.31.129.5" in result["external-ip"].message
    assert [s.key for s in evaluate(session, sb.healthy())] == [
        "deployment-ready", "service-selects-pods", "external-ip", "http-external-ip", "dns-sslip", "dns-record",
        "cleanup"]


def test_it_waits_for_everything_in_an_empty_namespace():
    session = sb.make_session()
    result = evaluate(session, sb.state())
    assert {s.state for s in result} == {"waiting"}
    assert not any(s.passed for s in result)


def test_it_waits_while_replicas_start_and_fails_on_image_pull():
    session = sb.make_session()
    pods = [sb.pod("p1", ready=True), sb.pod("p2", ready=False)]
    starting = sb.state(deployments=[sb.deployment(ready=1)], pods=pods)
    status = by_key(evaluate(session, starting))["deployment-ready"]
    assert status.state == "waiting"
    assert "1/3" in status.message

    pulling = sb.state(deployments=[sb.deployment(ready=0)],
                       pods=[sb.pod("p1", ready=False, image="ngnix", waiting=("ImagePullBackOff", "Back-off"))])
    status = by_key(evaluate(session, pulling))["deployment-ready"]
    assert status.state == "failing"
    assert "ImagePullBackOff" in status.message


def test_it_does_not_count_a_deployment_whose_rollout_is_not_observed():
    session = sb.make_session()
    d = sb.deployment()
    d["metadata"]["generation"] = 2  # a new spec the controller has not seen yet
    status = by_key(evaluate(session, sb.state(deployments=[d])))["deployment-ready"]
    assert status.state != "passed"


def test_it_fails_service_selects_pods_when_the_selector_matches_no_pod():
    session = sb.make_session()
    pods = [sb.pod("p1")]
    state = sb.state(deployments=[sb.deployment(replicas=1, ready=1)], pods=pods,
                     services=[sb.service(selector={"app": "lb-tset"})], endpoints_=[sb.endpoints()])
    status = by_key(evaluate(session, state))["service-selects-pods"]
    assert status.state == "failing"
    assert "selects no pod" in status.message


def test_it_waits_for_service_endpoints_that_are_not_ready_yet():
    session = sb.make_session()
    pods = [sb.pod("p1", ready=False)]
    state = sb.state(pods=pods, services=[sb.service()], endpoints_=[sb.endpoints(not_ready=pods)])
    assert by_key(evaluate(session, state))["service-selects-pods"].state == "waiting"


def test_it_reports_external_ip_pending_failed_and_wrong_type():
    session = sb.make_session()
    pending = sb.state(services=[sb.service()])
    assert by_key(evaluate(session, pending))["external-ip"].state == "waiting"

    failed = sb.state(services=[sb.service()], events=[
        sb.event("Service", "lb-test-svc", "EnsuringLoadBalancer", "Ensuring load balancer", at="2025-01-01T00:00:00Z"),
        sb.event("Service", "lb-test-svc", "SyncLoadBalancerFailed", "quota exceeded: floating IPs",
                 at="2025-01-01T00:00:05Z", type_="Warning"),
    ])
    status = by_key(evaluate(session, failed))["external-ip"]
    assert status.state == "failing"
    assert "quota exceeded: floating IPs" in status.message

    cluster_ip = sb.state(services=[sb.service(type_="ClusterIP")])
    status = by_key(evaluate(session, cluster_ip))["external-ip"]
    assert status.state == "failing"
    assert "ClusterIP" in status.message


def test_it_passes_http_external_ip_only_from_a_probe_of_the_current_address():
    session = sb.make_session()
    state = sb.healthy()
    assert by_key(evaluate(session, state))["http-external-ip"].state == "waiting"

    save_probe(session, "http-external-ip", probe_for(state))
    status = by_key(evaluate(session, state))["http-external-ip"]
    assert status.state == "passed"
    assert status.detail["status"] == 200
    assert status.detail["pod"] == "lb-test-abc-1"

    moved = sb.healthy(ip="127.31.129.9")  # the Service was recreated and got another address
    assert by_key(evaluate(session, moved))["http-external-ip"].state == "waiting"


def test_it_fails_http_external_ip_on_a_failed_probe():
    session = sb.make_session()
    state = sb.healthy(target_port=8080)
    save_probe(session, "http-external-ip", probe_for(state, ok=False, error_kind="refused",
                                                      error="connection refused on port 80"))
    status = by_key(evaluate(session, state))["http-external-ip"]
    assert status.state == "failing"
    assert status.detail["error"] == "connection refused on port 80"


def test_it_waits_for_http_without_an_external_ip_even_with_an_old_success():
    session = sb.make_session()
    save_probe(session, "http-external-ip", probe_for(sb.healthy()))
    no_ip = sb.healthy()
    no_ip["services"]["lb-test-svc"]["status"] = {"loadBalancer": {}}
    assert by_key(evaluate(session, no_ip))["http-external-ip"].state == "waiting"


def test_it_passes_and_fails_dns_sslip_from_its_probe():
    session = sb.make_session()
    state = sb.healthy()
    save_probe(session, "dns-sslip", probe_for(state, name="127.31.129.5.sslip.io", resolved=["127.31.129.5"]))
    status = by_key(evaluate(session, state))["dns-sslip"]
    assert status.state == "passed"
    assert status.optional

    save_probe(session, "dns-sslip", probe_for(state, ok=False, name="127.31.129.5.sslip.io",
                                               dns_error="The name does not exist"))
    assert by_key(evaluate(session, state))["dns-sslip"].state == "failing"


def test_it_waits_for_a_dns_record_and_checks_the_probe_of_that_name():
    session = sb.make_session()
    state = sb.healthy()
    status = by_key(evaluate(session, state))["dns-record"]
    assert status.state == "waiting"
    assert "Set your DNS record" in status.message

    DnsRecord.objects.create(session=session, name="alice.lab.test", address="127.31.129.5")
    save_probe(session, "dns-record", probe_for(state, name="bob.lab.test"))
    assert by_key(evaluate(session, state))["dns-record"].state == "waiting"  # a probe of an older name

    save_probe(session, "dns-record", probe_for(state, name="alice.lab.test", resolved=["127.31.129.5"]))
    assert by_key(evaluate(session, state))["dns-record"].state == "passed"

    save_probe(session, "dns-record", probe_for(state, ok=False, name="alice.lab.test", resolved=["127.0.0.9"]))
    assert by_key(evaluate(session, state))["dns-record"].state == "failing"


def test_it_records_when_a_check_was_first_reached_and_shows_a_regression():
    session = sb.make_session()
    statuses = evaluate(session, sb.healthy())
    assert save_checks(session, statuses)
    first = CheckResult.objects.get(session=session, key="deployment-ready")
    assert first.passed and first.passed_at is not None
    CheckResult.objects.filter(pk=first.pk).update(passed_at=timezone.now() - timedelta(minutes=5))
    reached = CheckResult.objects.get(pk=first.pk).passed_at

    assert not save_checks(session, evaluate(session, sb.healthy()))  # nothing changed

    broken = sb.healthy()
    broken["deployments"]["lb-test"]["status"]["readyReplicas"] = 1
    statuses = evaluate(session, broken)
    assert save_checks(session, statuses)
    row = CheckResult.objects.get(pk=first.pk)
    assert not row.passed and row.passed_at == reached
    status = by_key(statuses)["deployment-ready"]
    assert status.regressed and status.reached_at == reached

    html = render_to_string("labs/fragments/checklist.html", fragments.checklist_context(session, state=broken))
    assert 'id="checklist"' in html
    assert f"reached at <time datetime=\"{reached.isoformat()}\">" in html or "reached at <time" in html
    assert "now: Deployment lb-test: 1/3 replicas ready. — it no longer passes" in html
    assert 'data-check="deployment-ready" data-state="waiting" data-reached="true"' in html
    assert 'data-check="external-ip" data-state="passed"' in html


def test_it_keeps_probe_results_when_cluster_checks_are_saved():
    session = sb.make_session()
    state = sb.healthy()
    save_probe(session, "http-external-ip", probe_for(state))
    save_checks(session, evaluate(session, state))
    row = CheckResult.objects.get(session=session, key="http-external-ip")
    assert row.passed and row.detail["probe"]["pod"] == "lb-test-abc-1"


def test_it_renders_the_http_detail_in_the_checklist():
    session = sb.make_session()
    state = sb.healthy()
    save_probe(session, "http-external-ip", probe_for(state))
    html = render_to_string("labs/fragments/checklist.html", fragments.checklist_context(session, state=state))
    assert "HTTP 200" in html
    assert "3.2 ms" in html
    assert "lb-test-abc-1" in html


def test_it_notifies_only_when_the_checklist_changes_and_enqueues_probes_once(monkeypatch):
    session = sb.make_session()
    notified, enqueued = [], []
    monkeypatch.setattr(refresh, "notify_session", lambda sid, what: notified.append((sid, what)))
    from labs.checks import probes

    monkeypatch.setattr(probes.probe_session, "delay", lambda sid: enqueued.append(sid))

    on_namespace_change(session.id, sb.state(services=[sb.service()]))  # pending: no probe
    assert notified == [(session.id, "checks")] and enqueued == []

    on_namespace_change(session.id, sb.state(services=[sb.service()]))
    assert len(notified) == 1  # nothing visible changed

    on_namespace_change(session.id, sb.healthy())
    assert notified[1:] == [(session.id, "dns"), (session.id, "checks")] and enqueued == [str(session.id)]
    on_namespace_change(session.id, sb.healthy())
    assert enqueued == [str(session.id)]  # de-duplicated within a few seconds

    on_namespace_change(session.id, sb.healthy(ip="127.31.129.77"))
    assert enqueued == [str(session.id)] * 2  # a new address is probed at once
    assert [what for _, what in notified].count("dns") == 2  # the DNS panel follows the address


def test_it_ignores_changes_of_ended_sessions(monkeypatch):
    session = sb.make_session()
    session.state = session.State.ENDED
    session.save()
    notified = []
    monkeypatch.setattr(refresh, "notify_session", lambda sid, what: notified.append(what))
    on_namespace_change(session.id, sb.healthy())
    assert notified == [] and not CheckResult.objects.filter(session=session).exists()


def test_it_ignores_what_another_clusters_watcher_sees_of_the_namespace():
    from labs.models import CheckResult

    session = sb.make_session("una")
    on_namespace_change(session.id, sb.healthy(), cluster_id=session.cluster_id + 1000)
    assert not CheckResult.objects.filter(session=session).exists()
    on_namespace_change(session.id, sb.healthy(), cluster_id=session.cluster_id)
    assert CheckResult.objects.filter(session=session, key="deployment-ready", passed=True).exists()


@pytest.mark.django_db(transaction=True)
def test_it_loses_no_probe_when_the_watcher_and_a_probe_write_at_once():
    """The watcher's checks and a probe worker rewrite the same rows at the same time: neither loses the other's."""
    import threading

    from django.db import connection

    from labs.checks.definitions import CheckStatus

    session = sb.make_session("vic")
    done = threading.Event()
    errors = []

    def checks():
        try:
            n = 0
            while not done.is_set():
                n += 1
                save_checks(session, [CheckStatus("http-external-ip", "t", "waiting", message=f"pass {n}")])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=checks)
    thread.start()
    try:
        for i in range(40):
            save_probe(session, "http-external-ip", {"ok": True, "round": i})
    finally:
        done.set()
        thread.join(30)
        connection.close()
    assert errors == []
    row = CheckResult.objects.get(session=session, key="http-external-ip")
    assert row.detail["probe"]["round"] == 39 and row.detail["message"].startswith("pass ")
