import json

import pytest
import yaml
from django.urls import reverse

from clouds.watch import state as live_state
from labs.live import actions as object_tasks
from labs.models import LabSession, SessionLog
from tests.labs.helpers import make_instructed_session, make_session, wait_for

pytestmark = pytest.mark.django_db

MANIFESTS = """
apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}, labels: {{app: web}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: nginx, image: nginx:1.27, ports: [{{containerPort: 80}}]}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {ns}}}
spec:
  type: LoadBalancer
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 80}}]
"""


def get(sandbox, ns, *args):
    return json.loads(sandbox.kubectl("get", *args, "-n", ns, "-o", "json").stdout)


@pytest.fixture
def lab(sandbox, cluster, make_user):
    user = make_user("alice")
    session = make_session(user, cluster=cluster)
    sandbox.kubectl("apply", "-f", "-", input=MANIFESTS.format(ns=session.namespace))
    pods = wait_for(lambda: get(sandbox, session.namespace, "pods")["items"], message="a pod")
    return user, session, pods[0]["metadata"]["name"]


def url(name, session, *args):
    return reverse(f"labs:{name}", args=[session.id, *args])


def test_it_describes_a_deployment(client, lab):
    user, session, _ = lab
    client.force_login(user)
    r = client.get(url("object_describe", session, "deployments", "web"))
    assert r.status_code == 200
    body = r.content.decode()
    assert "deployment/web" in body
    assert "Name:           web" in body
    assert "Replicas:" in body and "desired" in body
    assert "nginx:1.27" in body
    assert 'name="replicas"' in body  # the owner may scale it
    assert url("object_restart", session, "web") in body


def test_it_describes_a_pod_with_its_events(client, lab):
    user, session, pod = lab
    live_state.save_object(session.cluster_id, session.namespace, "events", {
        "metadata": {"name": f"{pod}.1"}, "type": "Normal", "reason": "Scheduled", "message": "Assigned to node-1",
        "involvedObject": {"kind": "Pod", "name": pod}, "lastTimestamp": "2025-01-01T00:00:00Z",
        "source": {"component": "default-scheduler"}})
    client.force_login(user)
    body = client.get(url("object_describe", session, "pods", pod)).content.decode()
    assert "Containers:" in body
    assert "Scheduled" in body and "Assigned to node-1" in body
    assert url("object_logs", session, pod) in body


def test_it_describes_a_service(client, lab):
    user, session, _ = lab
    client.force_login(user)
    body = client.get(url("object_describe", session, "services", "web")).content.decode()
    assert "LoadBalancer Ingress:" in body
    assert "Type:           LoadBalancer" in body


def test_it_downloads_yaml(client, lab):
    user, session, _ = lab
    client.force_login(user)
    r = client.get(url("object_yaml", session, "services", "web"))
    assert r.status_code == 200
    assert r["Content-Disposition"] == 'attachment; filename="service-web.yaml"'
    doc = yaml.safe_load(r.content)
    assert doc["kind"] == "Service" and doc["apiVersion"] == "v1"
    assert doc["metadata"]["name"] == "web"
    assert "managedFields" not in doc["metadata"]


def test_it_shows_pod_logs(client, lab):
    user, session, pod = lab
    client.force_login(user)
    r = client.get(url("object_logs", session, pod) + "?lines=5")
    assert r.status_code == 200
    body = r.content.decode()
    assert f"pod/{pod}" in body and "logs" in body
    assert 'data-testid="log-text"' in body
    # The dialog follows the log live over its own socket.
    assert f'ws-connect="/ws/sessions/{session.id}/pods/{pod}/logs/?lines=5"' in body


def test_it_queues_a_delete(client, lab, monkeypatch):
    user, session, pod = lab
    queued = []
    monkeypatch.setattr(object_tasks.delete_object, "delay", lambda *a: queued.append(a))
    client.force_login(user)
    r = client.post(url("object_delete", session, "pods", pod))
    assert r.status_code == 202
    assert f"Deleting pod/{pod}" in r.content.decode()
    assert queued == [(str(session.id), "pods", pod)]


def test_it_deletes_in_the_task(sandbox, lab):
    _, session, _ = lab
    result = object_tasks.delete_object.run(str(session.id), "services", "web")
    assert result["ok"]
    # The load balancer's finalizer may keep it a moment.
    wait_for(lambda: sandbox.kubectl("get", "service", "web", "-n", session.namespace, check=False).returncode != 0,
             message="the service to go")
    assert SessionLog.objects.filter(session=session, message="Deleted service/web").exists()
    again = object_tasks.delete_object.run(str(session.id), "services", "web")
    assert not again["ok"] and "no longer exists" in again["message"]


def test_it_scales(client, lab, sandbox, monkeypatch):
    user, session, _ = lab
    queued = []
    monkeypatch.setattr(object_tasks.scale_deployment, "delay", lambda *a: queued.append(a))
    client.force_login(user)
    assert client.post(url("object_scale", session, "web"), {"replicas": "2"}).status_code == 202
    assert queued == [(str(session.id), "web", 2)]
    assert object_tasks.scale_deployment.run(*queued[0])["ok"]
    assert get(sandbox, session.namespace, "deployment", "web")["spec"]["replicas"] == 2


def test_it_refuses_bad_replica_counts(client, lab):
    user, session, _ = lab
    client.force_login(user)
    for value in ("-1", "6", "99", "three", ""):  # the lab allows at most 5
        r = client.post(url("object_scale", session, "web"), {"replicas": value})
        assert r.status_code == 400
        assert "Replicas must be" in r.content.decode()


def test_it_restarts(client, lab, sandbox, monkeypatch):
    user, session, _ = lab
    queued = []
    monkeypatch.setattr(object_tasks.restart_deployment, "delay", lambda *a: queued.append(a))
    client.force_login(user)
    assert client.post(url("object_restart", session, "web")).status_code == 202
    assert queued == [(str(session.id), "web")]
    assert object_tasks.restart_deployment.run(*queued[0])["ok"]
    template = get(sandbox, session.namespace, "deployment", "web")["spec"]["template"]
    assert "kubectl.kubernetes.io/restartedAt" in template["metadata"]["annotations"]
    assert template["metadata"]["labels"] == {"app": "web"}  # a patch, not a replacement


def test_it_gives_404_for_bad_kinds_and_names(client, lab):
    user, session, _ = lab
    client.force_login(user)
    assert client.get(url("object_describe", session, "secrets", "web")).status_code == 404
    assert client.get(url("object_describe", session, "pods", "Not_A_Name")).status_code == 404
    r = client.get(url("object_describe", session, "pods", "missing"))
    assert r.status_code == 404
    assert f"pod/missing does not exist in namespace {session.namespace}" in r.content.decode()
    assert client.get(url("object_yaml", session, "deployments", "missing")).status_code == 404
    assert client.get(url("object_logs", session, "missing")).status_code == 404
    assert client.post(url("object_delete", session, "secrets", "web")).status_code == 404


def test_it_explains_an_unreachable_cluster(client, make_user):
    user = make_user("alice")
    session = make_session(user)  # its cluster's kubeconfig does not exist
    client.force_login(user)
    r = client.get(url("object_describe", session, "pods", "web"))
    assert r.status_code == 502
    assert "the cluster is unavailable" in r.content.decode()


def test_it_changes_nothing_when_the_lab_is_not_running(client, make_user):
    user = make_user("alice")
    session = make_session(user, state=LabSession.State.ENDED)
    client.force_login(user)
    r = client.post(url("object_delete", session, "pods", "web"))
    assert r.status_code == 409
    assert "nothing can be changed" in r.content.decode()
    assert object_tasks.delete_object.run(str(session.id), "pods", "web")["ok"] is False


@pytest.mark.parametrize("method,name,args", [
    ("get", "object_describe", ("pods", "web")),
    ("get", "object_yaml", ("services", "web")),
    ("get", "object_logs", ("web",)),
    ("post", "object_delete", ("pods", "web")),
    ("post", "object_scale", ("web",)),
    ("post", "object_restart", ("web",)),
])
def test_it_checks_owner(client, make_user, method, name, args):
    session = make_session(make_user("alice"))
    client.force_login(make_user("bob"))
    r = getattr(client, method)(url(name, session, *args), {"replicas": "1"} if method == "post" else None)
    assert r.status_code == 404


def test_it_requires_login(client, make_user):
    session = make_session(make_user("alice"))
    r = client.get(url("object_describe", session, "pods", "web"))
    assert r.status_code == 302


def test_it_lets_an_instructor_read_but_not_change(client, make_user, monkeypatch):
    session, teacher = make_instructed_session(make_user)
    client.force_login(teacher)
    assert client.get(url("object_describe", session, "pods", "web")).status_code == 502  # read allowed (no cluster)
    assert client.post(url("object_delete", session, "pods", "web")).status_code == 404


def test_it_shows_the_panel_on_the_lab_page(client, make_user):
    user = make_user("alice")
    session = make_session(user)
    live_state.save_object(session.cluster_id, session.namespace, "pods", {
        "metadata": {"name": "web-1", "creationTimestamp": "2025-01-01T00:00:00Z"},
        "spec": {"containers": [{"name": "nginx"}]}, "status": {"phase": "Pending"}})
    client.force_login(user)
    body = client.get(f"/sessions/{session.id}/").content.decode()
    assert 'id="liveops-panel"' in body
    assert 'id="pod-web-1"' in body
    assert url("object_describe", session, "pods", "web-1") in body


def test_it_merges_the_live_service_into_the_editor_text(client, lab):
    user, session, _ = lab
    client.force_login(user)
    text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  type: ClusterIP\n"
    r = client.post(url("object_edit", session, "services", "web"), {"manifest": text})
    assert r.status_code == 200
    data = r.json()
    merged = yaml.safe_load(data["text"])
    assert merged["spec"]["type"] == "LoadBalancer"  # the live value replaced the stale text
    assert "clusterIP" not in merged["spec"] and "status" not in merged
    assert "nodePort" not in merged["spec"]["ports"][0]
    assert data["line"] == 1 and "service/web" in data["message"]


def test_it_refuses_to_edit_objects_the_cluster_makes(client, lab):
    user, session, pod = lab
    client.force_login(user)
    r = client.post(url("object_edit", session, "pods", pod), {"manifest": ""})
    assert r.status_code == 400 and "Deployment" in r.json()["error"]


def test_it_checks_owner_of_edit(client, lab, make_user):
    _, session, _ = lab
    client.force_login(make_user("mallory"))
    r = client.post(url("object_edit", session, "services", "web"), {"manifest": ""})
    assert r.status_code == 404


def test_it_lets_instructors_read_but_not_edit(client, lab, make_user):
    user, session, _ = lab
    from labs.models import Cohort

    instructor = make_user("teacher2")
    cohort = Cohort.objects.create(name="edit-cohort")
    cohort.students.add(user)
    cohort.instructors.add(instructor)
    client.force_login(instructor)
    assert client.get(url("object_describe", session, "services", "web")).status_code == 200
    assert client.post(url("object_edit", session, "services", "web"), {"manifest": ""}).status_code == 404


def test_it_caps_pod_logs_in_bytes_as_well_as_lines(client, lab, monkeypatch):
    import re

    from labs.views import objects

    user, session, pod = lab
    client.force_login(user)
    full = client.get(url("object_logs", session, pod) + "?lines=2000").content.decode()
    full_text = re.search(r'data-testid="log-text">(.*?)</pre>', full, re.S).group(1)
    assert len(full_text) > 40
    monkeypatch.setattr(objects, "MAX_LOG_BYTES", 40)
    capped = client.get(url("object_logs", session, pod) + "?lines=2000").content.decode()
    capped_text = re.search(r'data-testid="log-text">(.*?)</pre>', capped, re.S).group(1)
    assert len(capped_text.encode()) <= 40 < len(full_text.encode())


@pytest.mark.parametrize("method,name,args", [
    ("get", "object_describe", ("pods", "a..b")),
    ("get", "object_describe", ("services", "1-web")),
    ("get", "object_yaml", ("services", "web.internal")),
    ("post", "object_edit", ("services", "web.x")),
    ("post", "object_delete", ("services", "web.internal")),
    ("post", "object_delete", ("pods", "a..b")),
    ("post", "object_scale", ("a..b",)),
    ("post", "object_restart", ("web-.x",)),
    ("get", "object_logs", ("a..b",)),
])
def test_it_checks_names_by_the_kinds_rule_before_any_api_path(client, make_user, monkeypatch, method, name, args):
    user = make_user("alice")
    session = make_session(user)  # no cluster: a name that got through would answer 502, not 404
    queued = []
    for task in (object_tasks.delete_object, object_tasks.scale_deployment, object_tasks.restart_deployment):
        monkeypatch.setattr(task, "delay", lambda *a: queued.append(a))
    client.force_login(user)
    r = getattr(client, method)(url(name, session, *args), {"replicas": "1"} if method == "post" else None)
    assert r.status_code == 404
    assert queued == []


def test_it_checks_the_container_name_of_logs(client, make_user):
    user = make_user("alice")
    session = make_session(user)
    client.force_login(user)
    assert client.get(url("object_logs", session, "web"), {"container": "nginx.x"}).status_code == 404
    assert client.get(url("object_logs", session, "web"), {"container": "nginx"}).status_code == 502
