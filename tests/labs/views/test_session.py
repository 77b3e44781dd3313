import pytest

from labs.models import LabSession
from tests.labs.helpers import make_instructed_session, make_session

pytestmark = pytest.mark.django_db


def test_it_shows_the_lab_page(client, make_user):
    user = make_user()
    session = make_session(user)
    client.force_login(user)
    r = client.get(f"/sessions/{session.id}/")
    assert r.status_code == 200
    body = r.content.decode()
    assert f'ws-connect="/ws/sessions/{session.id}/"' in body
    assert "data-yaml-editor" in body
    assert 'id="yaml-examples"' in body
    assert session.namespace in body


def test_it_checks_owner(client, make_user):
    session = make_session(make_user("alice"))
    client.force_login(make_user("bob"))
    assert client.get(f"/sessions/{session.id}/").status_code == 404


def test_it_lets_the_cohort_instructor_see_it(client, make_user):
    session, teacher = make_instructed_session(make_user)
    LabSession.objects.filter(pk=session.pk).update(draft="kind: Service # the student's text\n")
    client.force_login(teacher)
    r = client.get(f"/sessions/{session.id}/")
    assert r.status_code == 200
    body = r.content.decode()
    # Read-only: the student's text, no editor, and none of the student's controls.
    assert "the student&#x27;s text" in body and "data-yaml-editor" not in body
    for control in ("End lab", "Extend", "dns-form", "manifest-form", "editor/editor.js"):
        assert control not in body, control


def test_it_restores_the_draft_text(client, make_user):
    user = make_user()
    session = make_session(user, draft="apiVersion: v1\nkind: Service\nmetadata:\n  name: kept-draft\n")
    client.force_login(user)
    r = client.get(f"/sessions/{session.id}/")
    assert b"kept-draft" in r.content


def test_it_gives_404_for_a_malformed_id(client, make_user):
    client.force_login(make_user())
    assert client.get("/sessions/not-a-uuid/").status_code == 404


def test_it_keeps_an_ended_session_readable(client, make_user):
    from labs.models import ManifestRevision

    user = make_user()
    session = make_session(user, state="ended", end_reason="time is up")
    ManifestRevision.objects.create(session=session, number=1, text="kind: Service\n", status="applied",
                                    message="Applied: Service lb-test-svc created")
    client.force_login(user)
    r = client.get(f"/sessions/{session.id}/")
    assert r.status_code == 200
    body = r.content.decode()
    assert "Ended" in body and "time is up" in body
    assert "Revision 1" in body


@pytest.mark.parametrize("state", ["ending", "ended", "failed"])
def test_it_shows_a_lab_that_no_longer_runs_read_only(client, make_user, dns_settings, state):
    user = make_user()
    session = make_session(user, state=state, draft="kind: Service # kept\n")
    client.force_login(user)
    r = client.get(f"/sessions/{session.id}/")
    body = r.content.decode()
    assert r.context["read_only"] is True and r.context["watching"] is False
    assert 'data-testid="read-only-text"' in body and "kind: Service # kept" in body
    for control in ("data-yaml-editor", "manifest-form\" class", ">Apply</button>", "dns-form", "Insert Deployment",
                    "Extend", "editor/editor.js", "Watching"):
        assert control not in body, control
    assert 'data-ended="true"' in body
    assert ("This lab is ending" if state == "ending" else "This lab has ended") in body
    assert "what it shows can no longer be changed." in body


@pytest.mark.parametrize("state", ["provisioning", "ready"])
def test_it_lets_the_student_edit_a_running_lab(client, make_user, dns_settings, state):
    user = make_user()
    session = make_session(user, state=state)
    client.force_login(user)
    r = client.get(f"/sessions/{session.id}/")
    body = r.content.decode()
    assert r.context["read_only"] is False
    assert "data-yaml-editor" in body and ">Apply</button>" in body and 'data-ended="true"' not in body
    assert "dns-form" in body and "End lab" in body
