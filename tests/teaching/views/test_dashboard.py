import pytest

from labs.models import CheckResult
from tests.teaching.helpers import cohort_session, make_cohort, other_instructor

pytestmark = pytest.mark.django_db


def test_it_shows_the_grid_with_a_row_per_student(client, make_user):
    cohort, teacher, (alice, bob) = make_cohort(make_user)
    session = cohort_session(cohort, alice)
    CheckResult.objects.create(session=session, key="deployment-ready", passed=True,
                               passed_at=session.created, detail={"state": "passed"})
    client.force_login(teacher)
    r = client.get(f"/teaching/cohorts/{cohort.pk}/")
    assert r.status_code == 200
    body = r.content.decode()
    assert f'ws-connect="/ws/teaching/cohorts/{cohort.pk}/"' in body
    assert f'id="student-{alice.pk}"' in body and f'id="student-{bob.pk}"' in body
    assert 'data-check="deployment-ready" data-state="passed"' in body
    assert cohort.code in body and cohort.join_token in body
    assert 'data-reached="1"' in body  # the funnel


def test_it_checks_owner(client, make_user):
    cohort, _teacher, _ = make_cohort(make_user)
    client.force_login(other_instructor(make_user))
    assert client.get(f"/teaching/cohorts/{cohort.pk}/").status_code == 404


def test_it_refuses_a_student(client, make_user):
    cohort, _teacher, (alice, _bob) = make_cohort(make_user)
    client.force_login(alice)
    assert client.get(f"/teaching/cohorts/{cohort.pk}/").status_code == 404
    assert client.get("/teaching/").status_code == 404


def test_it_marks_a_regressed_check(client, make_user):
    cohort, teacher, (alice, _bob) = make_cohort(make_user)
    session = cohort_session(cohort, alice)
    CheckResult.objects.create(session=session, key="external-ip", passed=False, passed_at=session.created,
                               detail={"state": "failing"})
    client.force_login(teacher)
    body = client.get(f"/teaching/cohorts/{cohort.pk}/").content.decode()
    assert "was reached at" in body and "not any more" in body
