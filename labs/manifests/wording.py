"""Small helpers that turn values and near misses into learner-friendly words."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


def closest(word: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The candidate that `word` was most likely meant to be, if any is close enough."""
    candidates = list(candidates)
    matches = difflib.get_close_matches(word, candidates, n=1, cutoff=cutoff)
    if matches:
        return matches[0]
    lowered = {c.lower(): c for c in candidates}
    return lowered.get(word.lower())


def describe_value(value: Any) -> str:
    """'the string "three"', 'the number 3', 'a list'..."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {'true' if value else 'false'}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f'the string "{shown}"'
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


TYPE_WORDS = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "object": "a mapping of keys to values",
    "array": "a list (items starting with -)",
}


def describe_types(types: Iterable[str]) -> str:
    words = [TYPE_WORDS.get(t, t) for t in types if t != "null"]
    if not words:
        return "empty"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def labels_text(labels: Any) -> str:
    if not isinstance(labels, dict) or not labels:
        return "(no labels)"
    return ", ".join(f"{k}={v}" for k, v in labels.items())


def join_names(names: Iterable[str]) -> str:
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]
