import pytest

from labs.models import ManifestRevision
from tests.labs.helpers import make_session

pytestmark = pytest.mark.django_db


def test_it_shows_the_diff_with_the_previous_revision(client, make_user):
    user = make_user()
    session = make_session(user)
    ManifestRevision.objects.create(session=session, number=1, text="a: 1\nb: 2\n", status="applied")
    ManifestRevision.objects.create(session=session, number=2, text="a: 1\nb: 3\n", status="applied")
    client.force_login(user)
    r = client.get(f"/sessions/{session.id}/revisions/2/")
    assert r.status_code == 200
    body = r.content.decode()
    assert "-b: 2" in body and "+b: 3" in body


def test_it_gives_404_for_a_missing_revision(client, make_user):
    user = make_user()
    session = make_session(user)
    client.force_login(user)
    assert client.get(f"/sessions/{session.id}/revisions/9/").status_code == 404


def test_it_checks_owner(client, make_user):
    session = make_session(make_user("alice"))
    ManifestRevision.objects.create(session=session, number=1, text="secret: text\n")
    client.force_login(make_user("bob"))
    r = client.get(f"/sessions/{session.id}/revisions/1/")
    assert r.status_code == 404
