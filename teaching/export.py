"""The cohort's progress as CSV: per student and check the time it was first reached, applies, help requests."""

from __future__ import annotations

import csv
import io

from django.db.models import Count

from labs.models import HelpRequest, ManifestRevision
from teaching.grid import build_rows, columns


def progress_csv(cohort) -> str:
    rows = build_rows(cohort)
    cols = columns(cohort)
    ids = [r.session.pk for r in rows if r.session]
    applies = dict(ManifestRevision.objects.filter(session_id__in=ids).values("session_id")
                   .annotate(n=Count("id")).values_list("session_id", "n"))
    helps = dict(HelpRequest.objects.filter(session_id__in=ids).values("session_id")
                 .annotate(n=Count("id")).values_list("session_id", "n"))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["student", "session state", "started", "current step", *[c["key"] for c in cols],
                     "applies", "help requests", "stuck"])
    for row in rows:
        s = row.session
        reached = {c.key: c.reached_at.isoformat(timespec="seconds") if c.reached_at else "" for c in row.cells}
        writer.writerow([row.student.get_username(), s.state if s else "not started",
                         s.created.isoformat(timespec="seconds") if s else "", row.step,
                         *[reached.get(c["key"], "") for c in cols],
                         applies.get(s.pk, 0) if s else 0, helps.get(s.pk, 0) if s else 0, "; ".join(row.stuck)])
    return out.getvalue()
