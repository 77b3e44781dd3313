from datetime import timedelta

import pytest
from django.utils import timezone

from labs.lifecycle import expire_sessions
from labs.models import LabSession
from tests.labs.helpers import make_session

pytestmark = pytest.mark.django_db


def test_it_ends_expired_sessions(make_user, django_capture_on_commit_callbacks):
    session = make_session(make_user(), expires_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks() as callbacks:
        expire_sessions.run()
    session.refresh_from_db()
    assert session.state == "ending"
    assert session.end_reason == "time is up"
    # Once committed: the cleanup task is queued once (the other callbacks give the session a new version).
    assert [c.__qualname__ for c in callbacks].count("end_session.<locals>.<lambda>") == 1


def test_it_warns_before_the_end(make_user):
    session = make_session(make_user(), expires_at=timezone.now() + timedelta(minutes=2))
    expire_sessions.run()
    session.refresh_from_db()
    assert session.warned and session.state == "ready"
    assert session.log.filter(kind="warning").exists()


def test_it_leaves_running_sessions_alone(make_user):
    session = make_session(make_user())
    expire_sessions.run()
    session.refresh_from_db()
    assert session.state == "ready" and not session.warned


def test_it_extends_only_once_and_resets_the_warning(make_user):
    from labs.lifecycle import extend_session

    session = make_session(make_user(), expires_at=timezone.now() + timedelta(minutes=2), warned=True)
    assert extend_session(session) is None
    assert not LabSession.objects.get(pk=session.pk).warned
    assert "already" in extend_session(session)


def test_an_extension_wins_over_an_expiry_decided_just_before(make_user):
    from labs.lifecycle import end_session

    now = timezone.now()
    session = make_session(make_user(), expires_at=now - timedelta(seconds=1))
    LabSession.objects.filter(pk=session.pk).update(expires_at=now + timedelta(minutes=30), extended=True)
    assert end_session(session, reason="time is up", expired_before=now) is False
    assert LabSession.objects.get(pk=session.pk).state == "ready"


def test_a_removed_lab_does_not_stop_the_expiry_of_other_sessions(make_user, django_capture_on_commit_callbacks):
    gone = make_session(make_user("alice"), expires_at=timezone.now() + timedelta(minutes=1))
    LabSession.objects.filter(pk=gone.pk).update(lab_slug="removed-lab")
    expired = make_session(make_user("bob"), expires_at=timezone.now() - timedelta(seconds=1))
    expire_sessions.run()
    assert LabSession.objects.get(pk=gone.pk).warned
    assert LabSession.objects.get(pk=expired.pk).state == "ending"
