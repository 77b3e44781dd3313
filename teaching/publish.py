"""Publishing a student's changed row to the dashboards of their cohort, when labs says a session changed.

Each message carries whole fragments (the row, the funnel, the help list), drawn once here where the
change happened, so a lost message is healed by the next and no dashboard reads the cluster.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from labs.models import Cohort, LabSession
from teaching import fragments
from teaching.models import DiagnosisTrack

logger = logging.getLogger(__name__)

# What of a session's page changing changes its row (and the funnel or the help list).
ROW_PARTS = {"status", "checks", "revisions", "messages"}


def send_to_cohort(cohort_id, html: str) -> None:
    if not html:
        return
    try:
        async_to_sync(get_channel_layer().group_send)(f"cohort-{cohort_id}", {"type": "grid.update", "html": html})
    except Exception:  # the dashboard heals on the next message or its resync
        logger.exception("could not publish to cohort %s", cohort_id)


def publish_session(session: LabSession, what: str = "status") -> None:
    """Send the student's row (and the funnel and help list when they may have changed) to the cohort."""
    if session.cohort_id is None:
        return
    cohort = Cohort.objects.get(pk=session.cohort_id)
    # The row goes alone: after a top-level <tr>, an HTML parser drops the <form> of a following fragment.
    send_to_cohort(cohort.pk, fragments.render_row(cohort, session.user))
    html = ""
    if what == "checks":
        html += fragments.render_funnel(cohort)
    if what == "messages":
        html += fragments.render_help(cohort)
    send_to_cohort(cohort.pk, html)


def publish_actions(cohort: Cohort) -> None:
    send_to_cohort(cohort.pk, fragments.render_actions(cohort))


def on_session_notified(sender, session_id, what, **kwargs) -> None:
    if what not in ROW_PARTS:
        return
    session = LabSession.objects.select_related("user").filter(pk=session_id, cohort__isnull=False).first()
    if session is not None:
        publish_session(session, what)


def on_checklist_evaluated(sender, session, statuses, diagnoses, **kwargs) -> None:
    """Remember the diagnosis the student now sees, and how often they have seen it."""
    if session.cohort_id is None:
        return
    top = diagnoses[0] if diagnoses else None
    code = getattr(top, "code", "") or ""
    track, _ = DiagnosisTrack.objects.get_or_create(session=session)
    if code == track.code:
        return
    track.code, track.title = code, (getattr(top, "title", "") or "")[:300]
    track.since = timezone.now() if code else None
    if code:
        track.shown = {**(track.shown or {}), code: (track.shown or {}).get(code, 0) + 1}
    track.save()
