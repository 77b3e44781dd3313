"""Pods: scheduling, image pulls, crash loops, logs, quotas and limit ranges."""

from __future__ import annotations

from .helpers import get_json, http_get, reasons, wait_for


def pod_manifest(name: str, image: str, extra: str = "") -> str:
    return f"""\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels:
    app: {name}
spec:
  containers:
  - name: main
    image: {image}
{extra}"""


QUOTA = """\
apiVersion: v1
kind: ResourceQuota
metadata:
  name: {name}
spec:
  hard: {hard}
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: big
spec:
  replicas: 3
  selector:
    matchLabels: {app: big}
  template:
    metadata:
      labels: {app: big}
    spec:
      containers:
      - name: web
        image: nginx:latest
"""


def container_state(sandbox, namespace, pod):
    statuses = get_json(sandbox, "-n", namespace, "pod", pod)["status"].get("containerStatuses") or [{}]
    return statuses[0]


def test_it_runs_a_pod_like_a_kubelet(sandbox, namespace):
    sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=pod_manifest("web", "nginx:latest"))
    sandbox.kubectl("-n", namespace, "wait", "--for=condition=Ready", "pod/web", "--timeout=20s", timeout=30)

    pod = get_json(sandbox, "-n", namespace, "pod", "web")
    st = pod["status"]
    assert st["phase"] == "Running"
    assert {c["type"] for c in st["conditions"] if c["status"] == "True"} >= {
        "PodScheduled", "Initialized", "ContainersReady", "Ready"}
    node = get_json(sandbox, "node", pod["spec"]["nodeName"])
    node_ip = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
    assert st["hostIP"] == node_ip
    cs = st["containerStatuses"][0]
    assert cs["ready"] and cs["started"] and cs["restartCount"] == 0
    assert cs["containerID"].startswith("containerd://")
    assert "running" in cs["state"]
    assert reasons(sandbox, namespace, "web") >= {"Scheduled", "Pulling", "Pulled", "Created", "Started"}

    # nginx without a declared port listens on 80
    status, headers, body = http_get(st["podIP"])
    assert status == 200 and headers["X-Pod-Name"] == "web"
    assert f"on node <code>{pod['spec']['nodeName']}</code>" in body

    logs = sandbox.kubectl("-n", namespace, "logs", "web").stdout
    assert "Configuration complete; ready for start up" in logs
    assert '"GET / HTTP/1.1" 200' in logs


def test_it_backs_off_pulling_a_misspelled_image(sandbox, namespace):
    sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=pod_manifest("typo", "ngnix:latest"))

    wait_for(lambda: container_state(sandbox, namespace, "typo").get("state", {}).get("waiting", {})
             .get("reason") == "ImagePullBackOff", message="ImagePullBackOff")
    table = sandbox.kubectl("-n", namespace, "get", "pod", "typo").stdout
    assert "ImagePullBackOff" in table or "ErrImagePull" in table
    assert get_json(sandbox, "-n", namespace, "pod", "typo")["status"]["phase"] == "Pending"

    events = get_json(sandbox, "-n", namespace, "events")["items"]
    messages = {(e["reason"], e["message"]) for e in events if e["involvedObject"]["name"] == "typo"}
    assert any(r == "Failed" and m.startswith('Failed to pull image "ngnix:latest": ')
               and "pull access denied, repository does not exist or may require authorization" in m
               for r, m in messages), messages
    assert ("BackOff", 'Back-off pulling image "ngnix:latest"') in messages
    # it keeps retrying
    wait_for(lambda: any(e["reason"] == "Pulling" and e.get("count", 1) >= 2
                         for e in get_json(sandbox, "-n", namespace, "events")["items"]
                         if e["involvedObject"]["name"] == "typo"), message="a second pull attempt")


def test_it_crash_loops_a_container_that_exits(sandbox, namespace):
    extra = '    command: ["sh", "-c", "exit 1"]\n'
    sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=pod_manifest("crasher", "busybox:1.36", extra))

    wait_for(lambda: container_state(sandbox, namespace, "crasher").get("restartCount", 0) >= 2,
             message="restarts")
    cs = container_state(sandbox, namespace, "crasher")
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    wait_for(lambda: container_state(sandbox, namespace, "crasher").get("state", {}).get("waiting", {})
             .get("reason") == "CrashLoopBackOff", message="CrashLoopBackOff")
    assert "BackOff" in reasons(sandbox, namespace, "crasher")


def test_it_kills_and_removes_a_deleted_pod(sandbox, namespace):
    sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=pod_manifest("short", "nginx:latest"))
    sandbox.kubectl("-n", namespace, "wait", "--for=condition=Ready", "pod/short", "--timeout=20s", timeout=30)
    ip = get_json(sandbox, "-n", namespace, "pod", "short")["status"]["podIP"]

    sandbox.kubectl("-n", namespace, "delete", "pod", "short", timeout=30)

    assert sandbox.kubectl("-n", namespace, "get", "pod", "short", check=False).returncode != 0
    assert "Killing" in reasons(sandbox, namespace, "short")
    try:
        http_get(ip, timeout=1)
    except OSError:
        pass
    else:
        raise AssertionError("the deleted pod still serves HTTP")


def test_it_reports_quota_exceeded_as_failed_create(sandbox, namespace):
    sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=QUOTA.format(name="small", hard="{pods: \"2\"}"))
    sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=DEPLOYMENT)

    def failed_create():
        return [e["message"] for e in get_json(sandbox, "-n", namespace, "events")["items"]
                if e["reason"] == "FailedCreate"]

    messages = wait_for(failed_create, message="FailedCreate event")
    assert "is forbidden: exceeded quota: small, requested: pods=1, used: pods=2, limited: pods=2" in messages[0]
    assert len(get_json(sandbox, "-n", namespace, "pods")["items"]) == 2
    quota = wait_for(lambda: get_json(sandbox, "-n", namespace, "resourcequota", "small")["status"]
                     .get("used", {}).get("pods") == "2" and
                     get_json(sandbox, "-n", namespace, "resourcequota", "small"), message="quota usage")
    assert quota["status"]["hard"] == {"pods": "2"}
    assert get_json(sandbox, "-n", namespace, "replicaset")["items"][0]["status"]["replicas"] == 2

    # a direct create is refused the same way
    result = sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=pod_manifest("extra", "nginx"), check=False)
    assert result.returncode != 0
    assert "exceeded quota: small" in result.stderr


def test_it_applies_limit_range_defaults_for_the_quota(sandbox, namespace):
    sandbox.kubectl("-n", namespace, "apply", "-f", "-", input="""\
apiVersion: v1
kind: LimitRange
metadata:
  name: defaults
spec:
  limits:
  - type: Container
    default: {cpu: 200m, memory: 128Mi}
    defaultRequest: {cpu: 100m, memory: 64Mi}
---
apiVersion: v1
kind: ResourceQuota
metadata:
  name: compute
spec:
  hard: {requests.cpu: "1", requests.memory: 1Gi, limits.cpu: "2", limits.memory: 2Gi}
""")
    sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=pod_manifest("defaulted", "nginx"))
    pod = get_json(sandbox, "-n", namespace, "pod", "defaulted")
    assert pod["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "200m", "memory": "128Mi"}, "requests": {"cpu": "100m", "memory": "64Mi"}}
    wait_for(lambda: get_json(sandbox, "-n", namespace, "resourcequota", "compute")["status"]
             .get("used", {}).get("requests.memory") == "64Mi", message="quota usage")


def test_it_requires_requests_when_the_quota_constrains_them(sandbox, namespace):
    sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=QUOTA.format(name="compute", hard="{requests.cpu: \"1\"}"))
    result = sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=pod_manifest("bare", "nginx"), check=False)
    assert result.returncode != 0
    assert "failed quota: compute: must specify requests.cpu" in result.stderr
