import json
import re

import pytest

from labs.models import LabSession
from tests.labs.helpers import make_session
from tests.manifests import DEPLOYMENT

pytestmark = pytest.mark.django_db

BAD = DEPLOYMENT.replace("  replicas: 3\n", "  replica: 3\n")  # an unknown field on line 6


def _problems(body: str) -> list:
    match = re.search(r"<script type=\"application/json\" data-problems>(.*?)</script>", body, re.S)
    return json.loads(match.group(1))


def test_it_names_the_field_and_line(client, make_user):
    user = make_user()
    session = make_session(user)
    client.force_login(user)
    r = client.post(f"/sessions/{session.id}/validate/", {"manifest": BAD})
    assert r.status_code == 200
    problems = _problems(r.content.decode())
    unknown = [p for p in problems if "replica" in p["message"]]
    assert unknown and unknown[0]["line"] == 6
    assert "line 6" in r.content.decode()


def test_it_keeps_the_text_as_draft(client, make_user):
    user = make_user()
    session = make_session(user)
    client.force_login(user)
    client.post(f"/sessions/{session.id}/validate/", {"manifest": BAD})
    assert LabSession.objects.get(pk=session.pk).draft == BAD


def test_it_explains_yaml_syntax_errors(client, make_user):
    user = make_user()
    session = make_session(user)
    client.force_login(user)
    r = client.post(f"/sessions/{session.id}/validate/", {"manifest": "kind: Service\n  metadata: [\n"})
    assert r.status_code == 200
    problems = _problems(r.content.decode())
    assert problems and problems[0]["line"] is not None


def test_it_checks_owner(client, make_user):
    session = make_session(make_user("alice"))
    client.force_login(make_user("bob"))
    r = client.post(f"/sessions/{session.id}/validate/", {"manifest": BAD})
    assert r.status_code == 404
    assert LabSession.objects.get(pk=session.pk).draft == ""


def test_it_explains_a_control_character_and_the_page_still_loads(client, make_user):
    user = make_user()
    session = make_session(user)
    client.force_login(user)
    r = client.post(f"/sessions/{session.id}/validate/", {"manifest": "kind: Service\x1b[0m\n"})
    assert r.status_code == 200
    assert "U+001B" in r.content.decode()
    assert client.get(f"/sessions/{session.id}/").status_code == 200


def test_it_does_not_keep_a_draft_far_beyond_the_lab_limit(client, make_user):
    user = make_user()
    session = make_session(user, draft="kept: 1\n")
    client.force_login(user)
    r = client.post(f"/sessions/{session.id}/validate/", {"manifest": "a: b\n" * 100_000})
    assert r.status_code == 200 and b"bytes long" in r.content
    assert LabSession.objects.get(pk=session.pk).draft == "kept: 1\n"
