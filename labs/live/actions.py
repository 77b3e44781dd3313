"""Changes students make to objects from the live panel (delete, scale, restart, pause, resume, roll back).

They run in Celery workers so a web request never waits on a cluster; the
result reaches the page through the watcher like any other change.
"""

from __future__ import annotations

import json
import logging

from celery import shared_task
from django.utils import timezone
from kubernetes.client.rest import ApiException

from clouds import kube
from clouds.kube import api_message
from labs.live.rollouts import RollbackRefused, rollback_patch
from labs.models import LabSession

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT = (5, 20)


def _session(session_id) -> LabSession | None:
    session = LabSession.objects.select_related("cluster").filter(pk=session_id).first()
    if session is None or session.state != LabSession.State.READY:
        return None
    return session


def _run(session: LabSession, what: str, call) -> dict:
    try:
        call()
    except RollbackRefused as exc:  # what kubectl would refuse, said as it is
        message = str(exc)
    except ApiException as exc:
        message = f"{what}: it no longer exists" if exc.status == 404 else f"{what} failed: {api_message(exc)}"
    except Exception as exc:  # cluster unreachable
        message = f"{what} failed: {api_message(exc)}"
    else:
        session.record("action", what)
        return {"ok": True, "message": what}
    session.record("action", message)
    return {"ok": False, "message": message}


NOT_RUNNING = {"ok": False, "message": "not a running lab session"}


@shared_task(name="labs.object_tasks.delete_object")
def delete_object(session_id: str, kind: str, name: str) -> dict:
    session = _session(session_id)
    if session is None or kind not in kube.KINDS or not kube.KINDS[kind].allows("delete"):
        return NOT_RUNNING
    spec = kube.KINDS[kind]
    delete = spec.delete(kube.api_client(session.cluster))
    return _run(session, f"Deleted {spec.singular}/{name}",
                lambda: delete(name, session.namespace, propagation_policy="Background",
                               _request_timeout=REQUEST_TIMEOUT))


@shared_task(name="labs.object_tasks.scale_deployment")
def scale_deployment(session_id: str, name: str, replicas: int) -> dict:
    session = _session(session_id)
    if session is None:
        return NOT_RUNNING
    api = kube.apps(session.cluster)
    return _run(
        session,
        f"Scaled deployment/{name} to {int(replicas)} replicas",
        lambda: api.patch_namespaced_deployment(
            name, session.namespace, {"spec": {"replicas": int(replicas)}},
            _content_type="application/merge-patch+json", _request_timeout=REQUEST_TIMEOUT,
        ),
    )


@shared_task(name="labs.object_tasks.restart_deployment")
def restart_deployment(session_id: str, name: str) -> dict:
    session = _session(session_id)
    if session is None:
        return NOT_RUNNING
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


def _set_paused(session_id: str, name: str, paused: bool) -> dict:
    session = _session(session_id)
    if session is None:
        return NOT_RUNNING
    api = kube.apps(session.cluster)
    what = (f"Paused deployment/{name}: changes to its template wait until it is resumed" if paused
            else f"Resumed deployment/{name}")
    return _run(session, what, lambda: api.patch_namespaced_deployment(
        name, session.namespace, {"spec": {"paused": paused}},
        _content_type="application/merge-patch+json", _request_timeout=REQUEST_TIMEOUT))


@shared_task(name="labs.object_tasks.pause_deployment")
def pause_deployment(session_id: str, name: str) -> dict:
    """kubectl rollout pause: the Deployment keeps its pods but rolls out no new template."""
    return _set_paused(session_id, name, True)


@shared_task(name="labs.object_tasks.resume_deployment")
def resume_deployment(session_id: str, name: str) -> dict:
    """kubectl rollout resume: a template changed while paused now rolls out."""
    return _set_paused(session_id, name, False)


@shared_task(name="labs.object_tasks.rollback_deployment")
def rollback_deployment(session_id: str, name: str, revision: int) -> dict:
    """kubectl rollout undo --to-revision: the Deployment takes that revision's pod template back."""
    session = _session(session_id)
    if session is None:
        return NOT_RUNNING
    apps = kube.apps(session.cluster)
    what = f"Rolled back deployment/{name} to revision {int(revision)}"

    def read(call, *args) -> dict:
        return json.loads(call(*args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT).data)

    def roll_back():
        deployment = read(apps.read_namespaced_deployment, name, session.namespace)
        replicasets = read(apps.list_namespaced_replica_set, session.namespace)["items"]
        apps.patch_namespaced_deployment(
            name, session.namespace, rollback_patch(deployment, replicasets, int(revision)),
            _content_type="application/json-patch+json", _request_timeout=REQUEST_TIMEOUT)

    return _run(session, what, roll_back)
