"""Observed namespace states built by hand, in the shape labs.state keeps (API JSON, camelCase)."""

from __future__ import annotations

import copy
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from clouds.models import Cluster
from labs.models import LabSession

LABELS = {"app": "lb-test"}


def make_session(username: str = "alice", namespace: str | None = None) -> LabSession:
    user, _ = get_user_model().objects.get_or_create(username=username)
    cluster, _ = Cluster.objects.get_or_create(name="test-cluster", defaults={"kubeconfig_path": "/nonexistent"})
    return LabSession.objects.create(
        user=user, lab_slug="loadbalancer", cluster=cluster, namespace=namespace or f"lab-{username}",
        state=LabSession.State.READY, expires_at=timezone.now() + timedelta(hours=1),
    )


def deployment(name="lb-test", replicas=3, ready=3, labels=LABELS, image="nginx:latest", container_port=80):
    return {
        "metadata": {"name": name, "generation": 1, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": {"metadata": {"labels": dict(labels)},
                         "spec": {"containers": [{"name": "web", "image": image,
                                                  "ports": [{"containerPort": container_port}]}]}},
        },
        "status": {"observedGeneration": 1, "replicas": replicas, "readyReplicas": ready,
                   "updatedReplicas": replicas, "availableReplicas": ready},
    }


def pod(name, labels=LABELS, ready=True, ip="127.31.0.10", image="nginx:latest", container_port=80,
        waiting: tuple[str, str] | None = None, unschedulable: str | None = None, requests: dict | None = None,
        node_selector: dict | None = None, node_affinity: list | None = None):
    """A pod; `unschedulable` makes it one the scheduler could not place (its message), Pending
    without a node, an IP or container statuses, as a real one is."""
    container_status = {"name": "web", "image": image, "ready": ready, "restartCount": 0,
                        "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}}}
    if waiting:
        container_status["state"] = {"waiting": {"reason": waiting[0], "message": waiting[1]}}
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    container = {"name": "web", "image": image, "ports": [{"containerPort": container_port}]}
    if requests:
        container["resources"] = {"requests": dict(requests)}
    spec = {"containers": [container]}
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    if node_affinity:
        spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": copy.deepcopy(node_affinity)}}}
    if unschedulable:
        return {
            "metadata": {"name": name, "labels": dict(labels)}, "spec": spec,
            "status": {"phase": "Pending", "qosClass": "Burstable", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": unschedulable,
                 "lastProbeTime": None, "lastTransitionTime": "2025-01-01T00:00:00Z"}]},
        }
    return {
        "metadata": {"name": name, "labels": dict(labels)}, "spec": spec,
        "status": {"phase": "Running" if ready else "Pending", "podIP": ip, "conditions": conditions,
                   "containerStatuses": [container_status]},
    }


def replicaset(name="lb-test-5d8f7c9b4", deployment="lb-test", replicas=3, current=0, failure: str | None = None):
    """A Deployment's ReplicaSet with `current` of its `replicas` pods; `failure`: its ReplicaFailure message."""
    rs = {
        "metadata": {"name": name, "labels": dict(LABELS),
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment,
                                          "controller": True}]},
        "spec": {"replicas": replicas, "selector": {"matchLabels": dict(LABELS)}},
        "status": {"replicas": current, "observedGeneration": 1},
    }
    if failure:
        rs["status"]["conditions"] = [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                       "message": failure}]
    return rs


def node(name, allocatable: dict | None = None, labels: dict | None = None):
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "status": {"allocatable": dict(allocatable or {"cpu": "7910m", "memory": "30115644Ki", "pods": "110"})}}


def service(name="lb-test-svc", selector=LABELS, type_="LoadBalancer", port=80, target_port=80, ip=None):
    svc = {
        "metadata": {"name": name},
        "spec": {"type": type_, "selector": dict(selector) if selector is not None else None,
                 "ports": [{"protocol": "TCP", "port": port, "targetPort": target_port}]},
        "status": {"loadBalancer": {}},
    }
    if ip:
        svc["status"]["loadBalancer"] = {"ingress": [{"ip": ip}]}
    return svc


def endpoints(name="lb-test-svc", pods=(), not_ready=(), port=80):
    subset = {"ports": [{"port": port, "protocol": "TCP"}]}
    if pods:
        subset["addresses"] = [{"ip": p["status"]["podIP"], "targetRef": {"kind": "Pod", "name": p["metadata"]["name"]}}
                               for p in pods]
    if not_ready:
        subset["notReadyAddresses"] = [{"ip": p["status"]["podIP"],
                                        "targetRef": {"kind": "Pod", "name": p["metadata"]["name"]}}
                                       for p in not_ready]
    return {"metadata": {"name": name}, "subsets": [subset] if (pods or not_ready) else []}


def event(kind, name, reason, message, at="2025-01-01T00:00:00Z", type_="Normal", event_name=None):
    return {"metadata": {"name": event_name or f"{name}.{reason}.{at}"},
            "involvedObject": {"kind": kind, "name": name}, "reason": reason, "message": message, "type": type_,
            "lastTimestamp": at}


def state(*, deployments=(), pods=(), services=(), endpoints_=(), events=(), replicasets=(), nodes=None):
    """`nodes`: only when given (the observed state of a namespace holds none)."""
    observed = {
        "pods": {p["metadata"]["name"]: copy.deepcopy(p) for p in pods},
        "deployments": {d["metadata"]["name"]: copy.deepcopy(d) for d in deployments},
        "replicasets": {r["metadata"]["name"]: copy.deepcopy(r) for r in replicasets},
        "services": {s["metadata"]["name"]: copy.deepcopy(s) for s in services},
        "endpoints": {e["metadata"]["name"]: copy.deepcopy(e) for e in endpoints_},
        "events": {e["metadata"]["name"]: copy.deepcopy(e) for e in events},
    }
    if nodes is not None:
        observed["nodes"] = {n["metadata"]["name"]: copy.deepcopy(n) for n in nodes}
    return observed


def healthy(ip="127.31.129.5", target_port=80):
    """The finished lab: 3 ready pods, a LoadBalancer Service with an IP and 3 endpoints."""
    pods = [pod(f"lb-test-abc-{i}", ip=f"127.31.0.{10 + i}") for i in range(3)]
    return state(deployments=[deployment()], pods=pods, services=[service(ip=ip, target_port=target_port)],
                 endpoints_=[endpoints(pods=pods)])
