"""JSON patch (RFC 6902), JSON merge patch (RFC 7386) and Kubernetes strategic merge
patch, with the merge keys of the built-in types."""

from __future__ import annotations

import copy
from typing import Any

from .store import BadRequest, Invalid

# field name -> merge key of the list items (patchMergeKey in the Go types)
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "addresses": "type",  # node addresses
    "taints": "key",
    "tolerations": None,  # atomic
}
# lists of scalars with merge semantics (union)
MERGE_SCALAR_LISTS = {"finalizers"}


def merge_key(field: str, items: list) -> str | None:
    """The merge key of a list field, looking at the items to tell container ports from
    service ports."""
    if field == "ports":
        sample = next((i for i in items if isinstance(i, dict)), None)
        if sample is None:
            return None
        if "containerPort" in sample:
            return "containerPort"
        if "port" in sample:
            return "port"
        return None
    return MERGE_KEYS.get(field)


# ---- JSON patch ------------------------------------------------------------------------

def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise BadRequest(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str]) -> Any:
    cur = doc
    for p in parts:
        if isinstance(cur, list):
            try:
                cur = cur[int(p)]
            except (ValueError, IndexError):
                raise Invalid(f"the server rejected our request due to an error in our request: path {p!r} not found") from None
        elif isinstance(cur, dict):
            if p not in cur:
                raise Invalid(f"the server rejected our request due to an error in our request: "
                              f"doc is missing path: \"/{'/'.join(parts)}\": missing value")
            cur = cur[p]
        else:
            raise Invalid(f"cannot traverse into {p!r}")
    return cur


def _add(doc: Any, parts: list[str], value: Any, replace: bool = False) -> Any:
    if not parts:
        return copy.deepcopy(value)
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, list):
        if last == "-":
            parent.append(copy.deepcopy(value))
        else:
            try:
                idx = int(last)
            except ValueError:
                raise Invalid(f"invalid array index {last!r}") from None
            if replace:
                if idx >= len(parent):
                    raise Invalid(f"replace operation does not apply: doc is missing key: /{'/'.join(parts)}")
                parent[idx] = copy.deepcopy(value)
            else:
                if idx > len(parent):
                    raise Invalid(f"add operation does not apply: index out of range: {idx}")
                parent.insert(idx, copy.deepcopy(value))
    elif isinstance(parent, dict):
        if replace and last not in parent:
            raise Invalid(f"replace operation does not apply: doc is missing key: /{'/'.join(parts)}: missing value")
        parent[last] = copy.deepcopy(value)
    else:
        raise Invalid(f"cannot add to a {type(parent).__name__}")
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    if not parts:
        raise Invalid("cannot remove the whole document")
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    try:
        if isinstance(parent, list):
            parent.pop(int(last))
        else:
            del parent[last]
    except (KeyError, IndexError, ValueError, TypeError):
        raise Invalid(f"remove operation does not apply: doc is missing path: \"/{'/'.join(parts)}\": missing value") from None
    return doc


def json_patch(doc: Any, ops: Any) -> Any:
    if not isinstance(ops, list):
        raise BadRequest("json patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op:
            raise BadRequest(f"invalid json patch operation: {op!r}")
        kind = op["op"]
        parts = _pointer(op.get("path", ""))
        if kind == "add":
            doc = _add(doc, parts, op.get("value"))
        elif kind == "remove":
            doc = _remove(doc, parts)
        elif kind == "replace":
            doc = _add(doc, parts, op.get("value"), replace=True)
        elif kind in ("move", "copy"):
            src = _pointer(op.get("from", ""))
            value = copy.deepcopy(_walk(doc, src))
            if kind == "move":
                doc = _remove(doc, src)
            doc = _add(doc, parts, value)
        elif kind == "test":
            if _walk(doc, parts) != op.get("value"):
                raise Invalid(f"testing value /{'/'.join(parts)} failed: test failed")
        else:
            raise BadRequest(f"Unexpected kind: {kind}")
    return doc


# ---- merge patch ---------------------------------------------------------------------------

def merge_patch(doc: Any, patch: Any) -> Any:
    """RFC 7386 merge patch; `doc` is left unchanged (copied once, not once per level)."""
    return _merge_into(copy.deepcopy(doc), patch)


def _merge_into(doc: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = doc if isinstance(doc, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge_into(out.get(k), v)
    return out


# ---- strategic merge patch --------------------------------------------------------------------

def strategic_merge(doc: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(doc, dict):
        doc = {}
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    out = copy.deepcopy(doc)
    retain = patch.get("$retainKeys")
    orders: dict[str, list] = {}
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys"):
            continue
        if k.startswith("$setElementOrder/"):
            orders[k.split("/", 1)[1]] = v
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            if isinstance(out.get(field), list):
                out[field] = [x for x in out[field] if x not in (v or [])]
            continue
        if v is None:
            out.pop(k, None)
            continue
        cur = out.get(k)
        if isinstance(v, dict):
            merged = strategic_merge(cur, v)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
        elif isinstance(v, list):
            out[k] = _merge_list(k, cur if isinstance(cur, list) else [], v)
        else:
            out[k] = copy.deepcopy(v)
    for field, order in orders.items():
        if isinstance(out.get(field), list):
            out[field] = _reorder(field, out[field], order)
    if isinstance(retain, list):
        for k in list(out):
            if k not in retain:
                del out[k]
    return out


def _merge_list(field: str, current: list, patch: list) -> list:
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [copy.deepcopy(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    key = merge_key(field, patch + current)
    if field in MERGE_SCALAR_LISTS and all(not isinstance(i, dict) for i in patch):
        out = list(current)
        for i in patch:
            if i not in out:
                out.append(i)
        return out
    if key is None or not all(isinstance(i, dict) for i in patch):
        return [copy.deepcopy(i) for i in patch]
    out = [copy.deepcopy(i) for i in current]
    for item in patch:
        kv = item.get(key)
        idx = next((n for n, c in enumerate(out) if isinstance(c, dict) and c.get(key) == kv), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append(strategic_merge({}, item))
        else:
            out[idx] = strategic_merge(out[idx], item)
    return out


def _reorder(field: str, items: list, order: list) -> list:
    key = merge_key(field, [o for o in order if isinstance(o, dict)] + items)
    def ident(x):
        return x.get(key) if key and isinstance(x, dict) else x
    wanted = [ident(o) for o in order]
    ordered = [i for w in wanted for i in items if ident(i) == w]
    rest = [i for i in items if ident(i) not in wanted]
    return ordered + rest
