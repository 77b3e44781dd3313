"""Login throttling: an address that keeps failing is paused, with a clear message; it never lasts."""

import pytest
from axes.models import AccessAttempt

pytestmark = pytest.mark.django_db


def attempt(client, username, password, address="203.0.113.7"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def test_it_pauses_an_address_after_five_failures_and_says_why(client, make_user, settings):
    make_user("ana", password="pw-ana-12345")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        r = attempt(client, "ana", "wrong")
        assert r.status_code == 200 and b"do not match" in r.content
    r = attempt(client, "ana", "wrong")
    assert r.status_code == 429 and b"paused for 15 minutes" in r.content
    # Even the right password waits from that address...
    r = attempt(client, "ana", "pw-ana-12345")
    assert r.status_code == 429
    # ...but a stranger's failures never lock the student out from elsewhere.
    r = attempt(client, "ana", "pw-ana-12345", address="198.51.100.20")
    assert r.status_code == 302


def test_it_forgets_failures_after_a_success(client, make_user, settings):
    make_user("ben", password="pw-ben-12345")
    for _ in range(settings.AXES_FAILURE_LIMIT - 2):
        attempt(client, "ben", "wrong")
    assert attempt(client, "ben", "pw-ben-12345").status_code == 302
    assert not AccessAttempt.objects.filter(username="ben").exists()


def test_it_lets_the_address_in_again_after_the_pause(client, make_user, settings):
    import time

    make_user("cy", password="pw-cy-123456")
    # One second instead of a quarter of an hour: the failures fit in it because tests hash passwords
    # quickly (tests/settings.py), each attempt still checking one.
    settings.AXES_COOLOFF_TIME = 1 / 3600
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "cy", "wrong", address="203.0.113.9")
    assert attempt(client, "cy", "pw-cy-123456", address="203.0.113.9").status_code == 429
    time.sleep(1.5)
    assert attempt(client, "cy", "pw-cy-123456", address="203.0.113.9").status_code == 302
