"""Starting a lab: the session, its history and its provisioning task go together."""

from unittest import mock

import pytest
from django.db import OperationalError

from labs.lifecycle import start_session
from labs.models import LabSession
from tests.labs.helpers import tasks_queued

pytestmark = pytest.mark.django_db


def test_a_start_that_fails_midway_can_be_pressed_again(make_user, django_capture_on_commit_callbacks):
    student = make_user()
    # The database gives up in the middle of the start (a busy SQLite file under a class start).
    with mock.patch.object(LabSession, "record", side_effect=OperationalError("database is locked")), \
            django_capture_on_commit_callbacks() as callbacks, pytest.raises(OperationalError):
        start_session(student, "loadbalancer")
    assert not LabSession.objects.exists() and not tasks_queued(callbacks)  # nothing left waiting for a worker forever

    with django_capture_on_commit_callbacks() as callbacks:
        session, created = start_session(student, "loadbalancer")
    assert created and session.state == "provisioning"
    assert tasks_queued(callbacks) == ["start_session"]  # its provisioning task, queued once committed
    assert session.log.filter(kind="start").exists()
