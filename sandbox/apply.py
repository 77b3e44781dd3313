"""Server-side apply: merge an applied configuration into the live object and keep
per-manager field ownership in metadata.managedFields (FieldsV1)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from typing import Any

from .patching import MERGE_SCALAR_LISTS, merge_key, strategic_merge
from .store import Conflict, now

Path = tuple[str, ...]

_META_TRACKED = ("labels", "annotations", "finalizers", "ownerReferences")


def field_set(obj: dict) -> set[Path]:
    """Paths (FieldsV1 keys) of everything set in an object: leaves and keyed list items."""
    out: set[Path] = set()
    for k, v in obj.items():
        if k in ("apiVersion", "kind", "status"):
            continue
        if k == "metadata":
            if isinstance(v, dict):
                for mk in _META_TRACKED:
                    if mk in v:
                        _walk(("f:metadata", f"f:{mk}"), mk, v[mk], out)
            continue
        _walk((f"f:{k}",), k, v, out)
    return out


def _walk(path: Path, field: str, value: Any, out: set[Path]) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _walk(path + (f"f:{k}",), k, v, out)
    elif isinstance(value, list) and value:
        key = merge_key(field, value)
        if key and all(isinstance(i, dict) and key in i for i in value):
            for item in value:
                ip = path + ("k:" + json.dumps({key: item[key]}, separators=(",", ":")),)
                out.add(ip + (".",))
                for k, v in item.items():
                    _walk(ip + (f"f:{k}",), k, v, out)
        elif field in MERGE_SCALAR_LISTS and all(not isinstance(i, (dict, list)) for i in value):
            for item in value:
                out.add(path + ("v:" + json.dumps(item),))
        else:
            out.add(path)
    else:
        out.add(path)


def to_fields_v1(paths: Iterable[Path]) -> dict:
    root: dict = {}
    for p in sorted(paths):
        cur = root
        for part in p:
            cur = cur.setdefault(part, {})
    return root


def from_fields_v1(tree: dict, prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    for k, v in (tree or {}).items():
        p = prefix + (k,)
        if k == ".":
            out.add(p)
        elif v:
            out |= from_fields_v1(v, p)
        else:
            out.add(p)
    return out


def _locate(obj: Any, path: Path) -> tuple[Any, Any] | None:
    """-> (container, key or index) of the element at path, or None."""
    cur = obj
    parent, last = None, None
    for part in path:
        if part == ".":
            return (parent, last) if parent is not None else None
        if part.startswith("f:"):
            if not isinstance(cur, dict) or part[2:] not in cur:
                return None
            parent, last = cur, part[2:]
            cur = cur[part[2:]]
        elif part.startswith("k:"):
            want = json.loads(part[2:])
            if not isinstance(cur, list):
                return None
            idx = next((i for i, item in enumerate(cur)
                        if isinstance(item, dict) and all(item.get(a) == b for a, b in want.items())), None)
            if idx is None:
                return None
            parent, last = cur, idx
            cur = cur[idx]
        elif part.startswith("v:"):
            want = json.loads(part[2:])
            if not isinstance(cur, list) or want not in cur:
                return None
            parent, last = cur, cur.index(want)
            cur = want
        else:
            return None
    return (parent, last) if parent is not None else None


def value_at(obj: Any, path: Path) -> Any:
    loc = _locate(obj, path)
    if loc is None:
        return None
    parent, last = loc
    return parent[last]


def remove_path(obj: dict, path: Path) -> None:
    loc = _locate(obj, path)
    if loc is None:
        return
    parent, last = loc
    if isinstance(parent, list):
        parent.pop(last)
        if not parent and len(path) > 1:
            remove_path(obj, path[:-1])
    else:
        parent.pop(last, None)


def _prune_empty(obj: Any) -> Any:
    if isinstance(obj, dict):
        for k in list(obj):
            v = obj[k]
            _prune_empty(v)
            if k != "metadata" and isinstance(v, dict) and not v and k in ("labels", "annotations"):
                del obj[k]
    elif isinstance(obj, list):
        for v in obj:
            _prune_empty(v)
    return obj


def _path_str(path: Path) -> str:
    out = ""
    for p in path:
        if p == ".":
            continue
        if p.startswith("f:"):
            out += "." + p[2:]
        elif p.startswith("k:"):
            want = json.loads(p[2:])
            out += "[" + ",".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in want.items()) + "]"
        elif p.startswith("v:"):
            out += f"[{p[2:]}]"
    return out


def managers(obj: dict) -> list[dict]:
    return list((obj.get("metadata") or {}).get("managedFields") or [])


def entry(manager: str, operation: str, api_version: str, paths: set[Path],
          subresource: str | None = None) -> dict:
    e = {
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": now(),
        "fieldsType": "FieldsV1",
        "fieldsV1": to_fields_v1(paths),
    }
    if subresource:
        e["subresource"] = subresource
    return e


def record_update(obj: dict, manager: str, old: dict | None = None) -> None:
    """Give `manager` (operation Update) the fields it set or changed."""
    paths = field_set(obj)
    if old is not None:
        paths = {p for p in paths if value_at(obj, p) != value_at(old, p)}
    entries = managers(obj)
    owned_elsewhere = set()
    for e in entries:
        if e.get("manager") == manager and e.get("operation") == "Update":
            paths |= from_fields_v1(e.get("fieldsV1") or {})
    entries = [e for e in entries if not (e.get("manager") == manager and e.get("operation") == "Update")]
    # fields now set by this manager move away from others' Update entries
    for e in entries:
        if e.get("operation") == "Update":
            mine = from_fields_v1(e.get("fieldsV1") or {}) - paths
            e["fieldsV1"] = to_fields_v1(mine)
            owned_elsewhere |= mine
    entries = [e for e in entries if e.get("operation") == "Apply" or e.get("fieldsV1")]
    if paths:
        entries.append(entry(manager, "Update", obj.get("apiVersion", ""), paths))
    obj.setdefault("metadata", {})["managedFields"] = entries


def apply(live: dict | None, applied: dict, manager: str, force: bool) -> dict:
    """-> the merged object (managedFields updated). Raises Conflict on field conflicts."""
    applied = copy.deepcopy(applied)
    applied.pop("status", None)
    api_version = applied.get("apiVersion", "")
    new_paths = field_set(applied)
    if live is None:
        obj = copy.deepcopy(applied)
        obj.setdefault("metadata", {})["managedFields"] = [entry(manager, "Apply", api_version, new_paths)]
        return obj

    entries = managers(live)
    mine = next((e for e in entries if e.get("manager") == manager and e.get("operation") == "Apply"), None)
    prev_paths = from_fields_v1(mine.get("fieldsV1") or {}) if mine else set()
    others = [e for e in entries if e is not mine]

    # conflicts with other appliers that own a field we set to a different value
    conflicts = []
    for e in others:
        if e.get("operation") != "Apply":
            continue
        owned = from_fields_v1(e.get("fieldsV1") or {})
        for p in sorted(owned & new_paths):
            if p[-1] == ".":
                continue
            if value_at(live, p) != value_at(applied, p):
                conflicts.append((e["manager"], p))
    if conflicts and not force:
        causes = [{"reason": "FieldManagerConflict", "message": f'conflict with "{m}": {_path_str(p)}',
                   "field": _path_str(p)} for m, p in conflicts]
        if len(conflicts) == 1:
            msg = f'Apply failed with 1 conflict: conflict with "{conflicts[0][0]}": {_path_str(conflicts[0][1])}'
        else:
            msg = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(c["message"] for c in causes)
        raise Conflict(msg, causes)

    # ownership of fields we now set leaves every other manager (Apply with force, Update always)
    other_owned: set[Path] = set()
    kept = []
    for e in others:
        owned = from_fields_v1(e.get("fieldsV1") or {})
        if e.get("operation") == "Apply":
            owned -= {p for m, p in conflicts if m == e["manager"]}
        else:
            owned -= new_paths
        if owned:
            e = dict(e, fieldsV1=to_fields_v1(owned))
            kept.append(e)
        other_owned |= owned

    obj = copy.deepcopy(live)
    # fields this manager applied before and dropped now, unless someone else owns them;
    # a dropped list item goes before its fields (else removing its key field first would
    # leave the item unfindable, half-removed)
    for p in sorted(prev_paths - new_paths, key=lambda p: (len(p), p[-1] == "."), reverse=True):
        base = p[:-1] if p[-1] == "." else p
        if any(o[: len(base)] == base for o in other_owned | new_paths):
            continue
        remove_path(obj, base)
    _prune_empty(obj)

    merged = strategic_merge(obj, {k: v for k, v in applied.items() if k != "metadata"})
    meta = merged.setdefault("metadata", {})
    ameta = applied.get("metadata") or {}
    for mk in ("labels", "annotations"):
        if mk in ameta:
            meta[mk] = {**(meta.get(mk) or {}), **(ameta[mk] or {})}
    for mk in ("finalizers", "ownerReferences"):
        if mk in ameta:
            merged_meta = strategic_merge({mk: meta.get(mk) or []}, {mk: ameta[mk]})
            meta[mk] = merged_meta[mk]
    kept.append(entry(manager, "Apply", api_version, new_paths))
    meta["managedFields"] = kept
    return merged
