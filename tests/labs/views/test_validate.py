import json
import re

import pytest

from labs.models import LabSession
from tests.labs.helpers import make_session
from tests.manifests import DEPLOYMENT, SERVICE, both

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


def _post_raw(client, session, body: bytes, what="validate"):
    return client.post(f"/sessions/{session.id}/{what}/", data=body, content_type="application/x-www-form-urlencoded")


def test_it_names_text_that_is_not_utf8_and_where(client, make_user):
    user = make_user()
    session = make_session(user, draft="kept: 1\n")
    client.force_login(user)
    # "café" written in Latin-1: the é is the single byte 0xE9.
    r = _post_raw(client, session, b"manifest=kind%3A+Service%0Ametadata%3A%0A++name%3A+caf%E9%0A")
    assert r.status_code == 200
    [p] = _problems(r.content.decode())
    assert p["code"] == "not-utf8"
    assert (p["line"], p["column"]) == (3, 12)
    assert "not UTF-8" in p["message"] and "0xE9" in p["message"] and "byte offset 35" in p["message"]
    assert "UTF-8" in p["hint"]
    assert LabSession.objects.get(pk=session.pk).draft == "kept: 1\n"


def test_it_reads_utf8_text_as_sent(client, make_user):
    user = make_user()
    session = make_session(user)
    client.force_login(user)
    r = _post_raw(client, session, b"manifest=" + "# café\n".encode().replace(b"\n", b"%0A").replace(b" ", b"+")
                  + b"&x=1")
    assert r.status_code == 200 and _problems(r.content.decode()) == []
    assert LabSession.objects.get(pk=session.pk).draft == "# café\n"


def test_it_counts_the_size_in_bytes_of_utf8(client, make_user):
    user = make_user()
    session = make_session(user)
    client.force_login(user)
    text = "# " + "é" * 15_000 + "\n"  # 15,003 characters, 30,003 bytes: over the lab's 20,000 bytes
    r = client.post(f"/sessions/{session.id}/validate/", {"manifest": text})
    [p] = _problems(r.content.decode())
    assert p["code"] == "too-large"
    assert p["message"].startswith("The text is 30,003 bytes long (15,003 characters")
    assert "at most 20,000 bytes" in p["message"]


def test_it_refuses_a_request_over_the_upload_limit_before_the_view(client, make_user, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    user = make_user()
    session = make_session(user, draft="kept: 1\n")
    client.force_login(user)
    r = client.post(f"/sessions/{session.id}/validate/", {"manifest": "a: b\n" * 1000})
    assert r.status_code == 400  # the page says why (session.html, htmx:responseError)
    assert LabSession.objects.get(pk=session.pk).draft == "kept: 1\n"


def test_it_gives_the_page_the_limits_it_names_when_a_request_is_refused(client, make_user, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
    user = make_user()
    session = make_session(user)
    client.force_login(user)
    body = client.get(f"/sessions/{session.id}/").content.decode()
    assert 'data-max-bytes="20000"' in body and 'data-upload-limit="2621440"' in body
    assert 'id="request-error"' in body and "js/workspace.js" in body
    # The page's script says why a refused request was not checked (htmx drops answers that are not 2xx).
    script = (settings.BASE_DIR / "static" / "js" / "workspace.js").read_text()
    assert "htmx:responseError" in script and "request-error" in script


def test_it_refuses_a_protocol_in_lower_case(client, make_user):
    user = make_user()
    session = make_session(user)
    client.force_login(user)
    text = both(service=SERVICE.replace("protocol: TCP", "protocol: tcp"))
    problems = _problems(client.post(f"/sessions/{session.id}/validate/", {"manifest": text}).content.decode())
    assert [(p["code"], p["line"], p["field"]) for p in problems] == [("port-protocol", 30, "spec.ports[0].protocol")]
