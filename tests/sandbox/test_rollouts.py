"""Pausing, resuming and rolling back a Deployment with kubectl, as on a real cluster."""

from __future__ import annotations

from .helpers import get_json, wait_for

REVISION = "deployment.kubernetes.io/revision"

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: nginx, image: "nginx:1.27", ports: [{containerPort: 80}]}]
"""


def progressing(sandbox, namespace) -> dict:
    deploy = get_json(sandbox, "-n", namespace, "deployment", "web")
    return next((c for c in deploy["status"].get("conditions") or [] if c["type"] == "Progressing"), {})


def revisions(sandbox, namespace) -> dict[str, str]:
    """{revision: image} of the Deployment's ReplicaSets."""
    return {rs["metadata"]["annotations"][REVISION]: rs["spec"]["template"]["spec"]["containers"][0]["image"]
            for rs in get_json(sandbox, "-n", namespace, "replicasets")["items"]}


def rollout(sandbox, namespace) -> None:
    sandbox.kubectl("-n", namespace, "rollout", "status", "deployment/web", "--timeout=30s", timeout=40)


def test_it_holds_a_paused_rollout_until_resumed(sandbox, namespace):
    sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=DEPLOYMENT)
    rollout(sandbox, namespace)

    sandbox.kubectl("-n", namespace, "rollout", "pause", "deployment/web")
    wait_for(lambda: progressing(sandbox, namespace).get("reason") == "DeploymentPaused", message="paused condition")
    condition = progressing(sandbox, namespace)
    assert (condition["status"], condition["message"]) == ("Unknown", "Deployment is paused")
    sandbox.kubectl("-n", namespace, "set", "image", "deployment/web", "nginx=nginx:1.28")
    described = sandbox.kubectl("-n", namespace, "describe", "deployment", "web").stdout
    assert "DeploymentPaused" in described
    assert revisions(sandbox, namespace) == {"1": "nginx:1.27"}  # the new template waits

    sandbox.kubectl("-n", namespace, "rollout", "resume", "deployment/web")
    rollout(sandbox, namespace)
    assert revisions(sandbox, namespace) == {"1": "nginx:1.27", "2": "nginx:1.28"}
    assert progressing(sandbox, namespace)["reason"] == "NewReplicaSetAvailable"


def test_it_rolls_back_to_an_earlier_revision(sandbox, namespace):
    sandbox.kubectl("-n", namespace, "apply", "-f", "-", input=DEPLOYMENT)
    rollout(sandbox, namespace)
    for image in ("nginx:1.28", "nginx:1.29"):
        sandbox.kubectl("-n", namespace, "set", "image", "deployment/web", f"nginx={image}")
        rollout(sandbox, namespace)

    sandbox.kubectl("-n", namespace, "rollout", "undo", "deployment/web", "--to-revision=1")
    rollout(sandbox, namespace)

    # The revision rolled back to becomes the newest one, and remembers what it was.
    assert revisions(sandbox, namespace) == {"2": "nginx:1.28", "3": "nginx:1.29", "4": "nginx:1.27"}
    rs = next(r for r in get_json(sandbox, "-n", namespace, "replicasets")["items"]
              if r["metadata"]["annotations"][REVISION] == "4")
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    deploy = get_json(sandbox, "-n", namespace, "deployment", "web")
    assert deploy["metadata"]["annotations"][REVISION] == "4"
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    history = sandbox.kubectl("-n", namespace, "rollout", "history", "deployment/web").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["2", "3", "4"]
