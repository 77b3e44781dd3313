"""Slow answers, a fault switch of both the API server and the cloud: the next `count` calls that match
are done, then answered `seconds` late, so a test can stop a client in the middle of a call that the
server has already carried out (the hardest moment for a client that must be safe to run twice).

Each rule is {"method": "PATCH", "path": "<prefix of the request's path>", "seconds": s, "count": n},
with "dry_run": true/false to match only (or never) the API server's dry runs. `held` counts the
answers held right now: a test waits for it to be 1 before killing the client.
"""

from __future__ import annotations

import asyncio

PROBLEM = ('slow_answers must be a list of {"method": "POST", "path": "/...", "seconds": >= 0, "count": >= 1} '
           '(and optionally "dry_run": true or false)')


def parse(value) -> list[dict]:
    """Validated rules (ValueError saying what is wrong)."""
    if not isinstance(value, list):
        raise ValueError(PROBLEM)
    rules = []
    for item in value:
        if not isinstance(item, dict) or set(item) - {"method", "path", "seconds", "count", "dry_run"}:
            raise ValueError(PROBLEM)
        method, path = item.get("method"), item.get("path")
        seconds, count = item.get("seconds", 0), item.get("count", 1)
        dry_run = item.get("dry_run")
        if (not isinstance(method, str) or not isinstance(path, str) or not path.startswith("/")
                or isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= 600
                or isinstance(count, bool) or not isinstance(count, int) or count < 1
                or (dry_run is not None and not isinstance(dry_run, bool))):
            raise ValueError(PROBLEM)
        rule = {"method": method.upper(), "path": path, "seconds": float(seconds), "count": count}
        if dry_run is not None:
            rule["dry_run"] = dry_run
        rules.append(rule)
    return rules


class SlowAnswers:
    def __init__(self) -> None:
        self.rules: list[dict] = []
        self.held = 0

    def set(self, value) -> None:
        self.rules = parse(value)

    def view(self) -> dict:
        return {"slow_answers": [dict(r) for r in self.rules], "held": self.held}

    def _take(self, request) -> dict | None:
        for rule in self.rules:
            if rule["count"] < 1 or request.method != rule["method"] or not request.path.startswith(rule["path"]):
                continue
            if "dry_run" in rule and (request.query.get("dryRun") == "All") != rule["dry_run"]:
                continue
            rule["count"] -= 1
            return rule
        return None

    async def hold(self, request) -> None:
        """Hold the answer to `request` (already carried out) if a rule matches."""
        rule = self._take(request)
        if rule is None:
            return
        self.held += 1
        try:
            await asyncio.sleep(rule["seconds"])
        finally:
            self.held -= 1
