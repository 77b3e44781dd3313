"""kubectl get: server-side Tables with kubectl's columns, -o wide, -o yaml."""

import yaml

APP = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {app: web}
  ports: [{port: 80, targetPort: 80, nodePort: 31234}]
---
apiVersion: v1
kind: Service
metadata:
  name: internal
spec:
  selector: {app: web}
  ports: [{port: 8080}]
"""


def header(output):
    return output.splitlines()[0].split()


def test_it_prints_kubectl_columns(sandbox, namespace):
    sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=APP)
    out = sandbox.kubectl("-n", namespace, "get", "deployments").stdout
    assert header(out) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    svc = sandbox.kubectl("-n", namespace, "get", "services").stdout
    assert header(svc) == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    rows = {line.split()[0]: line.split() for line in svc.splitlines()[1:]}
    assert rows["internal"][1:5] == ["ClusterIP", rows["internal"][2], "<none>", "8080/TCP"]
    assert rows["internal"][2].startswith("10.96.")
    assert rows["web"][1] == "LoadBalancer" and rows["web"][4] == "80:31234/TCP"
    pods = sandbox.kubectl("-n", namespace, "get", "pods", "-o", "wide").stdout
    assert header(pods) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED", "NODE",
                            "READINESS", "GATES"]
    nodes = sandbox.kubectl("get", "nodes").stdout
    assert header(nodes) == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    ns = sandbox.kubectl("get", "namespace", namespace).stdout
    assert header(ns) == ["NAME", "STATUS", "AGE"] and ns.splitlines()[1].split()[1] == "Active"


def test_it_shows_pending_for_a_load_balancer_without_ingress(sandbox, namespace):
    """A dry-run create returns the Table row kubectl would print before any ingress exists."""
    import json
    import urllib.request

    body = json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb"},
                       "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}).encode()
    req = urllib.request.Request(f"{sandbox.url}/api/v1/namespaces/{namespace}/services?dryRun=All", data=body,
                                 method="POST", headers={
                                     "Authorization": f"Bearer {sandbox.token}", "Content-Type": "application/json",
                                     "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        table = json.loads(resp.read())
    cells = table["rows"][0]["cells"]
    assert cells[1] == "LoadBalancer" and cells[3] == "<pending>"
    assert cells[4].startswith("80:") and cells[4].endswith("/TCP")


def test_it_prints_yaml(sandbox, namespace):
    sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=APP)
    out = sandbox.kubectl("-n", namespace, "get", "deployment", "web", "-o", "yaml").stdout
    obj = yaml.safe_load(out)
    assert obj["kind"] == "Deployment" and obj["metadata"]["namespace"] == namespace
    assert obj["spec"]["strategy"] == {"type": "RollingUpdate",
                                       "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    assert obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    svc = yaml.safe_load(sandbox.kubectl("-n", namespace, "get", "service", "web", "-o", "yaml").stdout)
    assert svc["spec"]["externalTrafficPolicy"] == "Local" and svc["spec"]["ports"][0]["protocol"] == "TCP"
    assert svc["spec"]["ports"][0]["targetPort"] == 80


def test_it_serves_tables_with_row_objects(sandbox, namespace):
    sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=APP)
    import json
    import urllib.request

    req = urllib.request.Request(f"{sandbox.url}/api/v1/namespaces/{namespace}/services", headers={
        "Authorization": f"Bearer {sandbox.token}",
        "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        table = json.loads(resp.read())
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]][:6] == [
        "Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"]
    names = [r["object"]["metadata"]["name"] for r in table["rows"]]
    assert sorted(names) == ["internal", "web"]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
