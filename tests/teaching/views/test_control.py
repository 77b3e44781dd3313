import pytest

from teaching.models import Action
from tests.teaching.helpers import cohort_session, make_cohort, other_instructor

pytestmark = pytest.mark.django_db


@pytest.fixture
def running(make_user):
    cohort, teacher, (alice, _bob) = make_cohort(make_user)
    return cohort, teacher, cohort_session(cohort, alice)


def test_it_queues_an_extension_and_records_it(client, running, django_capture_on_commit_callbacks):
    cohort, teacher, session = running
    client.force_login(teacher)
    with django_capture_on_commit_callbacks() as callbacks:
        r = client.post(f"/teaching/cohorts/{cohort.pk}/sessions/{session.id}/extend/", {"minutes": "20"},
                        HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and "Extend session" in r.content.decode()
    action = Action.objects.get(kind="extend")
    assert action.actor == teacher and action.student == session.user and action.status == "queued"
    assert len(callbacks) == 1


def test_it_names_the_field_of_bad_minutes(client, running):
    cohort, teacher, session = running
    client.force_login(teacher)
    r = client.post(f"/teaching/cohorts/{cohort.pk}/sessions/{session.id}/extend/", {"minutes": "-3"},
                    HTTP_HX_REQUEST="true")
    assert "Minutes: a whole number" in r.content.decode()
    r = client.post(f"/teaching/cohorts/{cohort.pk}/sessions/{session.id}/explode/", HTTP_HX_REQUEST="true")
    assert "Action: one of" in r.content.decode()
    assert not Action.objects.exists()


def test_it_checks_owner(client, running, make_user):
    cohort, _teacher, session = running
    client.force_login(other_instructor(make_user))
    for kind in ("extend", "reset", "end"):
        assert client.post(f"/teaching/cohorts/{cohort.pk}/sessions/{session.id}/{kind}/").status_code == 404
    assert client.post(f"/teaching/cohorts/{cohort.pk}/end-all/").status_code == 404
    client.force_login(session.user)
    assert client.post(f"/teaching/cohorts/{cohort.pk}/sessions/{session.id}/end/").status_code == 404
    assert not Action.objects.exists()


def test_it_refuses_a_session_of_another_cohort(client, running, make_user):
    cohort, teacher, _session = running
    other_cohort, _t, (carol,) = make_cohort(make_user, name="B", students=("carol",), teacher="t2")
    stranger = cohort_session(other_cohort, carol)
    client.force_login(teacher)
    assert client.post(f"/teaching/cohorts/{cohort.pk}/sessions/{stranger.id}/end/").status_code == 404


def test_it_runs_the_actions(running, make_user):
    from teaching import actions

    cohort, teacher, session = running
    before = session.expires_at
    action = actions.record(teacher, Action.Kind.EXTEND, cohort, session, status=Action.Status.QUEUED)
    actions.run_action(action.pk, minutes=30)
    action.refresh_from_db()
    session.refresh_from_db()
    assert action.status == "done" and (session.expires_at - before).total_seconds() >= 30 * 60 - 1
    action = actions.record(teacher, Action.Kind.END_ALL, cohort, status=Action.Status.QUEUED)
    actions.run_action(action.pk)
    action.refresh_from_db()
    session.refresh_from_db()
    assert action.status == "done" and session.state == "ending"
    assert "1 session" in action.progress
