"""The LiveOps panel: its context for the first render and its HTML pieces for updates.

The same templates (labs/templates/labs/panel/) draw the first render and the
WebSocket out-of-band swaps. Which kinds have a table comes from clouds.kube's
table of kinds.
"""

from __future__ import annotations

import logging

from django.template.loader import render_to_string

from clouds.kube import KINDS, PANEL_KINDS
from clouds.watch import state as live_state
from labs.content_loader import lab_or_none
from labs.lifecycle.namespace import LIMITS_NAME, QUOTA_NAME, namespace_labels
from labs.live import nodes, presenters

logger = logging.getLogger(__name__)

EVENTS_TEMPLATE = "labs/panel/events.html"
SECTIONS = ("services", "deployments", "replicasets", "pods", "events")


def section_template(kind: str) -> str:
    return EVENTS_TEMPLATE if kind == "events" else f"labs/panel/{kind}.html"


def row_template(kind: str) -> str:
    """A table's row: `labs/panel/<singular>_row.html`, its object named by the kind's short name."""
    return f"labs/panel/{KINDS[kind].singular}_row.html"


UNAVAILABLE = "The live view is unavailable right now; it reconnects by itself."


def load_state(session) -> tuple[dict, str]:
    """The namespace's observed state and an error text ("" when fine)."""
    try:
        return live_state.load_namespace(session.cluster_id, session.namespace), ""
    except Exception:  # Redis down: the page still renders, the socket resyncs later
        logger.exception("could not load the live state of %s", session.namespace)
        return live_state.empty_state(), UNAVAILABLE


def panel_context(session, state: dict | None = None, *, error: str = "",
                  loaded_nodes: dict | None = None) -> dict:
    """Context for {% include "labs/panel/panel.html" %}: session, state and what the tables show.

    A caller that read the state gives `error` when it could not ("" when fine), and may give the
    cluster's nodes it read with it (`loaded_nodes`, as nodes.load returns them).
    """
    if state is None:
        state, error = load_state(session)
    return {
        "session": session,
        "session_id": session.id,
        "state": state,
        "panel_error": error,
        "namespace": namespace_context(session),
        **presenters.present_namespace(state),
        **(nodes.context(session.cluster_id) if loaded_nodes is None
           else {"nodes": presenters.present_nodes(loaded_nodes)}),
    }


def namespace_context(session) -> dict:
    """The Namespace tab: the session's namespace as the product made it (labels, quota, defaults)."""
    lab = lab_or_none(session.lab_slug)
    return presenters.present_lab_namespace(
        session.namespace, session.state, namespace_labels(session),
        lab.quota_spec() if lab else {}, lab.limitrange_spec() if lab else {},
        quota_name=QUOTA_NAME, limits_name=LIMITS_NAME,
    )


def render_namespace(session) -> str:
    """The Namespace tab's section (its status follows the session's: redrawn with the status)."""
    return render_to_string("labs/panel/namespace.html", {"namespace": namespace_context(session)})


def present_one(kind: str, obj: dict, state: dict) -> dict:
    if kind == "pods":
        return presenters.present_pod(obj)
    if kind == "deployments":
        return presenters.present_deployment(obj)
    if kind == "replicasets":
        return presenters.present_replicaset(obj)
    if kind == "services":
        name = obj["metadata"]["name"]
        return presenters.present_service(obj, (state.get("endpoints") or {}).get(name))
    raise ValueError(kind)


def render_section(kind: str, session_id, state: dict) -> str:
    """One whole table (used on resync and when an object appears or the last one goes)."""
    context = {"session_id": session_id, **presenters.present_namespace(_only(state, kind))}
    count = context["event_total"] if kind == "events" else len(context[kind])
    # The count lives in the kind's tab, outside the table: it is swapped with it.
    return render_to_string(section_template(kind), context) + render_to_string(
        "labs/panel/count.html", {"kind": kind, "count": count}
    )


def _only(state: dict, kind: str) -> dict:
    wanted = {kind, "endpoints"} if kind == "services" else {kind}
    return {k: (v if k in wanted else {}) for k, v in state.items()}


def render_row(kind: str, session_id, obj: dict, state: dict) -> str:
    context = {"session_id": session_id, KINDS[kind].short: present_one(kind, obj, state), "oob": True}
    return render_to_string(row_template(kind), context)


def render_removal(kind: str, name: str, remaining: int) -> str:
    row_id = f"{KINDS[kind].short}-{name}"
    return render_to_string("labs/panel/deleted_row.html", {"row_id": row_id}) + render_to_string(
        "labs/panel/count.html", {"kind": kind, "count": remaining}
    )


def render_full(session_id, state: dict) -> str:
    return "".join(render_section(kind, session_id, state) for kind in SECTIONS)


def render_change(session_id, state: dict, kind: str, name: str, obj: dict | None) -> str:
    """Apply one object's new state to `state` (in place) and return the swaps that draw it.

    Only the changed row is drawn when the object was already shown; a new
    object redraws its table (to keep the order), a deletion removes its row.
    """
    if kind not in state or (kind not in PANEL_KINDS and kind not in ("events", "endpoints")):
        return ""
    objects = state[kind]
    previous = objects.get(name)
    if obj is None:
        objects.pop(name, None)
    else:
        objects[name] = obj
    if kind == "events":
        return render_section("events", session_id, state)
    if kind == "endpoints":
        service = state["services"].get(name)
        return render_row("services", session_id, service, state) if service else ""
    if obj is None:
        if previous is None:
            return ""
        if not objects:
            return render_section(kind, session_id, state)
        return render_removal(kind, name, len(objects))
    if previous is None:
        return render_section(kind, session_id, state)
    return render_row(kind, session_id, obj, state)
