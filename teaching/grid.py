"""The dashboard's grid: one row per student of a cohort (their latest session in it), a column per
check, read from the stored check results, revisions and diagnoses (never from the cluster)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from labs.checks.definitions import FAILING, PASSED, WAITING, check_definitions
from labs.content_loader import lab_or_none
from labs.models import CheckResult, Cohort, HelpRequest, LabSession, ManifestRevision
from teaching.models import DiagnosisTrack

REPEATED_DIAGNOSIS = 3  # the same diagnosis shown this many times
REPEATED_FAILED_APPLIES = 2  # this many failed applies in a row


@dataclass
class Cell:
    key: str
    title: str
    state: str = WAITING  # passed | failing | waiting (as the student's checklist)
    reached_at: datetime | None = None
    optional: bool = False

    @property
    def regressed(self) -> bool:
        return self.state != PASSED and self.reached_at is not None


@dataclass
class Row:
    student: object
    session: LabSession | None = None
    cells: list[Cell] = field(default_factory=list)
    step: str = ""
    on_step_since: datetime | None = None
    last_applied: ManifestRevision | None = None
    applies: int = 0
    failed_in_a_row: int = 0
    diagnosis: str = ""
    stuck: list[str] = field(default_factory=list)
    open_help: HelpRequest | None = None

    @property
    def dom_id(self) -> str:
        return f"student-{self.student.pk}"

    @property
    def minutes_left(self) -> int | None:
        if self.session is None or not self.session.is_running:
            return None
        return max(0, int((self.session.expires_at - timezone.now()).total_seconds() // 60))

    @property
    def minutes_on_step(self) -> int | None:
        if self.on_step_since is None or self.session is None or not self.session.is_running:
            return None
        return max(0, int((timezone.now() - self.on_step_since).total_seconds() // 60))


def columns(cohort: Cohort) -> list[dict]:
    return check_definitions(lab_or_none(cohort.lab_slug))


def latest_sessions(cohort: Cohort, student_ids=None) -> dict:
    """student id -> their newest session in the cohort."""
    sessions = LabSession.objects.filter(cohort=cohort).select_related("cluster").order_by("user_id", "-created")
    if student_ids is not None:
        sessions = sessions.filter(user_id__in=student_ids)
    latest = {}
    for s in sessions:
        latest.setdefault(s.user_id, s)
    return latest


def build_rows(cohort: Cohort, students=None) -> list[Row]:
    """The rows of the given students (all the cohort's by default), in a handful of queries."""
    if students is None:
        students = list(cohort.students.order_by("username"))
    sessions = latest_sessions(cohort, [u.pk for u in students])
    ids = [s.pk for s in sessions.values()]
    results: dict = {}
    for r in CheckResult.objects.filter(session_id__in=ids):
        results.setdefault(r.session_id, {})[r.key] = r
    revisions: dict = {}
    for rev in (ManifestRevision.objects.filter(session_id__in=ids).only(
            "session_id", "number", "status", "created", "applied_at").order_by("session_id", "-number")):
        revisions.setdefault(rev.session_id, []).append(rev)
    tracks = {t.session_id: t for t in DiagnosisTrack.objects.filter(session_id__in=ids)}
    helps = {}
    for h in HelpRequest.objects.filter(session_id__in=ids, state=HelpRequest.State.OPEN).order_by("created"):
        helps.setdefault(h.session_id, h)
    lab = lab_or_none(cohort.lab_slug)
    defs = check_definitions(lab)
    rows = []
    for student in students:
        session = sessions.get(student.pk)
        row = Row(student=student, session=session)
        if session is not None:
            _fill(row, cohort, lab, defs, results.get(session.pk, {}), revisions.get(session.pk, []),
                  tracks.get(session.pk), helps.get(session.pk))
        else:
            row.cells = [Cell(d["key"], d["title"], optional=d["optional"]) for d in defs]
        rows.append(row)
    return rows


def _fill(row: Row, cohort, lab, defs, results, revisions, track, help_request) -> None:
    session = row.session
    for d in defs:
        r = results.get(d["key"])
        state = (r.detail or {}).get("state") if r else None
        if state not in (PASSED, FAILING, WAITING):
            state = PASSED if r and r.passed else WAITING
        row.cells.append(Cell(d["key"], d["title"], state, r.passed_at if r else None, d["optional"]))
    reached = {c.key: c.reached_at for c in row.cells if c.reached_at}
    row.step, row.on_step_since = _current_step(lab, reached, session)
    applied = [r for r in revisions if r.status == ManifestRevision.Status.APPLIED]
    row.last_applied = applied[0] if applied else None
    row.applies = len(revisions)
    for rev in revisions:
        if rev.status not in (ManifestRevision.Status.FAILED, ManifestRevision.Status.INVALID):
            break
        row.failed_in_a_row += 1
    row.diagnosis = track.title if track else ""
    row.open_help = help_request
    row.stuck = stuck_reasons(row, cohort, track)


def _current_step(lab, reached: dict, session: LabSession) -> tuple[str, datetime | None]:
    """The first step with a check never reached, and since when the student is on it."""
    start = session.ready_at or session.created
    if lab is None:
        return "", start
    last = max(reached.values(), default=start)
    for step in lab.steps:
        if step.checks and any(key not in reached for key in step.checks):
            return step.title, max(last, start)
    return "Done", None


def stuck_reasons(row: Row, cohort: Cohort, track: DiagnosisTrack | None, now=None) -> list[str]:
    """Why the student looks stuck: no progress for the cohort's N minutes, the same diagnosis again
    and again (or for N minutes), applies failing again and again. Empty for a finished or idle session."""
    session = row.session
    if session is None or session.state != LabSession.State.READY or row.step == "Done":
        return []
    now = now or timezone.now()
    limit = timedelta(minutes=cohort.stuck_minutes)
    reasons = []
    if row.on_step_since and now - row.on_step_since >= limit:
        reasons.append(f"no progress for {int((now - row.on_step_since).total_seconds() // 60)} min")
    if track and track.code:
        times = (track.shown or {}).get(track.code, 0)
        if times >= REPEATED_DIAGNOSIS:
            reasons.append(f"same diagnosis {times} times")
        elif track.since and now - track.since >= limit:
            reasons.append(f"same diagnosis for {int((now - track.since).total_seconds() // 60)} min")
    if row.failed_in_a_row >= REPEATED_FAILED_APPLIES:
        reasons.append(f"{row.failed_in_a_row} failed applies in a row")
    return reasons


def funnel(cohort: Cohort) -> list[dict]:
    """Per check: how many students reached it, and how many pass it now."""
    ids = [s.pk for s in latest_sessions(cohort).values()]
    reached, passing = {}, {}
    for key, passed_at, passed in CheckResult.objects.filter(session_id__in=ids).values_list(
            "key", "passed_at", "passed"):
        if passed_at:
            reached[key] = reached.get(key, 0) + 1
        if passed:
            passing[key] = passing.get(key, 0) + 1
    total = cohort.students.count()
    started = len(ids)
    return [{"key": d["key"], "title": d["title"], "optional": d["optional"], "reached": reached.get(d["key"], 0),
             "passing": passing.get(d["key"], 0), "total": total,
             "percent": int(100 * reached.get(d["key"], 0) / total) if total else 0,
             "started": started} for d in columns(cohort)]
