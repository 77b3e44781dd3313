"""Prepare and tear down a session's namespace on its cluster (run by Celery tasks)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from kubernetes.client import ApiException
from urllib3.exceptions import HTTPError

from labs import cluster as kube
from labs.content_loader import load_lab
from labs.models import LabSession
from labs.sessions import NAMESPACE_LABEL

logger = logging.getLogger(__name__)
Progress = Callable[[str], None]
REQUEST_TIMEOUT = 15
QUOTA_NAME = "lab-quota"
LIMITS_NAME = "lab-limits"


class ProvisioningError(Exception):
    """A step failed; the message says which and why, in words for the student."""


def _explain(exc: ApiException) -> str:
    import json

    try:
        return json.loads(exc.body).get("message") or exc.reason
    except (TypeError, ValueError):
        return f"{exc.status} {exc.reason}"


def _unreachable(session: LabSession, exc: Exception) -> ProvisioningError:
    """The student's message names the cluster, not its address; the details go to the log."""
    logger.warning("cluster %s unavailable for session %s: %r", session.cluster.name, session.pk, exc)
    if isinstance(exc, (OSError, HTTPError)):
        return ProvisioningError(f"The cluster {session.cluster.name} cannot be reached; try again in a minute.")
    return ProvisioningError(f"The cluster {session.cluster.name} is not set up correctly; an admin has to fix it.")


def namespace_labels(session: LabSession) -> dict:
    return {
        NAMESPACE_LABEL: session.id.hex,
        "liveops.dev/lab": session.lab_slug,
        "app.kubernetes.io/managed-by": "liveops-labs",
    }


def _create_or_replace(core, kind: str, name: str, namespace: str, spec: dict) -> None:
    """Create a namespaced object, or replace it when it exists (so provisioning can be retried)."""
    plural = {"ResourceQuota": "resource_quota", "LimitRange": "limit_range"}[kind]
    body = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": namespace}, "spec": spec}
    try:
        getattr(core, f"create_namespaced_{plural}")(namespace, body, _request_timeout=REQUEST_TIMEOUT)
    except ApiException as exc:
        if exc.status != 409:
            raise
        getattr(core, f"replace_namespaced_{plural}")(name, namespace, body, _request_timeout=REQUEST_TIMEOUT)


def provision(session: LabSession, progress: Progress) -> None:
    ns = session.namespace
    try:
        lab = load_lab(session.lab_slug)
        core = kube.core(session.cluster)
        progress(f"Creating namespace {ns}")
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": namespace_labels(session)}}
        try:
            core.create_namespace(body=body, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status != 409:
                raise
        progress("Setting the namespace's resource quota")
        _create_or_replace(core, "ResourceQuota", QUOTA_NAME, ns, lab.quota_spec())
        progress("Setting default container requests and limits")
        _create_or_replace(core, "LimitRange", LIMITS_NAME, ns, lab.limitrange_spec())
    except ApiException as exc:
        raise ProvisioningError(f"The cluster refused to prepare the namespace: {_explain(exc)}") from exc
    except Exception as exc:
        raise _unreachable(session, exc) from exc


def _wait_gone(read, what: str, progress: Progress, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            read(_request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status == 404:
                return
            raise
        time.sleep(0.5)
    raise ProvisioningError(f"Timed out after {int(timeout)} s waiting for {what} to be deleted")


def teardown(session: LabSession, progress: Progress, timeout: float = 180.0) -> None:
    """Delete LoadBalancer Services first (their cloud load balancer is released), then the namespace."""
    ns = session.namespace
    try:
        core = kube.core(session.cluster)
        try:
            services = core.list_namespaced_service(ns, _request_timeout=REQUEST_TIMEOUT).items
        except ApiException as exc:
            if exc.status == 404:
                return
            raise
        for svc in services:
            if svc.spec.type != "LoadBalancer":
                continue
            name = svc.metadata.name
            ips = ", ".join(i.ip or i.hostname for i in (svc.status.load_balancer.ingress or [])) or "no address yet"
            progress(f"Deleting Service {name} and releasing its load balancer ({ips})")
            try:
                core.delete_namespaced_service(name, ns, _request_timeout=REQUEST_TIMEOUT)
            except ApiException as exc:
                if exc.status != 404:
                    raise
            _wait_gone(
                lambda name=name, **kw: core.read_namespaced_service(name, ns, **kw),
                f"the load balancer of Service {name}",
                progress,
                timeout,
            )
        progress(f"Deleting namespace {ns}")
        try:
            core.delete_namespace(ns, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status != 404:
                raise
        _wait_gone(lambda **kw: core.read_namespace(ns, **kw), f"namespace {ns}", progress, timeout)
    except ApiException as exc:
        raise ProvisioningError(f"The cluster refused the cleanup: {_explain(exc)}") from exc
    except ProvisioningError:
        raise
    except Exception as exc:
        raise _unreachable(session, exc) from exc
