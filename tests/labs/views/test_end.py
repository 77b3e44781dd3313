import pytest

from labs.models import LabSession
from tests.labs.helpers import make_session, tasks_queued

pytestmark = pytest.mark.django_db


def test_it_starts_the_cleanup(client, make_user, django_capture_on_commit_callbacks):
    user = make_user()
    session = make_session(user)
    client.force_login(user)
    with django_capture_on_commit_callbacks() as callbacks:
        r = client.post(f"/sessions/{session.id}/end/", HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    assert LabSession.objects.get(pk=session.pk).state == "ending"
    assert b"Ending" in r.content
    assert len(tasks_queued(callbacks)) == 1  # the cleanup task, queued once committed


def test_it_does_not_end_twice(client, make_user, django_capture_on_commit_callbacks):
    user = make_user()
    session = make_session(user)
    client.force_login(user)
    client.post(f"/sessions/{session.id}/end/")
    with django_capture_on_commit_callbacks() as callbacks:
        client.post(f"/sessions/{session.id}/end/")
    assert tasks_queued(callbacks) == []


def test_it_checks_owner(client, make_user):
    session = make_session(make_user("alice"))
    client.force_login(make_user("bob"))
    assert client.post(f"/sessions/{session.id}/end/").status_code == 404
    assert LabSession.objects.get(pk=session.pk).state == "ready"


def test_it_cleans_up_a_session_whose_provisioning_failed(client, make_user, django_capture_on_commit_callbacks):
    user = make_user()
    session = make_session(user, state="failed", error="The cluster cannot be reached")
    client.force_login(user)
    with django_capture_on_commit_callbacks() as callbacks:
        client.post(f"/sessions/{session.id}/end/", HTTP_HX_REQUEST="true")
    assert LabSession.objects.get(pk=session.pk).state == "ending"
    assert len(tasks_queued(callbacks)) == 1  # the cleanup task, queued once committed
