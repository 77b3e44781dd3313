"""Changes students make to objects from the live panel (delete, scale, restart).

They run in Celery workers so a web request never waits on a cluster; the
result reaches the page through the watcher like any other change.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone
from kubernetes.client.rest import ApiException

from labs import cluster as kube
from labs.models import LabSession, SessionLog

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT = (5, 20)
SINGULAR = {"pods": "pod", "deployments": "deployment", "replicasets": "replicaset", "services": "service"}
DELETERS = {
    "pods": ("core", "delete_namespaced_pod"),
    "deployments": ("apps", "delete_namespaced_deployment"),
    "replicasets": ("apps", "delete_namespaced_replica_set"),
    "services": ("core", "delete_namespaced_service"),
}


def _session(session_id) -> LabSession | None:
    session = LabSession.objects.select_related("cluster").filter(pk=session_id).first()
    if session is None or session.state != LabSession.State.READY:
        return None
    return session


def _explain(exc: Exception) -> str:
    if isinstance(exc, ApiException):
        import json

        try:
            return json.loads(exc.body).get("message") or f"{exc.status} {exc.reason}"
        except (TypeError, ValueError):
            return f"{exc.status} {exc.reason}"
    return str(exc) or type(exc).__name__


def _run(session: LabSession, what: str, call) -> dict:
    try:
        call()
    except ApiException as exc:
        if exc.status == 404:
            message = f"{what}: it no longer exists"
        else:
            message = f"{what} failed: {_explain(exc)}"
        SessionLog.objects.create(session=session, kind="action", message=message)
        return {"ok": False, "message": message}
    except Exception as exc:  # cluster unreachable
        message = f"{what} failed: the cluster did not answer ({_explain(exc)})"
        SessionLog.objects.create(session=session, kind="action", message=message)
        return {"ok": False, "message": message}
    SessionLog.objects.create(session=session, kind="action", message=what)
    return {"ok": True, "message": what}


@shared_task
def delete_object(session_id: str, kind: str, name: str) -> dict:
    session = _session(session_id)
    if session is None or kind not in DELETERS:
        return {"ok": False, "message": "not a running lab session"}
    api_name, method = DELETERS[kind]
    api = getattr(kube, api_name)(session.cluster)
    return _run(
        session,
        f"Deleted {SINGULAR[kind]}/{name}",
        lambda: getattr(api, method)(name, session.namespace, propagation_policy="Background",
                                     _request_timeout=REQUEST_TIMEOUT),
    )


@shared_task
def scale_deployment(session_id: str, name: str, replicas: int) -> dict:
    session = _session(session_id)
    if session is None:
        return {"ok": False, "message": "not a running lab session"}
    api = kube.apps(session.cluster)
    return _run(
        session,
        f"Scaled deployment/{name} to {int(replicas)} replicas",
        lambda: api.patch_namespaced_deployment(
            name, session.namespace, {"spec": {"replicas": int(replicas)}},
            _content_type="application/merge-patch+json", _request_timeout=REQUEST_TIMEOUT,
        ),
    )


@shared_task
def restart_deployment(session_id: str, name: str) -> dict:
    session = _session(session_id)
    if session is None:
        return {"ok": False, "message": "not a running lab session"}
    api = kube.apps(session.cluster)
    body = {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": timezone.now().replace(microsecond=0).isoformat()
    }}}}}
    return _run(
        session,
        f"Restarted deployment/{name}",
        lambda: api.patch_namespaced_deployment(
            name, session.namespace, body,
            _content_type="application/strategic-merge-patch+json", _request_timeout=REQUEST_TIMEOUT,
        ),
    )
