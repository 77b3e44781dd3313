"""The traffic path: each hop's state, the first broken hop and its cause, as the student reads them."""

import random
import re
from html.parser import HTMLParser

import pytest
import yaml
from asgiref.sync import sync_to_async
from kubernetes import client

from clouds.kube import list_namespace_with, reset_clients
from clouds.models import Cluster, ServiceBalancer
from clouds.watch import state as observed
from labs.checks import dns as labdns
from labs.checks import lb_target, target_signature
from labs.checks.probes import run_probes
from labs.live import watching
from labs.live.fragments import render_session_fragment
from labs.models import DnsRecord
from tests import manifests
from tests.labs import state_builders as sb
from tests.labs.helpers import make_session, wait_for
from tests.labs.live.test_consumer import connect_past_resync

HOPS = ["name", "dns", "external-ip", "balancer", "port", "endpoints", "pods"]


class _Hops(HTMLParser):
    """Each hop of the rendered path: its state, whether it is the first broken one, and its text."""

    def __init__(self):
        super().__init__()
        self.hops, self.summary, self._hop, self._depth, self._in_summary = {}, "", None, 0, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self._hop is not None:
            self._depth += tag == "li"
        elif tag == "li" and "data-hop" in attrs:
            self._hop = {"state": attrs["data-state"], "first": "hop-first-broken" in attrs["class"], "text": ""}
            self.hops[attrs["data-hop"]] = self._hop
        self._in_summary = attrs.get("data-testid") == "path-summary"

    def handle_endtag(self, tag):
        if tag == "li" and self._hop is not None:
            if self._depth:
                self._depth -= 1
            else:
                self._hop["text"] = " ".join(self._hop["text"].split())
                self._hop = None
        self._in_summary = False

    def handle_data(self, data):
        if self._hop is not None:
            self._hop["text"] += " " + data
        if self._in_summary:
            self.summary += data.strip()


def drawn(session):
    """The path as the page draws it (the fragment the socket sends), parsed."""
    html = render_session_fragment("path", session)
    assert html.startswith('<section id="traffic-path"')
    assert "style=" not in html and "<script" not in html and " on" + "click" not in html
    parser = _Hops()
    parser.feed(html)
    assert list(parser.hops) == HOPS
    return parser


def first_broken(path):
    firsts = [key for key, hop in path.hops.items() if hop["first"]]
    assert len(firsts) <= 1
    return firsts[0] if firsts else None


def observe(session, state):
    """The namespace as the watcher keeps it in Redis."""
    observed.clear_namespace(session.cluster_id, session.namespace)
    for kind, items in state.items():
        for obj in items.values():
            observed.save_object(session.cluster_id, session.namespace, kind, obj)


def probe(state, key, **values):
    target = lb_target(state)
    return {"signature": target_signature(target), "ip": target["ip"], "port": target["port"], **values}


def store_probes(session, probes):
    from labs.checks import save_probe

    for key, value in probes.items():
        save_probe(session, key, value)


# ---------------------------------------------------------------- from observed states


@pytest.fixture
def session(db):
    session = sb.make_session()
    yield session
    observed.clear_namespace(session.cluster_id, session.namespace)


def test_it_draws_the_healthy_path_from_name_to_pods(session):
    state = sb.healthy()
    observe(session, state)
    DnsRecord.objects.create(session=session, name="alice.lab.test", address="127.31.129.5")
    store_probes(session, {
        "http-external-ip": probe(state, "http-external-ip", ok=True, status=200, pod="lb-test-abc-1"),
        "dns-record": probe(state, "dns-record", ok=True, name="alice.lab.test", resolved=["127.31.129.5"]),
    })
    path = drawn(session)
    assert {key: hop["state"] for key, hop in path.hops.items()} == dict.fromkeys(HOPS, "ok")
    assert first_broken(path) is None
    assert path.summary == "Traffic reaches your pods by name."
    hops = path.hops
    assert "alice.lab.test" in hops["name"]["text"]
    assert "127.31.129.5" in hops["dns"]["text"] and "127.31.129.5" in hops["external-ip"]["text"]
    assert "answers HTTP 200 from pod lb-test-abc-1" in hops["external-ip"]["text"]
    assert "port 80/TCP → targetPort 80" in hops["port"]["text"]
    assert "3 ready endpoints" in hops["endpoints"]["text"] and "127.31.0.10:80" in hops["endpoints"]["text"]
    assert "3 of 3 ready" in hops["pods"]["text"] and "lb-test-abc-0 (Ready)" in hops["pods"]["text"]
    assert all(" OK" in hop["text"] for hop in hops.values())  # the state in words, not only a colour


def test_it_waits_for_everything_in_an_empty_namespace(session):
    path = drawn(session)
    assert {hop["state"] for hop in path.hops.values()} == {"not-yet"}
    assert all("Not yet" in hop["text"] for hop in path.hops.values())
    assert path.summary == "Nothing on the path yet: apply your Deployment and Service."


def test_it_names_a_selector_that_matches_no_pod(session):
    pods = [sb.pod("lb-test-1"), sb.pod("lb-test-2")]
    observe(session, sb.state(deployments=[sb.deployment(replicas=2, ready=2)], pods=pods,
                              services=[sb.service(selector={"app": "wbe"}, ip="127.31.129.5")],
                              endpoints_=[sb.endpoints()]))
    path = drawn(session)
    assert first_broken(path) == "endpoints"
    text = path.hops["endpoints"]["text"]
    assert "Traffic stops here." in text and "Broken" in text
    assert "Service lb-test-svc selects app=wbe, but no pod has that label (the pods have app=lb-test)" in text
    assert "Set spec.selector of Service lb-test-svc to app=lb-test" in text
    assert path.hops["pods"]["state"] == "ok"  # the pods are fine: only the Service misses them
    assert path.summary == "Traffic stops at the endpoints."


def test_it_names_the_target_port_the_containers_do_not_declare(session):
    observe(session, sb.healthy(target_port=8080))
    path = drawn(session)
    assert first_broken(path) == "port"
    text = path.hops["port"]["text"]
    assert "targetPort 8080: the pods' containers declare port 80." in text
    assert "Set spec.ports[0].targetPort of Service lb-test-svc to 80" in text


def test_it_follows_a_pending_then_failed_load_balancer(session):
    pending = sb.state(services=[sb.service()], events=[
        sb.event("Service", "lb-test-svc", "EnsuringLoadBalancer", "Ensuring load balancer")])
    observe(session, pending)
    path = drawn(session)
    assert path.hops["balancer"]["state"] == "waiting"
    assert "Ensuring load balancer" in path.hops["balancer"]["text"]
    assert "<pending>" in path.hops["external-ip"]["text"]
    assert first_broken(path) is None
    assert path.summary == "Waiting for the load balancer: Ensuring load balancer."

    failed = sb.state(services=[sb.service()], events=[
        sb.event("Service", "lb-test-svc", "EnsuringLoadBalancer", "Ensuring load balancer", at="2025-01-01T00:00:00Z"),
        sb.event("Service", "lb-test-svc", "SyncLoadBalancerFailed", "Error syncing load balancer: no floating IP left",
                 at="2025-01-01T00:00:09Z", type_="Warning")])
    observe(session, failed)
    path = drawn(session)
    assert first_broken(path) == "balancer"
    assert ("The cloud could not create the load balancer of Service lb-test-svc: Error syncing load balancer: "
            "no floating IP left.") in path.hops["balancer"]["text"]


def test_it_shows_the_cloud_balancer_the_product_builds(session):
    cluster = session.cluster
    ServiceBalancer.objects.create(cluster=cluster, namespace=session.namespace, service="lb-test-svc",
                                   provider="octavia", name="kube_service_c_ns_lb-test-svc",
                                   steps=[{"step": "listener", "detail": "", "at": "2025-01-01T00:00:00Z"}])
    observe(session, sb.state(services=[sb.service()]))
    path = drawn(session)
    assert path.hops["balancer"]["state"] == "waiting"
    assert "kube_service_c_ns_lb-test-svc building" in path.hops["balancer"]["text"]

    ServiceBalancer.objects.filter(cluster=cluster).update(
        state="failed", error="The project's quota of floating IPs is used up: release one, then apply again.")
    path = drawn(session)
    assert first_broken(path) == "balancer"
    assert "kube_service_c_ns_lb-test-svc failed" in path.hops["balancer"]["text"]
    assert "quota of floating IPs is used up" in path.hops["balancer"]["text"]

    ServiceBalancer.objects.filter(cluster=cluster).update(state="active", address="127.30.0.2", error="")
    observe(session, sb.healthy(ip="127.30.0.2"))
    path = drawn(session)
    assert path.hops["balancer"]["state"] == "ok"
    assert "kube_service_c_ns_lb-test-svc ACTIVE" in path.hops["balancer"]["text"]


def test_it_says_the_service_is_not_of_type_load_balancer(session):
    observe(session, sb.state(services=[sb.service(type_="NodePort")]))
    path = drawn(session)
    assert first_broken(path) == "external-ip"
    assert "Service lb-test-svc is of type NodePort" in path.hops["external-ip"]["text"]
    assert "Set spec.type of Service lb-test-svc to LoadBalancer" in path.hops["external-ip"]["text"]


def test_it_says_the_external_ip_does_not_answer(session):
    state = sb.healthy()
    observe(session, state)
    store_probes(session, {"http-external-ip": probe(state, "http-external-ip", ok=False, error_kind="timeout",
                                                     url="http://127.31.129.5/",
                                                     error="no answer within 3 seconds")})
    path = drawn(session)
    assert first_broken(path) == "external-ip"
    assert "Opening http://127.31.129.5/ failed: no answer within 3 seconds." in path.hops["external-ip"]["text"]
    assert path.hops["port"]["state"] == "ok"


def test_it_ignores_a_probe_of_an_older_address(session):
    old = sb.healthy(ip="127.31.129.9")
    observe(session, sb.healthy())
    store_probes(session, {"http-external-ip": probe(old, "http-external-ip", ok=False, error_kind="timeout",
                                                     error="no answer")})
    path = drawn(session)
    assert first_broken(path) is None
    assert "checking from the server" in path.hops["external-ip"]["text"]


def test_it_gives_the_pods_own_trouble(session):
    pods = [sb.pod("lb-test-1", ready=False, image="ngnix:latest",
                   waiting=("ImagePullBackOff", 'Back-off pulling image "ngnix:latest"'))]
    observe(session, sb.state(deployments=[sb.deployment(replicas=1, ready=0, image="ngnix:latest")], pods=pods,
                              services=[sb.service()], endpoints_=[sb.endpoints(not_ready=pods)]))
    path = drawn(session)
    assert first_broken(path) == "pods"
    assert "lb-test-1 (ImagePullBackOff)" in path.hops["pods"]["text"]
    assert "The pods cannot pull the image ngnix:latest" in path.hops["pods"]["text"]
    assert path.hops["endpoints"]["state"] == "waiting"


def test_it_is_drawn_in_the_students_page_and_the_instructors_view(client, db):
    from django.contrib.auth import get_user_model

    from labs.models import Cohort
    from teaching.roles import make_instructor

    alice, teacher = (get_user_model().objects.create(username=name) for name in ("alice", "teacher"))
    make_instructor(teacher)
    cohort = Cohort.objects.create(name="Class A")
    cohort.students.add(alice)
    cohort.instructors.add(teacher)
    session = make_session(alice, cohort=cohort)
    observe(session, sb.healthy(target_port=8080))
    try:
        for user, url in ((alice, f"/sessions/{session.id}/"),
                          (teacher, f"/teaching/cohorts/{cohort.pk}/sessions/{session.id}/")):
            client.force_login(user)
            body = client.get(url).content.decode()
            assert "css/path.css" in body
            page = _Hops()
            page.feed(body)
            assert list(page.hops) == HOPS, url
            assert first_broken(page) == "port"
            assert "targetPort 8080: the pods' containers declare port 80." in page.hops["port"]["text"]
    finally:
        observed.clear_namespace(session.cluster_id, session.namespace)


# ---------------------------------------------------------------- on the sandbox


@pytest.fixture
def lab(sandbox, dns_settings, transactional_db):
    """A session whose namespace on the sandbox holds the lab's Deployment; returns (session, api)."""
    api = sandbox.api_client()
    namespace = f"lab-path-{random.randrange(10**6)}"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
    client.AppsV1Api(api).create_namespaced_deployment(namespace, yaml.safe_load(manifests.DEPLOYMENT))
    cluster = Cluster.objects.create(name=f"sandbox-{namespace}", kubeconfig_path=sandbox.kubeconfig)
    session = sb.make_session(namespace=namespace)
    session.cluster = cluster
    session.save()
    yield session, api
    client.CoreV1Api(api).delete_namespace(namespace)
    observed.clear_namespace(session.cluster_id, namespace)
    api.close()
    reset_clients()


def _apply_service(api, namespace, **changes):
    service = yaml.safe_load(manifests.SERVICE)
    service["spec"].update(changes.pop("spec", {}))
    service["spec"]["ports"][0].update(changes)
    client.CoreV1Api(api).create_namespaced_service(namespace, service)


def _observed_when(api, session, ready):
    """The namespace read from the sandbox once `ready(state, target)`, stored as the watcher stores it."""
    def settled():
        state = list_namespace_with(api, session.namespace)
        target = lb_target(state)
        return state if target and target["ip"] and ready(state, target) else None
    state = wait_for(settled, message="the namespace to settle")
    observe(session, state)
    return state


def _serving(state, target):
    """Settled: 3 ready endpoints, the Deployment counts its 3 pods ready, and the pods listed are ready too
    (the kinds are listed one after another, so one list can be older than the next)."""
    deployment = state["deployments"].get("lb-test") or {}
    pods = list(state.get("pods", {}).values())
    ready_pods = [p for p in pods if any(c.get("type") == "Ready" and c.get("status") == "True"
                                         for c in (p.get("status") or {}).get("conditions") or [])]
    return (target["ready"] == 3 and (deployment.get("status") or {}).get("readyReplicas") == 3
            and len(pods) == len(ready_pods) == 3)


def test_it_finds_a_target_port_nothing_serves_on_the_sandbox(lab):
    session, api = lab
    _apply_service(api, session.namespace, targetPort=8080)
    state = _observed_when(api, session, _serving)
    results = run_probes(session, state)  # a real GET through the sandbox's balancer
    assert results["http-external-ip"]["ok"] is False

    path = drawn(session)
    assert first_broken(path) == "port"
    assert "targetPort 8080: the pods' containers declare port 80." in path.hops["port"]["text"]
    assert path.hops["external-ip"]["state"] == "ok" and path.hops["endpoints"]["state"] == "ok"


def test_it_finds_a_selector_that_matches_no_pod_on_the_sandbox(lab):
    session, api = lab
    _apply_service(api, session.namespace, spec={"selector": {"app": "wbe"}})
    _observed_when(api, session, lambda state, target: sum(
        1 for p in state["pods"].values() if p["status"].get("phase") == "Running") == 3)
    path = drawn(session)
    assert first_broken(path) == "endpoints"
    assert "Service lb-test-svc selects app=wbe, but no pod has that label" in path.hops["endpoints"]["text"]


def test_it_follows_the_students_name_to_no_record_and_elsewhere_on_the_sandbox(lab):
    session, api = lab
    _apply_service(api, session.namespace)
    state = _observed_when(api, session, _serving)
    ip = lb_target(state)["ip"]
    label = f"path{random.randrange(10**6)}"

    # Known here, but never written to the DNS server: the name does not exist.
    DnsRecord.objects.create(session=session, name=f"{label}.lab.test", address=ip)
    run_probes(session, state)
    path = drawn(session)
    assert first_broken(path) == "dns"
    assert path.hops["pods"]["state"] == "ok", path.hops["pods"]
    assert re.search(rf"DNS answer no record .*The name {label}\.lab\.test does not exist \(NXDOMAIN\)",
                     path.hops["dns"]["text"])
    DnsRecord.objects.filter(session=session).delete()

    labdns.set_student_record(session, label, "127.1.2.3")  # a real RFC 2136 update, to the wrong address
    run_probes(session, state)
    path = drawn(session)
    assert first_broken(path) == "dns"
    assert (f"Your DNS record {label}.lab.test points to 127.1.2.3, not to the external IP {ip} of Service "
            f"lb-test-svc.") in path.hops["dns"]["text"]
    assert f"Set the record's address to {ip} in the DNS step." in path.hops["dns"]["text"]

    labdns.set_student_record(session, label, ip)
    run_probes(session, state)
    path = drawn(session)
    assert first_broken(path) is None and path.hops["dns"]["state"] == "ok", path.hops
    assert path.summary == "Traffic reaches your pods by name."
    labdns.delete_student_record(session)


# ---------------------------------------------------------------- over the socket


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_it_pushes_the_path_when_the_namespace_settles():
    session = await sync_to_async(sb.make_session)("alice")
    user = session.user
    await sync_to_async(observed.clear_namespace)(session.cluster_id, session.namespace)
    communicator = await connect_past_resync(session, user)

    pods = [sb.pod("lb-test-1"), sb.pod("lb-test-2")]
    state = sb.state(deployments=[sb.deployment(replicas=2, ready=2)], pods=pods,
                     services=[sb.service(selector={"app": "wbe"})], endpoints_=[sb.endpoints()])
    await sync_to_async(observe)(session, state)
    await sync_to_async(watching.namespace_settled)(session.cluster_id, session.namespace, session.id.hex, state)
    path = None
    for _ in range(10):  # the checklist and other parts come too, in any order
        html = await communicator.receive_from(timeout=5)
        if html.startswith('<section id="traffic-path"'):
            path = html
            break
    assert path is not None
    assert 'data-hop="endpoints" data-state="broken"' in path
    assert "Service lb-test-svc selects app=wbe, but no pod has that label" in path

    # Settling again on the same state draws nothing new.
    await sync_to_async(watching.namespace_settled)(session.cluster_id, session.namespace, session.id.hex, state)
    while not await communicator.receive_nothing(timeout=0.5):
        assert not (await communicator.receive_from()).startswith('<section id="traffic-path"')
    await communicator.disconnect()
    await sync_to_async(observed.clear_namespace)(session.cluster_id, session.namespace)
