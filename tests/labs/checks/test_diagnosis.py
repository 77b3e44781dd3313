import pytest

from labs.checks import lb_target, target_signature
from labs.checks.diagnosis import diagnose
from labs.content_loader import load_lab
from labs.models import DnsRecord
from tests.labs import state_builders as sb

pytestmark = pytest.mark.django_db


@pytest.fixture
def session():
    return sb.make_session()


def codes(diagnoses):
    return [d.code for d in diagnoses]


def one(diagnoses, code):
    found = [d for d in diagnoses if d.code == code]
    assert len(found) == 1, codes(diagnoses)
    return found[0]


def probe(state, **values):
    target = lb_target(state)
    return {"signature": target_signature(target), "ip": target["ip"], "port": target["port"], **values}


def test_it_has_nothing_to_say_about_a_finished_lab(session):
    state = sb.healthy()
    probes = {"http-external-ip": probe(state, ok=True, status=200)}
    assert diagnose(session, state, probes=probes) == []


def test_it_names_the_selector_and_the_pod_labels_that_differ(session):
    pods = [sb.pod("lb-test-1"), sb.pod("lb-test-2")]
    state = sb.state(deployments=[sb.deployment(replicas=2, ready=2)], pods=pods,
                     services=[sb.service(selector={"app": "lb-tset"}, ip="127.31.129.5")],
                     endpoints_=[sb.endpoints()])
    d = one(diagnose(session, state, probes={}), "selector-mismatch")
    assert "selects app=lb-tset" in d.message
    assert "labelled app=lb-test" in d.message
    assert d.severity == "error"
    assert "<strong>app=lb-tset</strong>" in d.html  # the lab's hint, Markdown rendered
    assert d.values["difference"] == "app is lb-tset in the selector but lb-test on the pods"


def test_it_says_nothing_about_selectors_once_endpoints_are_ready(session):
    state = sb.healthy()
    assert "selector-mismatch" not in codes(diagnose(session, state, probes={}))


def test_it_names_target_port_and_container_port_when_the_probe_is_refused(session):
    state = sb.healthy(target_port=8080)
    probes = {"http-external-ip": probe(state, ok=False, error_kind="refused", error="connection refused")}
    d = one(diagnose(session, state, probes=probes), "target-port-refused")
    assert "port 8080" in d.message
    assert "containerPort 80" in d.message
    assert "targetPort is 8080" in d.message


def test_it_ignores_a_refused_probe_of_an_older_address(session):
    old = sb.healthy(ip="127.31.129.9", target_port=8080)
    probes = {"http-external-ip": probe(old, ok=False, error_kind="refused", error="connection refused")}
    assert diagnose(session, sb.healthy(), probes=probes) == []


def test_it_explains_other_http_failures(session):
    state = sb.healthy()
    probes = {"http-external-ip": probe(state, ok=False, error_kind="timeout", error="no answer within 3 seconds")}
    d = one(diagnose(session, state, probes=probes), "http-failed")
    assert "http://127.31.129.5/" in d.message
    assert "no answer within 3 seconds" in d.message

    probes = {"http-external-ip": probe(state, ok=False, status=503, error_kind="http-status")}
    d = one(diagnose(session, state, probes=probes), "http-failed")
    assert "HTTP status 503" in d.message


def test_it_names_the_image_that_cannot_be_pulled_and_suggests_an_allowed_one(session):
    pods = [sb.pod("lb-test-1", ready=False, image="ngnix:latest",
                   waiting=("ImagePullBackOff", 'Back-off pulling image "ngnix:latest"'))]
    state = sb.state(deployments=[sb.deployment(replicas=1, ready=0, image="ngnix:latest")], pods=pods)
    diagnoses = diagnose(session, state, probes={})
    d = one(diagnoses, "image-pull")
    assert "ngnix:latest" in d.message
    assert "Did you mean nginx:latest?" in d.message
    assert "pods-not-ready" not in codes(diagnoses)  # the image explains it


def test_it_finds_the_image_in_failed_events(session):
    pods = [sb.pod("lb-test-1", ready=False, image="nginx:1.999")]
    events = [sb.event("Pod", "lb-test-1", "Failed",
                       'Failed to pull image "nginx:1.999": manifest unknown', type_="Warning")]
    state = sb.state(pods=pods, events=events)
    d = one(diagnose(session, state, probes={}), "image-pull")
    assert "nginx:1.999" in d.message


def test_it_explains_a_pending_load_balancer_with_its_event(session):
    state = sb.state(services=[sb.service()], events=[
        sb.event("Service", "lb-test-svc", "EnsuringLoadBalancer", "Ensuring load balancer")])
    d = one(diagnose(session, state, probes={}), "lb-pending")
    assert d.severity == "info"
    assert "<pending>" in d.message
    assert "Ensuring load balancer" in d.message
    assert "&lt;pending&gt;" in d.html


def test_it_explains_a_failed_load_balancer_with_its_message(session):
    state = sb.state(services=[sb.service()], events=[
        sb.event("Service", "lb-test-svc", "EnsuringLoadBalancer", "Ensuring load balancer", at="2025-01-01T00:00:00Z"),
        sb.event("Service", "lb-test-svc", "SyncLoadBalancerFailed", "Error syncing load balancer: no floating IP left",
                 at="2025-01-01T00:00:09Z", type_="Warning"),
    ])
    diagnoses = diagnose(session, state, probes={})
    d = one(diagnoses, "lb-failed")
    assert "no floating IP left" in d.message
    assert "lb-pending" not in codes(diagnoses)


def test_it_follows_the_state_when_the_load_balancer_recovers(session):
    failed = sb.state(services=[sb.service()], events=[
        sb.event("Service", "lb-test-svc", "SyncLoadBalancerFailed", "boom", at="2025-01-01T00:00:01Z"),
        sb.event("Service", "lb-test-svc", "EnsuringLoadBalancer", "Ensuring load balancer",
                 at="2025-01-01T00:00:09Z"),
    ])
    assert codes(diagnose(session, failed, probes={})) == ["lb-pending"]


def test_it_says_a_service_is_not_of_type_load_balancer(session):
    state = sb.state(services=[sb.service(type_="NodePort")])
    d = one(diagnose(session, state, probes={}), "service-not-loadbalancer")
    assert "lb-test-svc" in d.message and "NodePort" in d.message


def test_it_gives_the_reasons_of_replicas_that_are_not_ready(session):
    pods = [sb.pod("lb-test-1"), sb.pod("lb-test-2", ready=False, waiting=("CrashLoopBackOff", "back-off")),
            sb.pod("lb-test-3", ready=False, unschedulable="0/1 nodes are available: insufficient cpu")]
    state = sb.state(deployments=[sb.deployment(ready=1)], pods=pods)
    d = one(diagnose(session, state, probes={}), "pods-not-ready")
    assert "1 of 3" in d.message
    assert "CrashLoopBackOff (lb-test-2)" in d.message
    assert "Unschedulable (lb-test-3)" in d.message


def test_it_stays_quiet_about_pods_that_are_just_starting(session):
    pods = [sb.pod("lb-test-1", ready=False)]
    state = sb.state(deployments=[sb.deployment(replicas=1, ready=0)], pods=pods)
    assert diagnose(session, state, probes={}) == []


def test_it_says_when_the_students_name_does_not_resolve(session):
    state = sb.healthy()
    DnsRecord.objects.create(session=session, name="alice.lab.test", address="127.31.129.5")
    probes = {"dns-record": probe(state, ok=False, name="alice.lab.test",
                                  dns_error="The name alice.lab.test does not exist (NXDOMAIN).")}
    d = one(diagnose(session, state, probes=probes), "dns-not-resolving")
    assert "alice.lab.test" in d.message


def test_it_says_when_a_name_points_to_another_ip(session):
    state = sb.healthy()
    DnsRecord.objects.create(session=session, name="alice.lab.test", address="127.31.129.5")
    probes = {"dns-record": probe(state, ok=False, name="alice.lab.test", resolved=["127.31.129.200"])}
    d = one(diagnose(session, state, probes=probes), "dns-wrong-ip")
    assert "127.31.129.200" in d.message and "127.31.129.5" in d.message


def test_it_says_when_the_stored_record_is_for_an_old_ip(session):
    state = sb.healthy(ip="127.31.129.6")
    DnsRecord.objects.create(session=session, name="alice.lab.test", address="127.31.129.5")
    d = one(diagnose(session, state, probes={}), "dns-wrong-ip")
    assert "points to 127.31.129.5" in d.message and "127.31.129.6" in d.message


def test_it_fills_the_labs_own_hints_for_every_code_it_uses():
    lab = load_lab("loadbalancer")
    from labs.checks.diagnosis import FALLBACK_HINTS

    assert set(lab.hints) <= set(FALLBACK_HINTS)


def test_it_escapes_observed_values_in_the_html(session):
    pods = [sb.pod("p1", labels={"app": "<b>x</b>"})]
    state = sb.state(pods=pods, services=[sb.service(selector={"app": "y"})])
    d = one(diagnose(session, state, probes={}), "selector-mismatch")
    assert "<b>x</b>" not in d.html and "&lt;b&gt;x&lt;/b&gt;" in d.html
