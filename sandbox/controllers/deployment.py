"""Deployment controller: one ReplicaSet per pod template (named by the template's
hash), rolling updates within maxSurge/maxUnavailable, revisions and status."""

from __future__ import annotations

import calendar
import copy
import functools
import json
import math
import time

from ..store import StoreError
from .base import Controller, Key, controller_ref, is_terminating, owner_reference, set_condition

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
MAX_REVISION_HISTORY_CHARS = 2000
PAUSED, RESUMED = "DeploymentPaused", "DeploymentResumed"
NO_DEADLINE = 2**31 - 1  # progressDeadlineSeconds: MaxInt32 means no deadline
SAFE = "bcdfghjklmnpqrstvwxz2456789"


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _without_nulls(value):
    """A typed decode reads null as absent: `creationTimestamp: null` (as kubectl's rollback sends a
    template) must not make an old ReplicaSet's template look new."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def template_hash(template: dict, collision_count: int = 0) -> str:
    """FNV-32a of the template, encoded like k8s's rand.SafeEncodeString (up to 10 chars)."""
    data = json.dumps(_without_nulls(template), sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += str(collision_count).encode()
    return _fnv_safe(data)


@functools.lru_cache(maxsize=4096)
def _fnv_safe(data: bytes) -> str:
    """template_hash's hashing, remembered: a Deployment's template rarely changes, its reconciles are many."""
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return "".join(SAFE[int(ch) % len(SAFE)] for ch in str(h))


def _strip_hash(template: dict) -> dict:
    t = copy.deepcopy(template or {})
    labels = (t.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return t


def _resolve(value, total: int, round_up: bool) -> int:
    if value is None:
        value = "25%"
    if isinstance(value, str) and value.endswith("%"):
        frac = int(value[:-1]) * total / 100
        return math.ceil(frac) if round_up else math.floor(frac)
    return int(value)


def _age(timestamp: str | None) -> float:
    """Seconds since an RFC 3339 timestamp (0 if unknown)."""
    if not timestamp:
        return 0.0
    try:
        return time.time() - calendar.timegm(time.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return 0.0


def _revision(rs: dict) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _remember_revision(annotations: dict, revision: int) -> None:
    """A ReplicaSet given a newer revision (a rollback to it) keeps its older ones in revision-history,
    comma-separated and at most MAX_REVISION_HISTORY_CHARS long, as the real controller does."""
    old = annotations.get(REVISION)
    if not old or not old.isdigit() or int(old) >= revision:
        return
    history = [r for r in (annotations.get(REVISION_HISTORY) or "").split(",") if r]
    history.append(old)
    while len(",".join(history)) > MAX_REVISION_HISTORY_CHARS and len(history) > 1:
        history.pop(0)
    annotations[REVISION_HISTORY] = ",".join(history)


def _replicas(rs: dict) -> int:
    return int((rs.get("spec") or {}).get("replicas") or 0)


def _status(rs: dict, field: str) -> int:
    return int((rs.get("status") or {}).get(field) or 0)


class DeploymentController(Controller):
    name = "deployments"
    primary = "deployments"
    watches = ("deployments", "replicasets")

    def keys_for(self, resource, event_type, obj):
        if resource == "deployments":
            yield (obj["metadata"]["namespace"], obj["metadata"]["name"])
            return
        ref = controller_ref(obj)
        if ref and ref.get("kind") == "Deployment":
            yield (obj["metadata"]["namespace"], ref["name"])

    def _owned(self, d: dict) -> list[dict]:
        uid = d["metadata"]["uid"]
        return [rs for rs in self.store.list("replicasets", d["metadata"]["namespace"])
                if (controller_ref(rs) or {}).get("uid") == uid]

    async def reconcile(self, key: Key) -> None:
        ns, name = key
        d = self.store.get("deployments", ns, name)
        if d is None or is_terminating(d):
            return
        spec = d.get("spec") or {}
        desired = int(spec.get("replicas", 1))
        rss = self._owned(d)
        template = spec.get("template") or {}
        h = template_hash(template, (d.get("status") or {}).get("collisionCount", 0))
        new = next((rs for rs in rss if (rs["metadata"].get("labels") or {}).get(HASH_LABEL) == h), None)
        olds = [rs for rs in rss if rs is not new]
        max_old_rev = max((_revision(rs) for rs in olds), default=0)

        await self._sync_paused_condition(d)
        if spec.get("paused"):
            await self._scale_paused(d, new, olds, desired)
            await self._sync_status(key, new is not None)
            return

        created = False
        if new is None:
            new = await self._create_rs(d, h, max_old_rev + 1, olds, desired)
            if new is None:
                return
            created = True
        elif _revision(new) <= max_old_rev or (d["metadata"].get("annotations") or {}).get(REVISION) != str(_revision(new)):
            rev = _revision(new) if _revision(new) > max_old_rev else max_old_rev + 1
            await self._annotate(d, new, rev, desired)

        strategy = (spec.get("strategy") or {})
        if strategy.get("type") == "Recreate":
            await self._recreate(d, new, olds, desired)
        else:
            ru = strategy.get("rollingUpdate") or {}
            surge = _resolve(ru.get("maxSurge"), desired, True)
            unavailable = _resolve(ru.get("maxUnavailable"), desired, False)
            if surge == 0 and unavailable == 0:
                unavailable = 1
            await self._rolling(d, new, olds, desired, surge, unavailable)
        await self._cleanup(d)
        await self._sync_status(key, True, created)

    # ---- ReplicaSets ------------------------------------------------------------------------

    async def _create_rs(self, d: dict, h: str, revision: int, olds: list[dict], desired: int) -> dict | None:
        ns = d["metadata"]["namespace"]
        spec = d.get("spec") or {}
        template = copy.deepcopy(spec.get("template") or {})
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = h
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = h
        labels = dict(template["metadata"]["labels"])
        strategy = spec.get("strategy") or {}
        surge = 0 if strategy.get("type") == "Recreate" else _resolve(
            (strategy.get("rollingUpdate") or {}).get("maxSurge"), desired, True)
        # first size: all of it if nothing else exists, else what the surge allows
        if not olds or not any(_replicas(rs) for rs in olds):
            replicas = desired if strategy.get("type") != "Recreate" or not olds else 0
        else:
            total = sum(_replicas(rs) for rs in olds)
            replicas = max(0, min(desired, desired + surge - total)) if strategy.get("type") != "Recreate" else 0
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{d['metadata']['name']}-{h}",
                "namespace": ns,
                "labels": labels,
                "annotations": {DESIRED: str(desired), MAX_REPLICAS: str(desired + surge), REVISION: str(revision)},
                "ownerReferences": [owner_reference(d)],
            },
            "spec": {"replicas": replicas, "minReadySeconds": spec.get("minReadySeconds", 0),
                     "selector": selector, "template": template},
        }
        try:
            created = await self.store.create("replicasets", rs)
        except StoreError as e:
            existing = self.store.get("replicasets", ns, rs["metadata"]["name"])
            if existing is not None and (controller_ref(existing) or {}).get("uid") != d["metadata"]["uid"]:
                # a foreign ReplicaSet holds the name: bump the collision count and retry
                await self.store.mutate("deployments", ns, d["metadata"]["name"], lambda o: o.setdefault(
                    "status", {}).__setitem__("collisionCount", o["status"].get("collisionCount", 0) + 1))
            else:
                await self.store.record_event(d, "FailedCreate", f"Failed to create new replica set: {e.message}",
                                              "Warning", component="deployment-controller")
            return None
        await self._annotate(d, created, revision, desired)
        if replicas:
            await self.store.record_event(
                d, "ScalingReplicaSet",
                f"Scaled up replica set {created['metadata']['name']} from 0 to {replicas}",
                component="deployment-controller")
        return created

    async def _annotate(self, d: dict, rs: dict, revision: int, desired: int) -> None:
        def rs_ann(o: dict) -> None:
            annotations = o["metadata"].setdefault("annotations", {})
            _remember_revision(annotations, revision)
            annotations[REVISION] = str(revision)

        def d_ann(o: dict) -> None:
            o["metadata"].setdefault("annotations", {})[REVISION] = str(revision)

        await self.store.mutate("replicasets", rs["metadata"]["namespace"], rs["metadata"]["name"], rs_ann)
        await self.store.mutate("deployments", d["metadata"]["namespace"], d["metadata"]["name"], d_ann)

    async def _scale(self, d: dict, rs: dict, replicas: int) -> None:
        old = _replicas(rs)
        if old == replicas:
            return
        spec = d.get("spec") or {}
        desired = int(spec.get("replicas", 1))
        ru = (spec.get("strategy") or {}).get("rollingUpdate") or {}
        surge = _resolve(ru.get("maxSurge"), desired, True)

        def apply(o: dict) -> None:
            o["spec"]["replicas"] = replicas
            ann = o["metadata"].setdefault("annotations", {})
            ann[DESIRED] = str(desired)
            ann[MAX_REPLICAS] = str(desired + surge)

        await self.store.mutate("replicasets", rs["metadata"]["namespace"], rs["metadata"]["name"], apply)
        rs["spec"]["replicas"] = replicas
        direction = "up" if replicas > old else "down"
        await self.store.record_event(
            d, "ScalingReplicaSet", f"Scaled {direction} replica set {rs['metadata']['name']} from {old} to {replicas}",
            component="deployment-controller")

    async def _scale_paused(self, d, new, olds, desired) -> None:
        if new is not None and not any(_replicas(rs) for rs in olds):
            await self._scale(d, new, desired)

    async def _recreate(self, d, new, olds, desired) -> None:
        for rs in olds:
            await self._scale(d, rs, 0)
        active_old = [p for rs in olds for p in self.store.list("pods", d["metadata"]["namespace"])
                      if (controller_ref(p) or {}).get("uid") == rs["metadata"]["uid"]]
        if not active_old:
            await self._scale(d, new, desired)

    async def _rolling(self, d, new, olds, desired, surge, unavailable) -> None:
        # scale the new ReplicaSet up (or down to the desired size)
        all_rs = [new] + olds
        if _replicas(new) > desired:
            await self._scale(d, new, desired)
        elif _replicas(new) < desired:
            total = sum(_replicas(rs) for rs in all_rs)
            room = desired + surge - total
            if room > 0:
                await self._scale(d, new, _replicas(new) + min(room, desired - _replicas(new)))
        # scale old ReplicaSets down, keeping at least desired - maxUnavailable available
        old_total = sum(_replicas(rs) for rs in olds)
        if old_total == 0:
            return
        min_available = desired - unavailable
        all_total = sum(_replicas(rs) for rs in all_rs)
        new_unavailable = _replicas(new) - _status(new, "availableReplicas")
        max_down = all_total - min_available - new_unavailable
        if max_down <= 0:
            return
        olds_sorted = sorted(olds, key=lambda rs: rs["metadata"].get("creationTimestamp", ""))
        # first the unhealthy replicas of old ReplicaSets
        for rs in olds_sorted:
            if max_down <= 0:
                break
            unhealthy = _replicas(rs) - _status(rs, "availableReplicas")
            if unhealthy <= 0:
                continue
            down = min(unhealthy, max_down)
            await self._scale(d, rs, _replicas(rs) - down)
            max_down -= down
        # then healthy ones, within the availability budget
        available = sum(_status(rs, "availableReplicas") for rs in all_rs)
        budget = min(available - min_available, max_down)
        for rs in olds_sorted:
            if budget <= 0:
                break
            if _replicas(rs) == 0:
                continue
            down = min(_replicas(rs), budget)
            await self._scale(d, rs, _replicas(rs) - down)
            budget -= down

    async def _cleanup(self, d: dict) -> None:
        limit = (d.get("spec") or {}).get("revisionHistoryLimit", 10)
        rss = self._owned(d)
        h = template_hash((d.get("spec") or {}).get("template") or {}, (d.get("status") or {}).get("collisionCount", 0))
        old = [rs for rs in rss if (rs["metadata"].get("labels") or {}).get(HASH_LABEL) != h
               and _replicas(rs) == 0 and _status(rs, "replicas") == 0]
        old.sort(key=_revision)
        for rs in old[: max(0, len(old) - int(limit))]:
            try:
                await self.store.delete("replicasets", rs["metadata"]["namespace"], rs["metadata"]["name"])
            except StoreError:
                pass

    # ---- status --------------------------------------------------------------------------------

    async def _sync_paused_condition(self, d: dict) -> None:
        """Progressing says Unknown/DeploymentPaused while paused, DeploymentResumed once resumed
        (the real controller's checkPausedConditions, written before the rollout goes on)."""
        spec = d.get("spec") or {}
        if spec.get("progressDeadlineSeconds") == NO_DEADLINE:
            return
        cond = next((c for c in (d.get("status") or {}).get("conditions") or [] if c.get("type") == "Progressing"),
                    None)
        if cond is not None and cond.get("reason") == "ProgressDeadlineExceeded":
            return
        was_paused = cond is not None and cond.get("reason") == PAUSED
        if bool(spec.get("paused")) == was_paused:
            return
        reason, message = (PAUSED, "Deployment is paused") if spec.get("paused") else (RESUMED, "Deployment is resumed")
        ts = now()

        def apply(o: dict) -> None:
            conds = o.setdefault("status", {}).setdefault("conditions", [])
            set_condition(conds, "Progressing", "Unknown", reason, message, now=ts, update_time=True)

        await self.store.mutate("deployments", d["metadata"]["namespace"], d["metadata"]["name"], apply)

    async def _sync_status(self, key: Key, has_new: bool, created: bool = False) -> None:
        d = self.store.get("deployments", *key)
        if d is None:
            return
        spec = d.get("spec") or {}
        desired = int(spec.get("replicas", 1))
        rss = self._owned(d)
        h = template_hash(spec.get("template") or {}, (d.get("status") or {}).get("collisionCount", 0))
        new = next((rs for rs in rss if (rs["metadata"].get("labels") or {}).get(HASH_LABEL) == h), None)
        replicas = sum(_status(rs, "replicas") for rs in rss)
        updated = _status(new, "replicas") if new else 0
        ready = sum(_status(rs, "readyReplicas") for rs in rss)
        available = sum(_status(rs, "availableReplicas") for rs in rss)
        ru = (spec.get("strategy") or {}).get("rollingUpdate") or {}
        max_unavailable = 0 if (spec.get("strategy") or {}).get("type") == "Recreate" else \
            _resolve(ru.get("maxUnavailable"), desired, False)
        ts = now()
        new_name = new["metadata"]["name"] if new else ""
        complete = (new is not None and updated == desired and replicas == desired and available >= desired
                    and _replicas(new) == desired)

        def apply(o: dict) -> None:
            st = o.setdefault("status", {})
            st["observedGeneration"] = o["metadata"].get("generation", 1)
            st["replicas"] = replicas
            st["updatedReplicas"] = updated
            st["readyReplicas"] = ready
            st["availableReplicas"] = available
            st["unavailableReplicas"] = max(desired, replicas) - available if max(desired, replicas) > available else 0
            for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas"):
                if not st[k]:
                    st.pop(k)
            conds = st.setdefault("conditions", [])
            if available >= desired - max_unavailable:
                set_condition(conds, "Available", "True", "MinimumReplicasAvailable",
                              "Deployment has minimum availability.", now=ts, update_time=True)
            else:
                set_condition(conds, "Available", "False", "MinimumReplicasUnavailable",
                              "Deployment does not have minimum availability.", now=ts, update_time=True)
            if new is not None and not spec.get("paused"):  # a paused rollout keeps DeploymentPaused
                if complete:
                    set_condition(conds, "Progressing", "True", "NewReplicaSetAvailable",
                                  f'ReplicaSet "{new_name}" has successfully progressed.', now=ts, update_time=True)
                else:
                    prog = next((c for c in conds if c["type"] == "Progressing"), None)
                    deadline = spec.get("progressDeadlineSeconds", 600)
                    if (not created and prog is not None and prog.get("reason") != "ProgressDeadlineExceeded"
                            and _age(prog.get("lastUpdateTime")) > deadline):
                        set_condition(conds, "Progressing", "False", "ProgressDeadlineExceeded",
                                      f'ReplicaSet "{new_name}" has timed out progressing.', now=ts, update_time=True)
                    elif prog is not None and prog.get("reason") == "ProgressDeadlineExceeded" and not created:
                        pass
                    elif created or prog is None:
                        set_condition(conds, "Progressing", "True", "NewReplicaSetCreated",
                                      f'Created new replica set "{new_name}"', now=ts, update_time=True)
                    elif prog.get("reason") != "NewReplicaSetCreated" or \
                            prog.get("message") != f'Created new replica set "{new_name}"':
                        set_condition(conds, "Progressing", "True", "ReplicaSetUpdated",
                                      f'ReplicaSet "{new_name}" is progressing.', now=ts, update_time=True)
            order = {"Available": 0, "Progressing": 1}
            conds.sort(key=lambda c: order.get(c["type"], 2))

        await self.store.mutate("deployments", key[0], key[1], apply)
