import pytest
from django.urls import reverse

from labs.models import LabSession
from tests.labs.helpers import tasks_queued

pytestmark = pytest.mark.django_db


def test_it_creates_a_session_and_redirects_to_it(client, make_user, django_capture_on_commit_callbacks):
    client.force_login(make_user())
    with django_capture_on_commit_callbacks() as callbacks:
        r = client.post("/labs/loadbalancer/start/")
    session = LabSession.objects.get()
    assert r.status_code == 302
    assert r["Location"] == f"/sessions/{session.id}/"
    assert session.state == "provisioning"
    assert session.namespace.startswith("lab-alice-")
    assert tasks_queued(callbacks) == ["start_session"]  # the provisioning task is enqueued after commit


def test_it_returns_the_active_session_on_a_second_start(client, make_user):
    client.force_login(make_user())
    first = client.post("/labs/loadbalancer/start/")
    second = client.post("/labs/loadbalancer/start/")
    assert first["Location"] == second["Location"]
    assert LabSession.objects.count() == 1


def test_it_refuses_get(client, make_user):
    client.force_login(make_user())
    assert client.get("/labs/loadbalancer/start/").status_code == 405


def test_it_gives_404_for_an_unknown_lab(client, make_user):
    client.force_login(make_user())
    assert client.post("/labs/no-such-lab/start/").status_code == 404


def test_a_start_that_finds_the_database_busy_says_so_and_saves_nothing(client, make_user):
    """A whole class pressing Start at once can keep SQLite busy past its timeout: the student is told to
    press again (no error page), and no half-started session is left behind."""
    from unittest import mock

    from django.db import OperationalError

    client.force_login(make_user())
    with mock.patch.object(LabSession, "record", side_effect=OperationalError("database is locked")):
        r = client.post("/labs/loadbalancer/start/", follow=True)
    assert r.status_code == 200 and r.redirect_chain[-1][0] == reverse("labs:catalogue")
    assert "too many labs are starting at this moment, nothing was started" in r.content.decode()
    assert not LabSession.objects.exists()
    assert client.post("/labs/loadbalancer/start/").status_code == 302  # pressing again works
    assert LabSession.objects.count() == 1
