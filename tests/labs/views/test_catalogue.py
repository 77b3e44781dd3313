import pytest

from tests.labs.helpers import make_session

pytestmark = pytest.mark.django_db


def test_it_requires_login(client):
    r = client.get("/")
    assert r.status_code == 302
    assert "/login/" in r["Location"]


def test_it_lists_the_loadbalancer_lab(client, make_user):
    client.force_login(make_user())
    r = client.get("/")
    assert r.status_code == 200
    assert b"Start lab" in r.content
    assert b"LoadBalancer" in r.content


def test_it_offers_to_resume_an_active_session(client, make_user):
    user = make_user()
    session = make_session(user)
    client.force_login(user)
    r = client.get("/")
    assert b"Resume lab" in r.content
    assert f"/sessions/{session.id}/".encode() in r.content


def test_it_lists_past_sessions_but_not_other_students(client, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    mine = make_session(alice, state="ended")
    theirs = make_session(bob, state="ended")
    client.force_login(alice)
    r = client.get("/")
    assert str(mine.id).encode() in r.content
    assert str(theirs.id).encode() not in r.content
