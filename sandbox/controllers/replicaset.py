"""ReplicaSet controller: keeps the number of pods owned by each ReplicaSet at
spec.replicas and reports status."""

from __future__ import annotations

import asyncio
import copy
import secrets
import time

from .. import admission
from ..selectors import match_selector_object
from ..store import Forbidden, StoreError
from .base import (
    Controller,
    Key,
    controller_ref,
    is_pod_active,
    is_pod_ready,
    is_terminating,
    owner_reference,
    set_condition,
)

ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
BURST = 500


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def owned_pods(store, rs: dict) -> list[dict]:
    uid = rs["metadata"]["uid"]
    return [p for p in store.scan("pods", rs["metadata"]["namespace"])
            if (controller_ref(p) or {}).get("uid") == uid]


def _deletion_rank(pod: dict):
    """Pods to delete first sort first: unscheduled, pending, not ready, newest."""
    st = pod.get("status") or {}
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(st.get("phase"), 0)
    restarts = sum(c.get("restartCount", 0) for c in st.get("containerStatuses") or [])
    return (
        0 if not (pod.get("spec") or {}).get("nodeName") else 1,
        phase_rank,
        1 if is_pod_ready(pod) else 0,
        -restarts,
        # newer first: invert the timestamp ordering
        tuple(-ord(ch) for ch in pod["metadata"].get("creationTimestamp", "")),
    )


class ReplicaSetController(Controller):
    name = "replicasets"
    primary = "replicasets"
    watches = ("replicasets", "pods")

    def __init__(self, store, config, runtime) -> None:
        super().__init__(store, config, runtime)
        # key -> (loop time before which no pod is created, failures in a row, last error)
        self._create_backoff: dict[Key, tuple[float, int, str | None]] = {}

    def keys_for(self, resource, event_type, obj):
        if resource == "replicasets":
            yield (obj["metadata"]["namespace"], obj["metadata"]["name"])
            return
        ref = controller_ref(obj)
        if ref and ref.get("kind") == "ReplicaSet":
            yield (obj["metadata"]["namespace"], ref["name"])

    async def reconcile(self, key: Key) -> None:
        ns, name = key
        rs = self.store.peek("replicasets", ns, name)
        if rs is None:
            return
        pods = owned_pods(self.store, rs)
        await self._adopt_orphans(rs, pods)
        active = [p for p in pods if is_pod_active(p)]
        desired = int((rs.get("spec") or {}).get("replicas", 1))
        failure = None
        if not is_terminating(rs):
            diff = desired - len(active)
            if diff > 0:
                loop = asyncio.get_running_loop()
                not_before, failures, last = self._create_backoff.get(key, (0.0, 0, None))
                if loop.time() < not_before:
                    failure = last
                    self.enqueue_after(key, not_before - loop.time())
                else:
                    failure = await self._create_pods(rs, min(diff, BURST))
                    if failure:
                        delay = min(max(self.delays.backoff, 0.2) * 2 ** failures, 60.0)
                        self._create_backoff[key] = (loop.time() + delay, failures + 1, failure)
                        self.enqueue_after(key, delay)
                    else:
                        self._create_backoff.pop(key, None)
            elif diff < 0:
                victims = sorted(active, key=_deletion_rank)[: -diff]
                for pod in victims:
                    try:
                        await self.store.delete("pods", ns, pod["metadata"]["name"])
                    except StoreError:
                        continue
                    await self.store.record_event(rs, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}",
                                                  component="replicaset-controller")
        else:
            self._create_backoff.pop(key, None)
        await self._update_status(key, failure)

    async def _adopt_orphans(self, rs: dict, owned: list[dict]) -> None:
        selector = (rs.get("spec") or {}).get("selector")
        if not selector or is_terminating(rs):
            return
        for pod in self.store.scan("pods", rs["metadata"]["namespace"]):
            if controller_ref(pod) or not is_pod_active(pod):
                continue
            if not match_selector_object(selector, pod["metadata"].get("labels") or {}):
                continue
            ref = owner_reference(rs)

            def adopt(p: dict, ref=ref) -> None:
                if not controller_ref(p):
                    p["metadata"].setdefault("ownerReferences", []).append(ref)

            adopted = await self.store.mutate("pods", pod["metadata"]["namespace"], pod["metadata"]["name"], adopt)
            if adopted:
                owned.append(adopted)

    async def _create_pods(self, rs: dict, count: int) -> str | None:
        ns = rs["metadata"]["namespace"]
        template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
        for _ in range(count):
            meta = copy.deepcopy(template.get("metadata") or {})
            name = rs["metadata"]["name"] + "-" + "".join(secrets.choice(ALPHABET) for _ in range(5))
            while self.store.peek("pods", ns, name) is not None:
                name = rs["metadata"]["name"] + "-" + "".join(secrets.choice(ALPHABET) for _ in range(5))
            meta.update({"name": name, "namespace": ns, "ownerReferences": [owner_reference(rs)]})
            meta.pop("generateName", None)
            meta["generateName"] = rs["metadata"]["name"] + "-"
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                   "spec": copy.deepcopy(template.get("spec") or {})}
            try:
                await admission.admit(self.store, "pods", pod, "CREATE")
                await self.store.create("pods", pod)
            except Forbidden as e:
                message = f'Error creating: pods "{meta["generateName"]}" is forbidden: {e.message}'
                if "is forbidden" in e.message or "unable to create new content" in e.message:
                    message = f"Error creating: {e.message}"
                await self.store.record_event(rs, "FailedCreate", message, "Warning",
                                              component="replicaset-controller")
                return message
            except StoreError as e:
                message = f"Error creating: {e.message}"
                await self.store.record_event(rs, "FailedCreate", message, "Warning",
                                              component="replicaset-controller")
                return message
            await self.store.record_event(rs, "SuccessfulCreate", f"Created pod: {name}",
                                          component="replicaset-controller")
        return None

    async def _update_status(self, key: Key, failure: str | None) -> None:
        rs = self.store.peek("replicasets", *key)
        if rs is None:
            return
        pods = [p for p in owned_pods(self.store, rs) if is_pod_active(p)]
        labels = ((rs.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
        fully = [p for p in pods if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())]
        ready = [p for p in pods if is_pod_ready(p)]
        ts = now()

        def apply(o: dict) -> None:
            st = o.setdefault("status", {})
            st["replicas"] = len(pods)
            st["fullyLabeledReplicas"] = len(fully)
            st["readyReplicas"] = len(ready)
            st["availableReplicas"] = len(ready)
            st["observedGeneration"] = o["metadata"].get("generation", 1)
            for k in ("readyReplicas", "availableReplicas", "fullyLabeledReplicas"):
                if not st[k]:
                    st.pop(k)
            conds = st.get("conditions") or []
            if failure:
                set_condition(conds, "ReplicaFailure", "True", "FailedCreate", failure.replace("Error creating: ", ""),
                              now=ts)
                st["conditions"] = conds
            elif conds:
                conds = [c for c in conds if c.get("type") != "ReplicaFailure"]
                if conds:
                    st["conditions"] = conds
                else:
                    st.pop("conditions", None)

        await self.store.mutate("replicasets", key[0], key[1], apply)
