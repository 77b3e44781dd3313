"""The latest connection test of a credential, drawn as one fragment (first render and live updates)."""

from __future__ import annotations

from django.template.loader import render_to_string

from clouds.models import ConnectionTest

TEMPLATE = "clouds/connection_test.html"
STATE_LABELS = {"pending": "Waiting", "running": "Checking…", "ok": "OK", "failed": "Failed", "skipped": "Skipped"}


def latest_test(credential_id) -> ConnectionTest | None:
    return ConnectionTest.objects.filter(credential_id=credential_id).order_by("-started", "-pk").first()


def group_name(credential_id) -> str:
    """The channel-layer group the tests of a credential publish to."""
    return ConnectionTest(credential_id=credential_id).group_name


def connection_test_context(test: ConnectionTest | None, oob: bool = False) -> dict:
    if test is None:
        return {"test": None, "oob": oob, "state": "none"}
    steps = [{**s, "state_label": STATE_LABELS.get(s.get("state"), s.get("state"))} for s in test.steps]
    failed = sum(1 for s in steps if s["state"] == "failed")
    if test.finished is None:
        state, label = "running", "Testing…"
    elif failed or test.ok is False:
        state, label = "failed", f"{failed} problem{'s' if failed != 1 else ''}" if failed else "Failed"
    else:
        state, label = "ok", "Connection OK"
    took = (test.finished - test.started).total_seconds() if test.finished else None
    return {"test": test, "steps": steps, "state": state, "label": label, "took": took, "oob": oob}


def render_connection_test(credential_id, oob: bool = False) -> str:
    return render_to_string(TEMPLATE, connection_test_context(latest_test(credential_id), oob))
