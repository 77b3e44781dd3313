from datetime import timedelta

import pytest
from django.utils import timezone

from labs.models import CheckResult, ManifestRevision
from teaching.grid import build_rows, funnel
from teaching.models import DiagnosisTrack
from teaching.publish import on_checklist_evaluated
from tests.teaching.helpers import cohort_session, make_cohort

pytestmark = pytest.mark.django_db


class Diag:
    def __init__(self, code, title="t"):
        self.code, self.title = code, title


def test_it_finds_the_current_step_and_progress(make_user):
    cohort, _t, (alice, bob) = make_cohort(make_user)
    session = cohort_session(cohort, alice, ready_at=timezone.now() - timedelta(minutes=3))
    for key in ("deployment-ready", "service-selects-pods"):
        CheckResult.objects.create(session=session, key=key, passed=True, passed_at=timezone.now(),
                                   detail={"state": "passed"})
    rows = {r.student.username: r for r in build_rows(cohort)}
    assert rows["alice"].step == "Get the external IP and open it"
    assert rows["alice"].minutes_on_step == 0 and rows["alice"].stuck == []
    assert rows["bob"].session is None
    reached = {f["key"]: f["reached"] for f in funnel(cohort)}
    assert reached["deployment-ready"] == 1 and reached["external-ip"] == 0


def test_it_shows_a_student_without_progress_as_stuck(make_user):
    cohort, _t, (alice, _bob) = make_cohort(make_user, stuck_minutes=5)
    cohort_session(cohort, alice, ready_at=timezone.now() - timedelta(minutes=12))
    (row, _) = build_rows(cohort)
    assert row.stuck == ["no progress for 12 min"]


def test_it_shows_repeated_failed_applies_as_stuck(make_user):
    cohort, _t, (alice, _bob) = make_cohort(make_user)
    session = cohort_session(cohort, alice, ready_at=timezone.now())
    for n, status in ((1, "applied"), (2, "failed"), (3, "failed")):
        ManifestRevision.objects.create(session=session, number=n, text="x", status=status)
    row = build_rows(cohort)[0]
    assert row.failed_in_a_row == 2 and "2 failed applies in a row" in row.stuck
    assert row.last_applied.number == 1


def test_it_counts_how_often_the_same_diagnosis_comes_back(make_user):
    cohort, _t, (alice, _bob) = make_cohort(make_user)
    session = cohort_session(cohort, alice, ready_at=timezone.now())
    for diagnoses in ([Diag("selector-mismatch", "Selector")], [], [Diag("selector-mismatch", "Selector")], [],
                      [Diag("selector-mismatch", "Selector")]):
        on_checklist_evaluated(None, session=session, statuses=[], diagnoses=diagnoses)
    track = DiagnosisTrack.objects.get(session=session)
    assert track.shown == {"selector-mismatch": 3} and track.title == "Selector"
    row = build_rows(cohort)[0]
    assert row.diagnosis == "Selector" and "same diagnosis 3 times" in row.stuck
