import pytest
import yaml
from kubernetes import client

from clouds.kube import list_namespace_with, reset_clients
from labs.checks import lb_target, target_signature
from labs.checks.diagnosis import diagnose
from labs.content_loader import load_lab
from labs.lifecycle import provision_session
from labs.models import DnsRecord
from tests import manifests
from tests.labs import state_builders as sb
from tests.labs.helpers import make_session, wait_for

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
            sb.pod("lb-test-3", ready=False, waiting=("CreateContainerConfigError", "secret not found"))]
    state = sb.state(deployments=[sb.deployment(ready=1)], pods=pods)
    d = one(diagnose(session, state, probes={}), "pods-not-ready")
    assert "1 of 3" in d.message
    assert "CrashLoopBackOff (lb-test-2)" in d.message
    assert "CreateContainerConfigError (lb-test-3)" in d.message


def test_it_leaves_pods_the_scheduler_cannot_place_to_the_scheduling_diagnosis(session):
    pods = [sb.pod("lb-test-1"), sb.pod("lb-test-2", ready=False, waiting=("CrashLoopBackOff", "back-off")),
            sb.pod("lb-test-3", unschedulable=INSUFFICIENT_CPU, requests={"cpu": "3"})]
    state = sb.state(deployments=[sb.deployment(ready=1)], pods=pods)
    diagnoses = diagnose(session, state, probes={})
    assert "Unschedulable" not in one(diagnoses, "pods-not-ready").message
    assert one(diagnoses, "insufficient-resources").values["pods"] == "lb-test-3"


INSUFFICIENT_CPU = ("0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: "
                    "3 No preemption victims found for incoming pod.")
NO_NODE_MATCHES = ("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: "
                   "0/3 nodes are available: 3 Preemption is not helpful for scheduling.")


def test_it_names_the_node_labels_the_pods_ask_for_that_no_node_has(session):
    pods = [sb.pod(f"lb-test-{i}", unschedulable=NO_NODE_MATCHES, node_selector={"disktype": "ssd"},
                   node_affinity=[{"matchExpressions": [
                       {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["eu-1a", "eu-1b"]}]}])
            for i in range(3)]
    state = sb.state(deployments=[sb.deployment(ready=0)], pods=pods)
    diagnoses = diagnose(session, state, probes={})
    d = one(diagnoses, "node-selector-unmatched")
    assert d.severity == "error"
    assert "pods of lb-test stay Pending" in d.message
    assert "nodeSelector disktype=ssd" in d.message
    assert "topology.kubernetes.io/zone in (eu-1a, eu-1b)" in d.message
    assert "remove nodeSelector and affinity" in d.message  # the lab's hint
    assert "<code>nodeSelector</code>" in d.html
    assert d.values["pods"] == "lb-test-0, lb-test-1, lb-test-2"
    assert d.values["scheduler"] == NO_NODE_MATCHES
    assert codes(diagnoses) == ["node-selector-unmatched"]  # one diagnosis for the Deployment's pods


def test_it_compares_the_pods_requests_with_what_the_nodes_offer(session):
    pods = [sb.pod("lb-test-1", unschedulable=INSUFFICIENT_CPU, requests={"cpu": "1500m", "memory": "64Mi"})]
    state = sb.state(deployments=[sb.deployment(replicas=1, ready=0)], pods=pods)
    d = one(diagnose(session, state, probes={}), "insufficient-resources")
    assert "each asks for 1500m cpu and 64Mi memory" in d.message
    assert "no node has that much cpu free" in d.message
    assert "cpu: 100m" in d.message  # what the lab's hint suggests instead

    with_nodes = sb.state(deployments=[sb.deployment(replicas=1, ready=0)], pods=pods,
                          nodes=[sb.node("n1"), sb.node("n2", allocatable={"cpu": "3900m", "memory": "15Gi"})])
    d = one(diagnose(session, with_nodes, probes={}), "insufficient-resources")
    assert "a node offers at most 7910m cpu in all" in d.message


def test_it_says_when_only_some_nodes_match_and_those_are_full(session):
    message = ("0/3 nodes are available: 1 Insufficient memory, 2 node(s) didn't match Pod's node affinity/selector. "
               "preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, "
               "2 Preemption is not helpful for scheduling.")
    pods = [sb.pod("lb-test-1", unschedulable=message, requests={"memory": "40Gi"},
                   node_selector={"kubernetes.io/hostname": "node-1"})]
    d = one(diagnose(session, sb.state(pods=pods), probes={}), "insufficient-resources")
    assert "40Gi memory" in d.message and "that much memory free" in d.message
    assert "Only 1 of the 3 nodes have the labels the pods ask for: nodeSelector kubernetes.io/hostname=node-1" \
        in d.message


def test_it_reads_the_schedulers_event_when_the_condition_has_no_message(session):
    pod = sb.pod("lb-test-1", unschedulable=" ", node_selector={"disktype": "ssd"})
    pod["status"]["conditions"][0].pop("message")
    events = [sb.event("Pod", "lb-test-1", "FailedScheduling", NO_NODE_MATCHES, type_="Warning")]
    d = one(diagnose(session, sb.state(pods=[pod], events=events), probes={}), "node-selector-unmatched")
    assert "nodeSelector disktype=ssd" in d.message


def test_it_gives_the_schedulers_other_reasons_as_they_are(session):
    message = ("0/3 nodes are available: 3 node(s) had untolerated taint {node.kubernetes.io/not-ready: }. "
               "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.")
    pods = [sb.pod("lb-test-1", unschedulable=message)]
    d = one(diagnose(session, sb.state(pods=pods), probes={}), "pods-unschedulable")
    assert "3 node(s): node(s) had untolerated taint {node.kubernetes.io/not-ready: }" in d.message
    assert "ask your instructor" in d.message


def test_it_says_nothing_about_scheduling_once_the_pods_are_placed(session):
    assert "insufficient-resources" not in codes(diagnose(session, sb.healthy(), probes={}))


QUOTA_CPU = ('Error creating: pods "lb-test-5d8f7c9b4-x7k2p" is forbidden: exceeded quota: lab-quota, '
             "requested: requests.cpu=1500m, used: requests.cpu=1, limited: requests.cpu=2")


def test_it_explains_a_quota_that_refuses_the_pods_with_what_is_left(session):
    events = [sb.event("ReplicaSet", "lb-test-5d8f7c9b4", "FailedCreate", QUOTA_CPU, type_="Warning")]
    pods = [sb.pod("lb-test-5d8f7c9b4-abcde", requests={"cpu": "1"})]
    state = sb.state(deployments=[sb.deployment(ready=1)], pods=pods, events=events,
                     replicasets=[sb.replicaset(current=1)])
    d = one(diagnose(session, state, probes={}), "quota-exceeded")
    assert d.severity == "error"
    assert "quota lab-quota refuses the pods of lb-test" in d.message
    assert "a new pod asks for requests.cpu 1500m, but 1 of the 2 allowed is already in use, so only 1 is left" in d.message
    assert d.values["requested"] == "requests.cpu=1500m"
    assert d.values["used"] == "requests.cpu=1"
    assert d.values["limited"] == "requests.cpu=2"
    assert d.values["left"] == "requests.cpu=1"
    assert "<strong>lab-quota</strong>" in d.html


def test_it_computes_what_is_left_of_each_resource_the_quota_limits(session):
    message = ("Error creating: pods \"lb-test-5d8f7c9b4-q\" is forbidden: exceeded quota: lab-quota, requested: "
               "pods=1,requests.memory=1Gi, used: pods=10,requests.memory=1536Mi, limited: pods=10,requests.memory=2Gi")
    events = [sb.event("ReplicaSet", "lb-test-5d8f7c9b4", "FailedCreate", message, type_="Warning")]
    state = sb.state(deployments=[sb.deployment(replicas=12, ready=10)], events=events,
                     replicasets=[sb.replicaset(replicas=12, current=10)])
    d = one(diagnose(session, state, probes={}), "quota-exceeded")
    assert d.values["left"] == "pods=0, requests.memory=512Mi"
    assert "10 of its 10 pods are already in use" in d.message
    assert "requests.memory 1Gi, but 1536Mi of the 2Gi allowed is already in use, so only 512Mi is left" in d.message


def test_it_reads_the_replica_failure_condition_without_events(session):
    state = sb.state(deployments=[sb.deployment(ready=0)],
                     replicasets=[sb.replicaset(failure=QUOTA_CPU.replace("Error creating: ", ""))])
    assert one(diagnose(session, state, probes={}), "quota-exceeded").values["quota"] == "lab-quota"


def test_it_forgets_a_quota_refusal_once_the_replica_set_has_its_pods(session):
    events = [sb.event("ReplicaSet", "lb-test-5d8f7c9b4", "FailedCreate", QUOTA_CPU, type_="Warning")]
    pods = [sb.pod(f"lb-test-5d8f7c9b4-{i}") for i in range(3)]
    state = sb.state(deployments=[sb.deployment()], pods=pods, events=events,
                     replicasets=[sb.replicaset(current=3)])
    assert "quota-exceeded" not in codes(diagnose(session, state, probes={}))
    # an old ReplicaSet scaled to zero keeps its events, and says nothing either
    old = sb.replicaset(replicas=0, current=0)
    state = sb.state(deployments=[sb.deployment()], pods=pods, events=events, replicasets=[old])
    assert "quota-exceeded" not in codes(diagnose(session, state, probes={}))


def test_it_ignores_other_creation_failures(session):
    events = [sb.event("ReplicaSet", "lb-test-5d8f7c9b4", "FailedCreate",
                       'Error creating: pods "lb-test-5d8f7c9b4-q" is forbidden: maximum cpu usage per Container '
                       "is 1, but limit is 2", type_="Warning")]
    state = sb.state(deployments=[sb.deployment(ready=0)], events=events, replicasets=[sb.replicaset()])
    assert "quota-exceeded" not in codes(diagnose(session, state, probes={}))


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


def test_it_explains_pods_the_sandbox_cannot_place_and_pods_its_quota_refuses(sandbox, cluster, make_user):
    """Through the kubernetes client into a session namespace provisioned with the lab's quota:
    a Deployment selecting a node label no node has, and one whose pods ask more cpu than the
    quota leaves; the diagnosis reads the namespace as the product observes it."""
    session = make_session(make_user("bob"), cluster=cluster, state="provisioning")
    provision_session.run(str(session.id))
    session.refresh_from_db()
    assert session.state == "ready", session.error
    api = sandbox.api_client()
    apps = client.AppsV1Api(api)
    try:
        picky = yaml.safe_load(manifests.DEPLOYMENT)
        picky["spec"]["template"]["spec"]["nodeSelector"] = {"disktype": "ssd"}
        apps.create_namespaced_deployment(session.namespace, picky)
        wait_for(lambda: len(list_namespace_with(api, session.namespace)["pods"]) == 3, message="3 pods")
        big = yaml.safe_load(manifests.DEPLOYMENT.replace("lb-test", "big"))
        big["spec"]["template"]["spec"]["containers"][0]["resources"] = {
            "requests": {"cpu": "3", "memory": "64Mi"}, "limits": {"cpu": "3", "memory": "64Mi"}}
        apps.create_namespaced_deployment(session.namespace, big)

        def explained():
            found = {d.code: d for d in diagnose(session, list_namespace_with(api, session.namespace), probes={})}
            return found if {"node-selector-unmatched", "quota-exceeded"} <= set(found) else None

        found = wait_for(explained, message="both diagnoses")
        unmatched = found["node-selector-unmatched"]
        assert unmatched.values["owner"] == "lb-test"
        assert unmatched.values["constraints"] == "nodeSelector disktype=ssd"
        assert unmatched.values["scheduler"].startswith(
            "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.")
        refused = found["quota-exceeded"]
        assert refused.values["owner"] == "big"
        assert refused.values["quota"] == "lab-quota"
        assert refused.values["requested"] == "requests.cpu=3"
        assert refused.values["used"] == "requests.cpu=300m"  # lb-test's 3 pods, with the lab's default request
        assert refused.values["left"] == "requests.cpu=1700m"
        assert "so only 1700m is left" in refused.message
    finally:
        client.CoreV1Api(api).delete_namespace(session.namespace)
        api.close()
        reset_clients()
