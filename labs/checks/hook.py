"""What the checks do when the cluster or the student changes something: re-evaluate, then probe."""

from __future__ import annotations

import logging

from labs.checks.evaluation import load_state
from labs.checks.probes import maybe_enqueue_cleanup_probe, maybe_enqueue_probe
from labs.checks.refresh import refresh_checks
from labs.models import LabSession

log = logging.getLogger(__name__)


def on_namespace_change(session_id, namespace_state: dict, cluster_id=None) -> None:
    """Called through the cluster watcher (debounced) on every change in a session's namespace.

    With `cluster_id` (the watcher's), only the watcher of the session's own cluster counts.
    """
    try:
        session = LabSession.objects.select_related("user").get(pk=session_id)
    except (LabSession.DoesNotExist, ValueError):
        return
    if not session.is_active or (cluster_id is not None and session.cluster_id != cluster_id):
        return
    refresh_checks(session, namespace_state or {})
    maybe_enqueue_probe(session, namespace_state or {})
    maybe_enqueue_cleanup_probe(session, namespace_state or {})


def recheck_now(session: LabSession) -> None:
    """After the student changed a DNS record: refresh the checklist and probe the new name at once."""
    state = load_state(session)
    refresh_checks(session, state)
    maybe_enqueue_probe(session, state, force=True)
