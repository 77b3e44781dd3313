from datetime import UTC, datetime, timedelta

from labs.live import presenters

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


def ago(**kw):
    return (NOW - timedelta(**kw)).isoformat().replace("+00:00", "Z")


def pod(phase="Pending", statuses=None, deleting=False, containers=1, conditions=None, init=None, init_statuses=None):
    p = {
        "metadata": {"name": "web-1", "creationTimestamp": ago(minutes=5)},
        "spec": {"containers": [{"name": f"c{i}"} for i in range(containers)], "nodeName": "node-1"},
        "status": {"phase": phase, "podIP": "10.0.0.5"},
    }
    if statuses is not None:
        p["status"]["containerStatuses"] = statuses
    if conditions:
        p["status"]["conditions"] = conditions
    if init:
        p["spec"]["initContainers"] = [{"name": n} for n in init]
        p["status"]["initContainerStatuses"] = init_statuses or []
    if deleting:
        p["metadata"]["deletionTimestamp"] = ago(seconds=1)
    return p


def waiting(reason, restarts=0):
    return {"name": "c0", "ready": False, "restartCount": restarts, "state": {"waiting": {"reason": reason}}}


def running(ready=True, restarts=0):
    return {"name": "c0", "ready": ready, "restartCount": restarts, "state": {"running": {"startedAt": ago(minutes=1)}}}


def test_it_says_pending_without_container_statuses():
    assert presenters.pod_status(pod())["status"] == "Pending"
    assert presenters.pod_status(pod())["ready"] == "0/1"


def test_it_says_container_creating():
    assert presenters.pod_status(pod(statuses=[waiting("ContainerCreating")]))["status"] == "ContainerCreating"


def test_it_shows_image_pull_problems_and_crash_loops():
    assert presenters.pod_status(pod(statuses=[waiting("ErrImagePull")]))["status"] == "ErrImagePull"
    assert presenters.pod_status(pod(statuses=[waiting("ImagePullBackOff")]))["status"] == "ImagePullBackOff"
    status = presenters.pod_status(pod("Running", statuses=[waiting("CrashLoopBackOff", restarts=4)]))
    assert status["status"] == "CrashLoopBackOff"
    assert status["restarts"] == 4
    assert status["tone"] == "bad"


def test_it_counts_ready_containers():
    status = presenters.pod_status(pod("Running", statuses=[running(), {**running(ready=False), "name": "c1"}], containers=2))
    assert status["ready"] == "1/2"
    assert status["status"] == "Running"
    assert status["tone"] == "ok"


def test_it_says_terminating_when_deleting():
    assert presenters.pod_status(pod("Running", statuses=[running()], deleting=True))["status"] == "Terminating"


def test_it_says_completed():
    done = {"name": "c0", "ready": False, "restartCount": 0, "state": {"terminated": {"reason": "Completed", "exitCode": 0}}}
    assert presenters.pod_status(pod("Succeeded", statuses=[done]))["status"] == "Completed"


def test_it_shows_exit_codes_without_reason():
    died = {"name": "c0", "ready": False, "restartCount": 1, "state": {"terminated": {"exitCode": 3}}}
    assert presenters.pod_status(pod("Running", statuses=[died]))["status"] == "ExitCode:3"


def test_it_shows_init_progress():
    p = pod(init=["a", "b"], init_statuses=[
        {"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
        {"name": "b", "state": {"running": {}}},
    ])
    assert presenters.pod_status(p)["status"] == "Init:1/2"


def test_it_presents_pod_rows():
    row = presenters.present_pod(pod("Running", statuses=[running(restarts=2)]), NOW)
    assert row == {
        "name": "web-1", "ready": "1/1", "status": "Running", "restarts": 2, "tone": "ok",
        "age": {"iso": ago(minutes=5), "text": "5m"}, "node": "node-1", "ip": "10.0.0.5",
        "containers": ["c0"], "labels": {},
    }


def test_it_prints_durations_like_kubectl():
    cases = {0: "0s", 59: "59s", 119: "119s", 120: "2m", 125: "2m5s", 600: "10m", 3 * 3600: "3h",
             3 * 3600 + 60: "3h1m", 9 * 3600: "9h", 50 * 3600: "2d2h", 10 * 86400: "10d", 800 * 86400: "2y70d"}
    for seconds, text in cases.items():
        assert presenters.human_duration(seconds) == text, seconds
    assert presenters.human_duration(-5) == "<invalid>"


def test_it_presents_deployments():
    deploy = {
        "metadata": {"name": "web", "creationTimestamp": ago(hours=1)},
        "spec": {"replicas": 3},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2, "conditions": [
            {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
            {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"},
        ]},
    }
    row = presenters.present_deployment(deploy, NOW)
    assert (row["ready"], row["up_to_date"], row["available"]) == ("2/3", 3, 2)
    assert [(c["type"], c["status"], c["tone"]) for c in row["conditions"]] == [
        ("Available", "False", "bad"), ("Progressing", "True", "ok")]
    assert row["age"]["text"] == "60m"


def test_it_presents_replicasets():
    rs = {"metadata": {"name": "web-abc", "ownerReferences": [{"kind": "Deployment", "name": "web"}]},
          "spec": {"replicas": 3}, "status": {"replicas": 3, "readyReplicas": 1}}
    row = presenters.present_replicaset(rs, NOW)
    assert (row["desired"], row["current"], row["ready"], row["owner"]) == (3, 3, 1, "web")


def service(kind="LoadBalancer", ingress=None, ports=None):
    svc = {"metadata": {"name": "web", "creationTimestamp": ago(seconds=30)},
           "spec": {"type": kind, "clusterIP": "10.96.0.10",
                    "ports": ports if ports is not None else [{"port": 80, "nodePort": 31234, "protocol": "TCP"}],
                    "selector": {"app": "web"}},
           "status": {}}
    if ingress:
        svc["status"]["loadBalancer"] = {"ingress": [{"ip": ip} for ip in ingress]}
    return svc


def test_it_shows_pending_external_ip():
    row = presenters.present_service(service(), None, NOW)
    assert row["external"] == {"text": "<pending>", "pending": True, "links": []}
    assert row["ports"] == "80:31234/TCP"
    assert row["endpoints"]["text"] == "<none>"


def test_it_links_the_external_ip():
    row = presenters.present_service(service(ingress=["127.40.129.2"]), None, NOW)
    assert row["external"]["links"] == [{"address": "127.40.129.2", "url": "http://127.40.129.2/"}]
    other = presenters.present_service(service(ingress=["127.1.1.1"], ports=[{"port": 8080, "nodePort": 30001}]))
    assert other["external"]["links"][0]["url"] == "http://127.1.1.1:8080/"


def test_it_leaves_external_ip_empty_for_cluster_ip():
    row = presenters.present_service(service("ClusterIP", ports=[{"port": 80, "protocol": "TCP"}]), None, NOW)
    assert row["external"]["text"] == ""
    assert row["ports"] == "80/TCP"
    assert presenters.service_external(service("Weird"))["text"] == "<unknown>"


def test_it_lists_endpoints():
    endpoints = {"subsets": [{"addresses": [{"ip": f"10.0.0.{i}"} for i in range(1, 5)],
                              "notReadyAddresses": [{"ip": "10.0.0.9"}], "ports": [{"port": 80}]}]}
    shown = presenters.endpoint_addresses(endpoints)
    assert shown == {"text": "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 1 more...", "ready": 4, "not_ready": 1,
                     "shown": ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"], "more": 1}


def test_it_orders_events_newest_first_and_caps_them():
    events = {
        f"e{i}": {"metadata": {"name": f"e{i}"}, "type": "Warning" if i == 3 else "Normal", "reason": "Pulled",
                  "involvedObject": {"kind": "Pod", "name": "web-1"}, "message": f"m{i}", "count": i,
                  "lastTimestamp": ago(seconds=100 - i)}
        for i in range(1, 40)
    }
    shown = presenters.present_namespace({"events": events}, NOW)
    assert len(shown["events"]) == presenters.EVENTS_SHOWN
    assert shown["event_total"] == 39
    assert shown["events"][0]["name"] == "e39"
    assert shown["events"][0]["object"] == "pod/web-1"
    assert shown["events"][0]["age"]["text"] == "61s"
    assert [e["tone"] for e in shown["events"] if e["name"] == "e3"] == []  # beyond the cap


def test_it_presents_the_session_namespace_with_its_quota_and_defaults():
    shown = presenters.present_lab_namespace(
        "lab-a", "ending", {"liveops.dev/session": "abc", "app.kubernetes.io/managed-by": "liveops-labs"},
        {"hard": {"pods": "10", "requests.cpu": "2"}},
        {"limits": [{"type": "Container", "defaultRequest": {"cpu": "100m", "memory": "64Mi"}, "default": {"cpu": "200m"}}]},
    )
    assert (shown["status"], shown["tone"]) == ("Terminating", "busy")
    assert shown["labels"] == ["app.kubernetes.io/managed-by=liveops-labs", "liveops.dev/session=abc"]
    assert shown["quota"] == [("pods", "10"), ("requests.cpu", "2")]
    assert shown["defaults"] == [{"what": "request", "cpu": "100m", "memory": "64Mi"},
                                 {"what": "limit", "cpu": "200m", "memory": ""}]
