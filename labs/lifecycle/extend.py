"""Extending a running lab once by the lab's extension time."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from labs.content_loader import lab_or_none
from labs.models import LabSession


def extend_session(session: LabSession) -> str | None:
    """Add the lab's extension once. Returns an error message or None."""
    lab = lab_or_none(session.lab_slug)
    if lab is None:
        return "This lab is no longer offered, so it cannot be extended."
    if session.state != LabSession.State.READY:
        return "Only a running lab can be extended."
    if session.extended:
        return "This lab has already been extended once."
    session.expires_at = max(session.expires_at, timezone.now()) + timedelta(minutes=lab.extension_minutes)
    session.extended = True
    session.warned = False
    session.save(update_fields=["expires_at", "extended", "warned"])
    session.record("extend", f"Extended by {lab.extension_minutes} minutes")
    return None
