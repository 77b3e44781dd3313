from datetime import timedelta

import pytest
from django.utils import timezone

from labs.models import Cohort, HelpRequest, LabSession, Message
from tests.labs.helpers import make_session

pytestmark = pytest.mark.django_db


def test_it_joins_with_the_code(client, make_user):
    cohort = Cohort.objects.create(name="Class A")
    user = make_user()
    client.force_login(user)
    r = client.post("/join/", {"code": cohort.code.lower()})
    assert r["Location"] == "/" and cohort.students.filter(pk=user.pk).exists()


def test_it_names_the_field_of_a_wrong_code(client, make_user):
    client.force_login(make_user())
    r = client.post("/join/", {"code": "NOPE"}, follow=True)
    assert "Join code: no cohort has this code" in r.content.decode()


def test_it_joins_with_the_link(client, make_user):
    cohort = Cohort.objects.create(name="Class A")
    user = make_user()
    client.force_login(user)
    assert b"Join Class A" in client.get(f"/join/{cohort.join_token}/").content
    client.post(f"/join/{cohort.join_token}/")
    assert cohort.students.filter(pk=user.pk).exists()
    assert client.get("/join/not-a-token/").status_code == 404


def test_it_refuses_to_start_outside_the_window(client, make_user):
    cohort = Cohort.objects.create(name="Later", opens_at=timezone.now() + timedelta(hours=1))
    user = make_user()
    cohort.students.add(user)
    client.force_login(user)
    r = client.post("/labs/loadbalancer/start/", follow=True)
    assert "The lab of Later opens at" in r.content.decode()
    assert not LabSession.objects.exists()
    Cohort.objects.filter(pk=cohort.pk).update(opens_at=None, closes_at=timezone.now() - timedelta(minutes=1))
    r = client.post("/labs/loadbalancer/start/", follow=True)
    assert "The lab of Later closed at" in r.content.decode()


def test_it_starts_in_the_cohort_with_its_session_length(client, make_user, django_capture_on_commit_callbacks):
    cohort = Cohort.objects.create(name="Now", session_minutes=25)
    user = make_user()
    cohort.students.add(user)
    client.force_login(user)
    client.post("/labs/loadbalancer/start/")
    session = LabSession.objects.get()
    assert session.cohort == cohort
    assert abs((session.expires_at - timezone.now()).total_seconds() - 25 * 60) < 60


def test_it_raises_a_hand_once_with_the_current_diagnosis(client, make_user):
    user = make_user()
    cohort = Cohort.objects.create(name="C")
    cohort.students.add(user)
    session = make_session(user, cohort=cohort)
    client.force_login(user)
    r = client.post(f"/sessions/{session.id}/help/", {"question": "stuck on the IP"})
    assert "Your hand is raised" in r.content.decode()
    client.post(f"/sessions/{session.id}/help/", {"question": "again"})
    assert HelpRequest.objects.get().question == "stuck on the IP"


def test_it_names_the_field_of_a_long_question(client, make_user):
    user = make_user()
    Cohort.objects.create(name="C").students.add(user)
    session = make_session(user)
    client.force_login(user)
    r = client.post(f"/sessions/{session.id}/help/", {"question": "x" * 600})
    assert "Question: at most 500 characters." in r.content.decode()
    assert not HelpRequest.objects.exists()


def test_it_checks_owner_of_a_raised_hand(client, make_user):
    session = make_session(make_user("alice"))
    client.force_login(make_user("bob"))
    assert client.post(f"/sessions/{session.id}/help/").status_code == 404


def test_it_shows_messages_and_answers_on_the_lab_page(client, make_user):
    user, teacher = make_user(), make_user("teacher")
    cohort = Cohort.objects.create(name="C")
    cohort.students.add(user)
    session = make_session(user, cohort=cohort)
    Message.objects.create(cohort=cohort, sender=teacher, text="to all of you")
    Message.objects.create(cohort=cohort, sender=teacher, recipient=make_user("other"), text="not for alice")
    HelpRequest.objects.create(session=session, question="q", state="answered", answer="the answer",
                               answered_by=teacher, closed_at=timezone.now())
    client.force_login(user)
    body = client.get(f"/sessions/{session.id}/").content.decode()
    assert "to all of you" in body and "the answer" in body and "not for alice" not in body
    assert "Raise hand" in body
