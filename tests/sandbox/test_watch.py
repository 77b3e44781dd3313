"""Watches: initial state, resume from a resourceVersion, 410 Expired, selectors."""

import json
import urllib.parse
import urllib.request


def configmap(name, labels=None):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels or {}},
            "data": {"k": "v"}}


def watch_events(sandbox, path, **query):
    """All events of a watch that ends after timeoutSeconds."""
    query.setdefault("timeoutSeconds", "1")
    url = f"{sandbox.url}{path}?watch=true&" + urllib.parse.urlencode(query)
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {sandbox.token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return [json.loads(line) for line in resp.read().splitlines() if line.strip()]


def post(sandbox, namespace, body):
    code, _, out = sandbox.request("POST", f"/api/v1/namespaces/{namespace}/configmaps", body)
    assert code == 201, out
    return out


def test_it_sends_current_objects_first(sandbox, namespace):
    post(sandbox, namespace, configmap("a"))
    post(sandbox, namespace, configmap("b"))
    events = watch_events(sandbox, f"/api/v1/namespaces/{namespace}/configmaps")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "a"), ("ADDED", "b")]


def test_it_resumes_from_a_resource_version(sandbox, namespace):
    first = post(sandbox, namespace, configmap("a"))
    rv = first["metadata"]["resourceVersion"]
    post(sandbox, namespace, configmap("b"))
    sandbox.request("PATCH", f"/api/v1/namespaces/{namespace}/configmaps/a", {"data": {"k": "2"}},
                    "application/merge-patch+json")
    sandbox.request("DELETE", f"/api/v1/namespaces/{namespace}/configmaps/b")
    events = watch_events(sandbox, f"/api/v1/namespaces/{namespace}/configmaps", resourceVersion=rv)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(versions) and versions[0] > int(rv)


def test_it_answers_410_for_a_resource_version_out_of_the_window(sandbox, namespace):
    first = post(sandbox, namespace, configmap("first"))
    for i in range(310):  # the test sandbox keeps 300 changes
        post(sandbox, namespace, configmap(f"cm-{i}"))
    events = watch_events(sandbox, f"/api/v1/namespaces/{namespace}/configmaps",
                          resourceVersion=first["metadata"]["resourceVersion"])
    assert len(events) == 1 and events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert status["code"] == 410 and status["reason"] == "Expired"
    assert status["message"].startswith(f"too old resource version: {first['metadata']['resourceVersion']}")


def test_it_filters_by_selector_and_sends_deleted_when_an_object_stops_matching(sandbox, namespace):
    obj = post(sandbox, namespace, configmap("a", {"app": "web"}))
    post(sandbox, namespace, configmap("other", {"app": "db"}))
    sandbox.request("PATCH", f"/api/v1/namespaces/{namespace}/configmaps/a",
                    {"metadata": {"labels": {"app": "gone"}}}, "application/merge-patch+json")
    events = watch_events(sandbox, f"/api/v1/namespaces/{namespace}/configmaps", labelSelector="app=web",
                          resourceVersion=str(int(obj["metadata"]["resourceVersion"]) - 1))
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "a"), ("DELETED", "a")]


def test_it_streams_changes_to_kubectl_get_watch(sandbox, namespace):
    import subprocess
    import time

    post(sandbox, namespace, configmap("before"))
    proc = subprocess.Popen(["/usr/bin/kubectl", "--kubeconfig", sandbox.kubeconfig, "-n", namespace, "get",
                             "configmaps", "-w", "--request-timeout=3s"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.7)
        post(sandbox, namespace, configmap("after"))
        time.sleep(0.5)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=5)
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "DATA", "AGE"] or lines[0].split()[:1] == ["NAME"]
    assert any(line.startswith("before") for line in lines)
    assert any(line.startswith("after") for line in lines)
