"""Actions on the objects of a session's namespace, from the live panel.

Reads (describe, YAML, logs) ask the cluster directly with a short timeout;
changes (delete, scale, restart, pause, resume, roll back) are Celery tasks
whose effect the watcher shows. Everything stays inside the session's own namespace.
"""

from __future__ import annotations

import json
import logging

import yaml
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST
from kubernetes.client.rest import ApiException

from clouds import kube
from clouds.kube import KINDS, api_message
from clouds.kube.objects import slim
from clouds.watch import state as live_state
from labs.access import get_session_or_404
from labs.live import actions, rollouts
from labs.live.dialogs import describe_context, max_replicas
from labs.manifests import name_problem
from labs.models import LabSession
from labs.revisions import editable, merge_into_text

logger = logging.getLogger(__name__)

READ_TIMEOUT = (3, 8)
DEFAULT_LOG_LINES = 200
MAX_LOG_LINES = 2000
MAX_LOG_BYTES = 256 * 1024  # a pod's log is read at most this far back, whatever its lines




class ClusterUnavailable(Exception):
    pass


def _check(kind: str, name: str, action: str = "describe") -> None:
    if kind not in KINDS or not KINDS[kind].in_panel:
        raise Http404(f"There is no object kind {kind!r} in the live panel.")
    if not KINDS[kind].allows(action):
        raise Http404(f"{KINDS[kind].singular} objects cannot be changed that way.")
    # The name goes into an API path: it must follow the kind's naming rule (no '/', '..', '%', ...).
    if name_problem(name, KINDS[kind].kind):
        raise Http404(f"{name!r} is not a valid {KINDS[kind].singular} name.")


def _fragment(request, context: dict, status: int = 200) -> HttpResponse:
    return HttpResponse(render_to_string("labs/objects/dialog.html", context, request=request), status=status)


def _error(request, session, kind, name, message: str, status: int) -> HttpResponse:
    return _fragment(request, {"session": session, "kind": kind, "name": name,
                               "singular": KINDS[kind].singular if kind in KINDS else kind, "error": message}, status)


def _read(session: LabSession, kind: str, name: str) -> dict | None:
    """The object as the API's JSON, None when it does not exist."""
    spec = KINDS[kind]
    read = spec.read(kube.api_client(session.cluster))
    try:
        resp = read(name, session.namespace, _preload_content=False, _request_timeout=READ_TIMEOUT)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise ClusterUnavailable(f"the cluster answered {exc.status} {exc.reason}") from exc
    except Exception as exc:
        raise ClusterUnavailable("the cluster did not answer in time") from exc
    obj = json.loads(resp.data)
    obj.setdefault("apiVersion", spec.api_version)
    obj.setdefault("kind", spec.kind)
    return slim(obj)


def _read_or_error(request, session, kind, name):
    try:
        obj = _read(session, kind, name)
    except ClusterUnavailable as exc:
        return None, _error(request, session, kind, name, f"Could not read {KINDS[kind].singular}/{name}: {exc}.", 502)
    except Exception:  # e.g. the kubeconfig is unreadable
        logger.exception("reading %s/%s failed", kind, name)
        return None, _error(request, session, kind, name,
                            f"Could not read {KINDS[kind].singular}/{name}: the cluster is unavailable.", 502)
    if obj is None:
        return None, _error(request, session, kind, name,
                            f"{KINDS[kind].singular}/{name} does not exist in namespace {session.namespace}.", 404)
    return obj, None


@login_required
@require_GET
def describe(request, session_id, kind, name):
    _check(kind, name)
    session = get_session_or_404(request.user, session_id)
    obj, error = _read_or_error(request, session, kind, name)
    if error:
        return error
    return _fragment(request, describe_context(session, kind, obj, _observed(session), _can_change(request, session)))


def _observed(session: LabSession) -> dict:
    """The namespace as the watcher last saw it (events, endpoints, ReplicaSets); empty when unavailable."""
    try:
        return live_state.load_namespace(session.cluster_id, session.namespace)
    except Exception:
        return live_state.empty_state()


@login_required
@require_GET
def download_yaml(request, session_id, kind, name):
    _check(kind, name)
    session = get_session_or_404(request.user, session_id)
    obj, error = _read_or_error(request, session, kind, name)
    if error:
        return error
    text = yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)
    response = HttpResponse(text, content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{KINDS[kind].singular}-{name}.yaml"'
    return response


@login_required
@require_GET
def logs(request, session_id, name):
    _check("pods", name, "logs")
    session = get_session_or_404(request.user, session_id)
    try:
        lines = int(request.GET.get("lines", DEFAULT_LOG_LINES))
    except ValueError:
        lines = DEFAULT_LOG_LINES
    lines = max(1, min(lines, MAX_LOG_LINES))
    container = request.GET.get("container") or None
    if container is not None and name_problem(container, "Container"):
        raise Http404(f"{container!r} is not a valid container name.")
    context = {"session": session, "kind": "pods", "name": name, "singular": "pod", "lines": lines,
               "container": container or "", "logs_view": True}
    try:
        text = kube.core(session.cluster).read_namespaced_pod_log(
            name, session.namespace, container=container, tail_lines=lines, limit_bytes=MAX_LOG_BYTES,
            _request_timeout=READ_TIMEOUT)
    except ApiException as exc:
        if exc.status == 404:
            return _error(request, session, "pods", name, f"pod/{name} does not exist in namespace {session.namespace}.", 404)
        message = api_message(exc)
        return _error(request, session, "pods", name, f"No logs for pod/{name}: {message}", 400 if exc.status == 400 else 502)
    except Exception:
        return _error(request, session, "pods", name, f"Could not read the logs of pod/{name}: the cluster did not answer in time.", 502)
    context["text"] = text if isinstance(text, str) else str(text)
    return _fragment(request, context)


def _can_change(request, session: LabSession) -> bool:
    return session.user_id == request.user.pk and session.state == LabSession.State.READY


def _changeable(request, session_id, kind, name, action):
    _check(kind, name, action)
    session = get_session_or_404(request.user, session_id)
    if session.user_id != request.user.pk:
        raise Http404("Only the student who runs this lab can change its objects.")
    if session.state != LabSession.State.READY:
        return session, _feedback(request, f"The lab is {session.get_state_display().lower()}; nothing can be changed.",
                                  error=True, status=409)
    return session, None


def _feedback(request, message: str, error: bool = False, status: int = 202) -> HttpResponse:
    html = render_to_string("labs/objects/feedback.html", {"message": message, "error": error}, request=request)
    return HttpResponse(html, status=status)


def _enqueue(request, task, args, message: str) -> HttpResponse:
    try:
        task.delay(*args)
    except Exception:
        logger.exception("could not queue %s", task.name)
        return _feedback(request, "The request could not be queued; try again in a moment.", error=True, status=503)
    return _feedback(request, message)


@login_required
@require_POST
def delete(request, session_id, kind, name):
    session, error = _changeable(request, session_id, kind, name, "delete")
    if error:
        return error
    return _enqueue(request, actions.delete_object, (str(session.id), kind, name),
                    f"Deleting {KINDS[kind].singular}/{name}… the panel shows it as it happens.")


@login_required
@require_POST
def scale(request, session_id, name):
    session, error = _changeable(request, session_id, "deployments", name, "scale")
    if error:
        return error
    try:
        replicas = int(request.POST.get("replicas", ""))
    except ValueError:
        replicas = -1
    limit = max_replicas(session)
    if not 0 <= replicas <= limit:
        return _feedback(request, f"Replicas must be a whole number from 0 to {limit}.", error=True, status=400)
    return _enqueue(request, actions.scale_deployment, (str(session.id), name, replicas),
                    f"Scaling deployment/{name} to {replicas}… the panel shows it as it happens.")


@login_required
@require_POST
def restart(request, session_id, name):
    session, error = _changeable(request, session_id, "deployments", name, "restart")
    if error:
        return error
    return _enqueue(request, actions.restart_deployment, (str(session.id), name),
                    f"Restarting deployment/{name}… new pods replace the old ones.")


@login_required
@require_POST
def pause(request, session_id, name):
    session, error = _changeable(request, session_id, "deployments", name, "pause")
    if error:
        return error
    return _enqueue(request, actions.pause_deployment, (str(session.id), name),
                    f"Pausing deployment/{name}… its pods stay; a changed template waits until you resume it.")


@login_required
@require_POST
def resume(request, session_id, name):
    session, error = _changeable(request, session_id, "deployments", name, "resume")
    if error:
        return error
    return _enqueue(request, actions.resume_deployment, (str(session.id), name),
                    f"Resuming deployment/{name}… a changed template now rolls out.")


@login_required
@require_POST
def rollback(request, session_id, name):
    """Roll back to an earlier revision; checked first against what the watcher saw, then by the task."""
    session, error = _changeable(request, session_id, "deployments", name, "rollback")
    if error:
        return error
    raw = request.POST.get("revision", "")
    if not raw.isascii() or not raw.isdecimal() or not 0 < int(raw) < 2**31:
        return _feedback(request, "Choose the revision to roll back to (a whole number from the list).", error=True,
                         status=400)
    observed = _observed(session)
    deployment = observed["deployments"].get(name)
    if deployment is not None:
        try:
            rollouts.rollback_patch(deployment, observed["replicasets"].values(), int(raw))
        except rollouts.RollbackRefused as exc:
            return _feedback(request, str(exc), error=True, status=400)
    return _enqueue(request, actions.rollback_deployment, (str(session.id), name, int(raw)),
                    f"Rolling deployment/{name} back to revision {raw}… new pods replace the old ones.")


@login_required
@require_POST
def edit_in_editor(request, session_id, kind, name):
    """The live object's YAML merged into the editor's text (the page then shows it in the editor)."""
    _check(kind, name)
    session = get_session_or_404(request.user, session_id)
    if session.user_id != request.user.pk:
        raise Http404("Only the student who runs this lab can edit its objects.")
    if not KINDS[kind].allows("edit"):
        return JsonResponse({"error": f"{KINDS[kind].singular} objects are made by the cluster: edit their Deployment."},
                            status=400)
    obj, error = _read_or_error(request, session, kind, name)
    if error:
        return JsonResponse({"error": f"Could not read {KINDS[kind].singular}/{name} from the cluster."},
                            status=error.status_code)
    text, line = merge_into_text(request.POST.get("manifest", ""), editable(obj))
    return JsonResponse({"text": text, "line": line,
                         "message": f"{KINDS[kind].singular}/{name} as it is live is now in the editor: change it and Apply."})
