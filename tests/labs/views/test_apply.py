import pytest

from labs.content_loader import load_lab
from labs.models import ManifestRevision
from tests.labs.helpers import make_session

pytestmark = pytest.mark.django_db


def _good_text():
    lab = load_lab("loadbalancer")
    return lab.example("Deployment") + "---\n" + lab.example("Service")


def test_it_creates_a_revision_and_enqueues_the_apply(client, make_user, django_capture_on_commit_callbacks):
    user = make_user()
    session = make_session(user)
    client.force_login(user)
    with django_capture_on_commit_callbacks() as callbacks:
        r = client.post(f"/sessions/{session.id}/apply/", {"manifest": _good_text(), "action": "apply"})
    assert r.status_code == 200
    revision = ManifestRevision.objects.get()
    assert revision.number == 1 and revision.status == "applying"
    assert b"revision 1 started" in r.content
    # Once committed: the apply is enqueued once (the other callbacks give the session a new version).
    assert [c.__qualname__ for c in callbacks].count("submit_revision.<locals>.<lambda>") == 1


def test_it_applies_nothing_when_invalid(client, make_user):
    user = make_user()
    session = make_session(user)
    client.force_login(user)
    r = client.post(f"/sessions/{session.id}/apply/", {"manifest": "kind: Nonsense\n", "action": "apply"})
    assert r.status_code == 200
    assert b"nothing was applied" in r.content
    assert not ManifestRevision.objects.exists()


def test_it_refuses_when_the_lab_is_not_running(client, make_user):
    user = make_user()
    session = make_session(user, state="provisioning")
    client.force_login(user)
    r = client.post(f"/sessions/{session.id}/apply/", {"manifest": _good_text(), "action": "apply"})
    assert b"still being prepared" in r.content
    assert not ManifestRevision.objects.exists()


def test_it_numbers_revisions(client, make_user):
    user = make_user()
    session = make_session(user)
    client.force_login(user)
    for _ in range(2):
        client.post(f"/sessions/{session.id}/apply/", {"manifest": _good_text(), "action": "dry-run"})
        session.revisions.update(status="draft")  # the worker finished it
    assert sorted(session.revisions.values_list("number", flat=True)) == [1, 2]


def test_it_waits_for_the_revision_being_applied(client, make_user):
    user = make_user()
    session = make_session(user)
    client.force_login(user)
    client.post(f"/sessions/{session.id}/apply/", {"manifest": _good_text(), "action": "apply"})
    r = client.post(f"/sessions/{session.id}/apply/", {"manifest": _good_text(), "action": "apply"})
    assert b"Revision 1 is still being applied" in r.content
    assert session.revisions.count() == 1


def test_it_checks_owner(client, make_user):
    session = make_session(make_user("alice"))
    client.force_login(make_user("bob"))
    r = client.post(f"/sessions/{session.id}/apply/", {"manifest": _good_text(), "action": "apply"})
    assert r.status_code == 404
    assert not ManifestRevision.objects.exists()


def test_it_applies_nothing_with_an_invalid_name_and_says_the_rule(client, make_user):
    user = make_user()
    session = make_session(user)
    client.force_login(user)
    text = _good_text().replace("name: lb-test-svc", "name: LB_Service")
    r = client.post(f"/sessions/{session.id}/apply/", {"manifest": text, "action": "apply"})
    assert b"nothing was applied" in r.content
    assert b"DNS-1035 label" in r.content
    assert not ManifestRevision.objects.exists()


def test_it_applies_nothing_when_the_text_is_not_utf8(client, make_user):
    user = make_user()
    session = make_session(user)
    client.force_login(user)
    r = client.post(f"/sessions/{session.id}/apply/", data=b"action=apply&manifest=kind%3A+%FF",
                    content_type="application/x-www-form-urlencoded")
    assert b"nothing was applied" in r.content
    assert b"not UTF-8" in r.content and b"0xFF" in r.content and b"byte offset 6" in r.content
    assert not ManifestRevision.objects.exists()
