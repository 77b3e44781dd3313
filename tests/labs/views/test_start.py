import pytest

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
