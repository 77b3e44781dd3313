"""A Deployment's revisions, read from its ReplicaSets, and the patch that rolls it back to one.

The rollback is `kubectl rollout undo --to-revision=N`: the ReplicaSet of revision N
gives its pod template (without the pod-template-hash label) and its annotations
back to the Deployment in one JSON patch; the deployment controller then finds that
ReplicaSet again, gives it the next revision number and scales it up. kubectl
refuses to roll back a paused Deployment, and so do we. Pure functions on the
API's JSON.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
# Annotations a rollback leaves as the Deployment has them (kubectl's annotationsToSkip).
KEPT_ANNOTATIONS = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
})


class RollbackRefused(ValueError):
    """Why a rollback cannot be done, in words for the student."""


@dataclass(frozen=True)
class Revision:
    number: int
    replicaset: str
    images: str
    current: bool

    @property
    def label(self) -> str:
        return f"revision {self.number}: {self.images}" + (" (current)" if self.current else "")


def revision_of(obj: dict) -> int:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION, "")
    return int(value) if str(value).isdecimal() else 0


def owned_replicasets(deployment: dict, replicasets) -> list[dict]:
    """The ReplicaSets the Deployment controls (by its uid, as the controller does)."""
    uid = (deployment.get("metadata") or {}).get("uid")
    found = []
    for rs in replicasets:
        for ref in (rs.get("metadata") or {}).get("ownerReferences") or []:
            if ref.get("controller") and ref.get("kind") == "Deployment" and ref.get("uid") == uid and uid:
                found.append(rs)
    return found


def _images(template: dict) -> str:
    containers = ((template or {}).get("spec") or {}).get("containers") or []
    return ", ".join(str(c.get("image")) for c in containers) or "no containers"


def _without(template: dict | None, label: str = HASH_LABEL) -> dict:
    """The template as a Deployment holds it: no hash label, no null fields (read as absent by the API)."""
    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    template = clean(copy.deepcopy(template or {}))
    labels = (template.get("metadata") or {}).get("labels")
    if labels and label in labels:
        labels.pop(label)
    return template


def revisions(deployment: dict, replicasets) -> list[Revision]:
    """The Deployment's revisions, newest first; the current one is the revision the Deployment names."""
    current = revision_of(deployment)
    found = {}
    for rs in owned_replicasets(deployment, replicasets):
        number = revision_of(rs)
        if number:
            template = (rs.get("spec") or {}).get("template")
            found[number] = Revision(number, rs["metadata"]["name"], _images(template), number == current)
    return [found[n] for n in sorted(found, reverse=True)]


def rollback_patch(deployment: dict, replicasets, number: int) -> list[dict]:
    """The JSON patch (RFC 6902) rolling the Deployment back to revision `number`.

    Raises RollbackRefused when kubectl would refuse or skip it.
    """
    name = (deployment.get("metadata") or {}).get("name", "")
    if (deployment.get("spec") or {}).get("paused"):
        raise RollbackRefused(f"deployment/{name} is paused: resume it first, then roll it back "
                              "(a paused Deployment does not roll out).")
    owned = {revision_of(rs): rs for rs in owned_replicasets(deployment, replicasets)}
    target = owned.get(number)
    if target is None:
        known = ", ".join(str(n) for n in sorted(n for n in owned if n)) or "none"
        raise RollbackRefused(f"deployment/{name} has no revision {number} (its revisions: {known}).")
    template = _without((target.get("spec") or {}).get("template"))
    if template == _without((deployment.get("spec") or {}).get("template")):
        raise RollbackRefused(f"deployment/{name} already runs the template of revision {number}: nothing to roll back.")
    current = (deployment.get("metadata") or {}).get("annotations") or {}
    annotations = {k: v for k, v in current.items() if k in KEPT_ANNOTATIONS}
    annotations.update({k: v for k, v in ((target.get("metadata") or {}).get("annotations") or {}).items()
                        if k not in KEPT_ANNOTATIONS})
    return [
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]
