import pytest

from labs.models import LabSession
from tests.labs.helpers import make_session

pytestmark = pytest.mark.django_db


def test_it_extends_once(client, make_user):
    user = make_user()
    session = make_session(user)
    before = session.expires_at
    client.force_login(user)
    r = client.post(f"/sessions/{session.id}/extend/", HTTP_HX_REQUEST="true")
    session.refresh_from_db()
    assert r.status_code == 200
    assert (session.expires_at - before).total_seconds() >= 29 * 60
    r = client.post(f"/sessions/{session.id}/extend/", HTTP_HX_REQUEST="true")
    assert b"already been extended" in r.content


def test_it_checks_owner(client, make_user):
    session = make_session(make_user("alice"))
    client.force_login(make_user("bob"))
    assert client.post(f"/sessions/{session.id}/extend/").status_code == 404
    assert not LabSession.objects.get(pk=session.pk).extended
