"""Label selectors (string grammar and LabelSelector objects) and field selectors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(r"\s*(!=|==|=|\(|\)|,|!|[^\s=!(),]+)")


class SelectorError(ValueError):
    pass


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        labels = labels or {}
        if self.op == "exists":
            return self.key in labels
        if self.op == "!":
            return self.key not in labels
        if self.op in ("=", "in"):
            return self.key in labels and labels[self.key] in self.values
        if self.op in ("!=", "notin"):
            return self.key not in labels or labels[self.key] not in self.values
        if self.op in ("gt", "lt"):
            try:
                v = int(labels[self.key])
            except (KeyError, ValueError):
                return False
            return v > int(self.values[0]) if self.op == "gt" else v < int(self.values[0])
        raise SelectorError(f"unknown operator {self.op}")


def _tokens(s: str) -> list[str]:
    out, pos = [], 0
    s = s.strip()
    while pos < len(s):
        m = _TOKEN.match(s, pos)
        if not m or m.end() == pos:
            raise SelectorError(f"unable to parse requirement: {s!r}")
        out.append(m.group(1))
        pos = m.end()
        while pos < len(s) and s[pos].isspace():
            pos += 1
    return out


def parse_label_selector(s: str | None) -> list[Requirement]:
    """Parse "a=b,c!=d,e in (x,y),f notin (z),g,!h" into requirements (ANDed)."""
    if not s or not s.strip():
        return []
    toks = _tokens(s)
    reqs: list[Requirement] = []
    i = 0

    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise SelectorError(f"unable to parse requirement: {msg} in {s!r}")

    while i < len(toks):
        if toks[i] == "!":
            need(i + 1 < len(toks), "missing key after '!'")
            reqs.append(Requirement(toks[i + 1], "!"))
            i += 2
        else:
            key = toks[i]
            need(key not in ("=", "==", "!=", ",", "(", ")"), f"unexpected {key!r}")
            i += 1
            if i >= len(toks) or toks[i] == ",":
                reqs.append(Requirement(key, "exists"))
            elif toks[i] in ("=", "==", "!="):
                op = "!=" if toks[i] == "!=" else "="
                i += 1
                value = ""
                if i < len(toks) and toks[i] != ",":
                    value = toks[i]
                    i += 1
                reqs.append(Requirement(key, op, (value,)))
            elif toks[i] in ("in", "notin"):
                op = toks[i]
                i += 1
                need(i < len(toks) and toks[i] == "(", "expected '('")
                i += 1
                values = []
                while i < len(toks) and toks[i] != ")":
                    if toks[i] != ",":
                        values.append(toks[i])
                    i += 1
                need(i < len(toks), "expected ')'")
                i += 1
                reqs.append(Requirement(key, op, tuple(values)))
            elif toks[i] in ("gt", "lt"):
                op = toks[i]
                need(i + 1 < len(toks), "missing value")
                reqs.append(Requirement(key, op, (toks[i + 1],)))
                i += 2
            else:
                need(False, f"unexpected {toks[i]!r}")
        if i < len(toks):
            need(toks[i] == ",", f"expected ',' got {toks[i]!r}")
            i += 1
    return reqs


def match_label_selector(selector: str | list[Requirement] | None, labels: dict | None) -> bool:
    reqs = parse_label_selector(selector) if isinstance(selector, str) or selector is None else selector
    return all(r.matches(labels or {}) for r in reqs)


def match_selector_object(selector: dict | None, labels: dict | None) -> bool:
    """metav1.LabelSelector. An empty selector matches everything; None matches nothing."""
    if selector is None:
        return False
    labels = labels or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        op = expr.get("operator")
        key = expr.get("key")
        values = tuple(expr.get("values") or ())
        mapped = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}.get(op)
        if mapped is None:
            return False
        if not Requirement(key, mapped, values).matches(labels):
            return False
    return True


def selector_from_map(labels: dict[str, str] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items()))


def selector_object_to_string(selector: dict | None) -> str:
    parts = [f"{k}={v}" for k, v in sorted((selector or {}).get("matchLabels", {}).items())]
    for e in (selector or {}).get("matchExpressions") or []:
        op = e.get("operator")
        if op == "In":
            parts.append(f"{e['key']} in ({','.join(e.get('values') or [])})")
        elif op == "NotIn":
            parts.append(f"{e['key']} notin ({','.join(e.get('values') or [])})")
        elif op == "Exists":
            parts.append(e["key"])
        elif op == "DoesNotExist":
            parts.append(f"!{e['key']}")
    return ",".join(parts)


# ---- field selectors -------------------------------------------------------------

def parse_field_selector(s: str | None) -> list[tuple[str, str, str]]:
    """"a.b=c,d!=e" -> [(path, op, value)] with op in {"=", "!="}."""
    out = []
    if not s:
        return out
    for part in s.split(","):
        part = part.strip()
        if not part:
            continue
        if "!=" in part:
            k, v = part.split("!=", 1)
            out.append((k.strip(), "!=", v.strip()))
        elif "==" in part:
            k, v = part.split("==", 1)
            out.append((k.strip(), "=", v.strip()))
        elif "=" in part:
            k, v = part.split("=", 1)
            out.append((k.strip(), "=", v.strip()))
        else:
            raise SelectorError(f"invalid selector: '{s}'; can't understand '{part}'")
    return out


def field_value(obj: dict, path: str) -> str:
    cur: Any = obj
    for p in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(p)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def match_field_selector(selector: str | list | None, obj: dict) -> bool:
    reqs = parse_field_selector(selector) if isinstance(selector, str) or selector is None else selector
    for path, op, value in reqs:
        actual = field_value(obj, path)
        if (actual == value) != (op == "="):
            return False
    return True
