"""The cluster's nodes in the live view: kept from the shared watch, drawn once per change for every page.

The watcher announces node changes (cluster-scoped, not part of a namespace's
observed state); labs keeps them in one Redis hash per cluster for first
renders, and sends each change, drawn once, to the cluster's channel-layer
group that every open lab page of that cluster joins.
"""

from __future__ import annotations

import json
import logging

from django.template.loader import render_to_string

from clouds.watch import state as live_state
from labs.live import presenters

logger = logging.getLogger(__name__)

KEY = "liveops:labs:nodes"
SECTION_TEMPLATE = "labs/panel/nodes.html"
ROW_TEMPLATE = "labs/panel/node_row.html"


def group_name(cluster_id) -> str:
    """The channel-layer group of every lab page of a cluster (for cluster-scoped changes)."""
    return f"cluster-{cluster_id}-nodes"


def _key(cluster_id) -> str:
    return f"{KEY}:{cluster_id}"


def redis_key(cluster_id) -> str:
    """The cluster's hash of nodes, for a reader that fetches it with other keys (decode reads it)."""
    return _key(cluster_id)


def decode(raw: dict[bytes, bytes]) -> dict[str, dict]:
    return {name.decode(): json.loads(value) for name, value in raw.items()}


def _kept(node: dict) -> dict:
    """What the panel reads of a node (its image list and more can weigh kilobytes)."""
    meta = node.get("metadata") or {}
    status = node.get("status") or {}
    return {
        "metadata": {k: meta[k] for k in ("name", "labels", "creationTimestamp") if k in meta},
        "spec": {"unschedulable": bool((node.get("spec") or {}).get("unschedulable"))},
        "status": {
            # Without heartbeat times: a node that only says "still here" redraws nothing.
            "conditions": [{k: c.get(k) for k in ("type", "status", "reason")} for c in status.get("conditions") or []],
            **{k: status[k] for k in ("capacity", "allocatable") if k in status},
        },
    }


def load(cluster_id) -> dict[str, dict]:
    """The cluster's nodes as last seen (name -> node); empty when Redis cannot be reached."""
    try:
        raw = live_state.client().hgetall(_key(cluster_id))
    except Exception:
        logger.exception("could not load the nodes of cluster %s", cluster_id)
        return {}
    return {name.decode(): json.loads(value) for name, value in raw.items()}


def context(cluster_id) -> dict:
    return {"nodes": presenters.present_nodes(load(cluster_id))}


def render_section(cluster_id, loaded: dict[str, dict] | None = None) -> str:
    """The nodes table and the count in its tab (first render of a socket, resync); `loaded`: the nodes
    when already read."""
    nodes = presenters.present_nodes(load(cluster_id) if loaded is None else loaded)
    return render_to_string(SECTION_TEMPLATE, {"nodes": nodes}) + _count(len(nodes))


def _count(count: int) -> str:
    return render_to_string("labs/panel/count.html", {"kind": "nodes", "count": count})


def record_change(cluster_id, name: str, node: dict | None) -> str:
    """Keep the node's new state and return the swaps that draw it (the same for every page)."""
    r = live_state.client()
    key = _key(cluster_id)
    known = r.hexists(key, name)
    if node is None:
        r.hdel(key, name)
        if not known:
            return ""
        remaining = r.hlen(key)
        if not remaining:
            return render_section(cluster_id)
        return render_to_string("labs/panel/deleted_row.html", {"row_id": f"no-{name}"}) + _count(remaining)
    kept = _kept(node)
    value = json.dumps(kept, separators=(",", ":"), sort_keys=True)
    if known and r.hget(key, name) == value.encode():
        return ""
    r.hset(key, name, value)
    if not known:  # a new node: the whole table, to keep the order
        return render_section(cluster_id)
    return render_to_string(ROW_TEMPLATE, {"node": presenters.present_node(kept), "oob": True})
