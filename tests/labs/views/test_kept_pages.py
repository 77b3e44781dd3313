"""The lab page is drawn once and kept while nothing it shows changed: a reload is answered from what was
kept, yet it shows every change, its reader's own view, and carries its own CSRF token and CSP nonce."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from labs.models import Cohort
from tests.labs.helpers import make_session
from tests.labs.live import test_resync_cache as parts
from tests.labs.live.test_resync_cache import student  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


def load(client, session):
    r = client.get(f"/sessions/{session.id}/")
    assert r.status_code == 200
    return r


def how(response) -> str:
    """Whether the page was kept or drawn, as its Server-Timing header says."""
    return re.search(r'page;desc="(\w+)";dur=[0-9.]+', response["Server-Timing"]).group(1)


def csrf_token(body: str) -> str:
    return re.search(r'"X-CSRFToken": "([^"]+)"', body).group(1)


def page_nonce(body: str) -> str:
    return re.search(r'<meta property="csp-nonce" nonce="([^"]+)"', body).group(1)


def without_token_and_nonce(body: str) -> str:
    body = body.replace(page_nonce(body), "NONCE")
    return re.sub(r'(value=|"X-CSRFToken": )"[^"]{64}"', r'\1"TOKEN"', body)


def test_a_reload_is_answered_from_what_was_kept(client, student, django_assert_max_num_queries):
    client.force_login(student.user)
    first = load(client, student)
    assert how(first) == "drawn"
    # The request's own (its session, the user, the menu's permissions), the lab session and its newest
    # history line: nothing drawn.
    with django_assert_max_num_queries(6):
        again = load(client, student)
    assert how(again) == "kept"
    assert without_token_and_nonce(again.content.decode()) == without_token_and_nonce(first.content.decode())
    assert 'id="pod-web-1"' in again.content.decode()


def test_each_answer_carries_its_own_token_and_nonce(student):
    client = Client(enforce_csrf_checks=True)
    client.force_login(student.user)
    load(client, student)
    kept = load(client, student)
    assert how(kept) == "kept"
    body = kept.content.decode()
    nonce = page_nonce(body)
    assert f"'nonce-{nonce}'" in kept["Content-Security-Policy"]
    assert nonce != page_nonce(load(client, student).content.decode())
    assert not re.search(r"(csrf|nonce)[0-9a-f]{32}", body)  # no marker left behind
    # The kept page's token is this browser's: the editor's Check is accepted, not refused as forged.
    r = client.post(reverse("labs:validate", args=[student.id]), {"manifest": "kind: Service\n"},
                    HTTP_X_CSRFTOKEN=csrf_token(body), HTTP_HX_REQUEST="true")
    assert r.status_code == 200


def history_entry(session):
    session.record("action", "Deployment lb-test paused")
    return "Deployment lb-test paused"


def new_draft(session):
    type(session).objects.filter(pk=session.pk).update(draft="kind: Service  # my own text\n")
    return "# my own text"


@pytest.mark.parametrize("change", [
    parts.new_progress, parts.new_revision, parts.check_reached, parts.dns_record, parts.dns_form_error,
    parts.cloud_balancer, parts.raised_hand, parts.message_to_the_cohort, parts.joined_another_cohort,
    parts.new_pod, parts.new_node, parts.lab_extended, history_entry, new_draft,
], ids=lambda change: change.__name__)
def test_it_shows_a_change_of_each_part(client, student, change):
    client.force_login(student.user)
    load(client, student)
    assert how(load(client, student)) == "kept"
    shown = change(student)
    after = load(client, student)
    assert shown in after.content.decode() and how(after) == "drawn"


def test_it_keeps_each_readers_page_apart(client, student, make_user):
    teacher = make_user("teacher")
    student.user.cohorts.get().instructors.add(teacher)
    end_button = f'hx-post="{reverse("labs:end", args=[student.id])}"'
    client.force_login(student.user)
    own = load(client, student).content.decode()
    client.force_login(teacher)
    load(client, teacher_view := student)
    watched = load(client, teacher_view)
    assert how(watched) == "kept"
    watched = watched.content.decode()
    assert end_button in own and '<span class="who">alice</span>' in own
    assert end_button not in watched and "Watching alice" in watched and '<span class="who">teacher</span>' in watched
    client.force_login(student.user)
    again = load(client, student)
    assert how(again) == "kept" and end_button in again.content.decode()


def test_it_never_answers_a_session_with_the_page_of_another(client, student, make_user):
    other = make_session(make_user("bob"), cluster=student.cluster)
    client.force_login(student.user)
    load(client, student)
    client.force_login(other.user)
    theirs = load(client, other).content.decode()
    assert other.namespace in theirs and student.namespace not in theirs and 'id="pod-web-1"' not in theirs


def test_a_page_with_a_message_to_show_shows_it_once(client, student):
    Cohort.objects.create(name="d", code="JOINME")
    client.force_login(student.user)
    load(client, student)
    client.post(reverse("labs:join"), {"code": "JOINME"})
    with_message = load(client, student)
    assert "You joined d." in with_message.content.decode() and how(with_message) == "drawn"
    after = load(client, student)
    assert "You joined d." not in after.content.decode()


def test_it_draws_the_page_without_redis(client, student, settings):
    client.force_login(student.user)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    r = load(client, student)
    assert how(r) == "drawn" and 'id="session-status"' in r.content.decode()
