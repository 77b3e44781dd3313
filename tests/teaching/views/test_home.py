import pytest

from labs.models import Cohort
from tests.teaching.helpers import make_cohort

pytestmark = pytest.mark.django_db


def test_it_lands_an_instructor_on_their_cohorts(client, make_user):
    cohort, teacher, _ = make_cohort(make_user)
    Cohort.objects.create(name="not mine")
    client.force_login(teacher)
    assert client.get("/home/")["Location"] == "/teaching/"
    body = client.get("/teaching/").content.decode()
    assert cohort.name in body and "not mine" not in body


def test_it_lands_a_student_on_the_catalogue(client, make_user):
    _cohort, _teacher, (alice, _bob) = make_cohort(make_user)
    client.force_login(alice)
    assert client.get("/home/")["Location"] == "/"


def test_it_creates_a_cohort_with_a_join_code(client, make_user):
    _cohort, teacher, _ = make_cohort(make_user)
    client.force_login(teacher)
    r = client.post("/teaching/cohorts/new/", {"name": "Tuesday", "lab_slug": "loadbalancer", "stuck_minutes": "7",
                                               "session_minutes": "45", "opens_at": "2030-01-01T09:00",
                                               "closes_at": "2030-01-01T12:00"})
    cohort = Cohort.objects.get(name="Tuesday")
    assert r.status_code == 302 and r["Location"] == f"/teaching/cohorts/{cohort.pk}/"
    assert len(cohort.code) == 6 and cohort.join_token
    assert cohort.instructors.filter(pk=teacher.pk).exists()
    assert cohort.session_minutes == 45 and cohort.stuck_minutes == 7
    assert cohort.actions.get().kind == "create_cohort"


def test_it_names_the_field_of_bad_input(client, make_user):
    _cohort, teacher, _ = make_cohort(make_user)
    client.force_login(teacher)
    r = client.post("/teaching/cohorts/new/", {"name": "Bad", "lab_slug": "loadbalancer", "stuck_minutes": "x",
                                               "opens_at": "2030-01-01T12:00", "closes_at": "2030-01-01T09:00"})
    assert r.status_code == 200
    body = r.content.decode()
    assert "Stuck after (minutes without progress): " in body
    assert "Closes at: must be after the opening time." in body


def test_it_refuses_a_student_creating_a_cohort(client, make_user):
    _cohort, _teacher, (alice, _bob) = make_cohort(make_user)
    client.force_login(alice)
    assert client.post("/teaching/cohorts/new/", {"name": "x"}).status_code == 404


def test_it_checks_owner_of_the_settings(client, make_user):
    cohort, _teacher, _ = make_cohort(make_user)
    from tests.teaching.helpers import other_instructor

    client.force_login(other_instructor(make_user))
    assert client.get(f"/teaching/cohorts/{cohort.pk}/edit/").status_code == 404
