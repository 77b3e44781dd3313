"""The object dialog of the live panel: what it shows, and how an open one follows its object.

The same templates (labs/templates/labs/objects/) draw the dialog when it opens
(labs.views.objects.describe, from a fresh read of the object) and its updates
over the session's WebSocket (from the observed state the socket keeps): the page
says which object its dialog shows (`{"follow": "pods/web-1", "view": "describe"}`),
each change of that object, of its events or of a Service's endpoints redraws the
dialog's text and controls, and its deletion replaces the dialog by a notice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.template.loader import render_to_string

from clouds.kube import KINDS, PANEL_KINDS
from clouds.models import ServiceBalancer
from labs.content_loader import lab_or_none
from labs.live import rollouts
from labs.live.describe import describe as describe_text
from labs.live.describe import related_events
from labs.manifests import name_problem
from labs.models import LabSession

VIEWS = ("describe", "logs")


def max_replicas(session: LabSession) -> int:
    """The lab's replica limit (the same one its editor enforces)."""
    lab = lab_or_none(session.lab_slug)
    return lab.policy().max_replicas if lab else 5


def balancer_summary(session: LabSession, service: str) -> dict | None:
    """The cloud balancer the product builds for the Service, as describe prints it (None when there is none)."""
    row = ServiceBalancer.objects.filter(cluster_id=session.cluster_id, namespace=session.namespace,
                                         service=service).first()
    if row is None:
        return None
    steps = row.steps or []
    return {"provider": row.get_provider_display(), "name": row.name, "state": row.get_state_display(),
            "state_code": row.state, "address": row.address, "error": row.error,
            "step": (steps[-1].get("step") if steps else "")}


def describe_context(session: LabSession, kind: str, obj: dict, observed: dict, can_change: bool) -> dict:
    """The context of labs/objects/dialog.html for a describe view: the text and the controls it offers."""
    name = obj["metadata"]["name"]
    replicasets = list((observed.get("replicasets") or {}).values())
    events = related_events(observed.get("events") or {}, kind, name)
    text = describe_text(
        kind, obj, events, (observed.get("endpoints") or {}).get(name),
        replicasets=replicasets if kind == "deployments" else None,
        balancer=balancer_summary(session, name) if kind == "services" else None)
    spec = obj.get("spec") or {}
    context = {
        "session": session, "kind": kind, "name": name, "singular": KINDS[kind].singular, "text": text,
        "replicas": spec.get("replicas", 1), "max_replicas": max_replicas(session), "can_change": can_change,
        "containers": [c.get("name") for c in spec.get("containers") or []],
    }
    if kind == "deployments":
        history = rollouts.revisions(obj, replicasets)
        context.update(paused=bool(spec.get("paused")), earlier_revisions=[r for r in history if not r.current])
    return context


def render_describe_update(context: dict) -> dict[str, str]:
    """The parts of an open describe dialog that follow its object, as out-of-band swaps, by name."""
    parts = {"text": render_to_string("labs/objects/text.html", {**context, "oob": True})}
    if context["kind"] == "deployments" and context["can_change"]:
        parts["rollout"] = render_to_string("labs/objects/rollout.html", {**context, "oob": True})
    return parts


def render_gone(kind: str, name: str) -> str:
    """The dialog of a deleted object, replaced by a notice that says so."""
    return render_to_string("labs/objects/gone.html", {"singular": KINDS[kind].singular, "name": name})


@dataclass
class Followed:
    """The object an open dialog shows, and the parts last sent to it (a part is sent again only when it
    changed: the controls a student is about to click are not replaced by the same ones)."""

    kind: str
    name: str
    view: str = "describe"
    sent: dict = field(default_factory=dict, compare=False)

    def touched_by(self, kind: str, name: str, obj: dict | None) -> bool:
        """Whether a change of (kind, name) changes what the dialog shows."""
        if (kind, name) == (self.kind, self.name):
            return True
        if self.view != "describe":
            return False
        if kind == "events" and obj is not None:
            involved = obj.get("involvedObject") or {}
            return involved.get("kind") == KINDS[self.kind].kind and involved.get("name") == self.name
        if kind == "endpoints":
            return self.kind == "services" and name == self.name
        return kind == "replicasets" and self.kind == "deployments"


def parse_follow(text: str) -> Followed | None:
    """The object named by the page's `follow` message; None for "no dialog open" or anything else."""
    try:
        message = json.loads(text)
        kind, _, name = str(message.get("follow") or "").partition("/")
        view = str(message.get("view") or "describe")
    except (ValueError, AttributeError):
        return None
    if kind not in PANEL_KINDS or view not in VIEWS or name_problem(name, KINDS[kind].kind):
        return None
    return Followed(kind, name, view)


def render_follow_update(session_id, followed: Followed, observed: dict, can_change: bool,
                         deleted: bool = False) -> str:
    """What an open dialog needs after its object changed: its new text and controls, or the notice of
    its deletion (a logs view only needs the latter: its lines come on their own socket)."""
    obj = (observed.get(followed.kind) or {}).get(followed.name)
    if obj is None:
        return render_gone(followed.kind, followed.name) if deleted else ""
    if followed.view != "describe":
        return ""
    session = LabSession.objects.select_related("cluster").filter(pk=session_id).first()
    if session is None:
        return ""
    can_change = can_change and session.state == LabSession.State.READY
    parts = render_describe_update(describe_context(session, followed.kind, obj, observed, can_change))
    changed = {part: html for part, html in parts.items() if followed.sent.get(part) != html}
    followed.sent.update(changed)
    return "".join(changed.values())
