import csv
import io

import pytest

from labs.models import CheckResult, HelpRequest, ManifestRevision
from tests.teaching.helpers import cohort_session, make_cohort, other_instructor

pytestmark = pytest.mark.django_db


def test_it_exports_progress_per_student_and_check(client, make_user):
    cohort, teacher, (alice, bob) = make_cohort(make_user)
    session = cohort_session(cohort, alice)
    CheckResult.objects.create(session=session, key="deployment-ready", passed=True, passed_at=session.created,
                               detail={"state": "passed"})
    ManifestRevision.objects.create(session=session, number=1, text="x", status="applied")
    ManifestRevision.objects.create(session=session, number=2, text="y", status="failed")
    HelpRequest.objects.create(session=session)
    client.force_login(teacher)
    r = client.get(f"/teaching/cohorts/{cohort.pk}/export.csv")
    assert r["Content-Type"].startswith("text/csv") and "attachment" in r["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(r.content.decode())))
    by = {row["student"]: row for row in rows}
    assert by["alice"]["deployment-ready"] == session.created.isoformat(timespec="seconds")
    assert by["alice"]["applies"] == "2" and by["alice"]["help requests"] == "1"
    assert by["bob"]["session state"] == "not started"


def test_it_checks_owner(client, make_user):
    cohort, _teacher, _ = make_cohort(make_user)
    client.force_login(other_instructor(make_user))
    assert client.get(f"/teaching/cohorts/{cohort.pk}/export.csv").status_code == 404
