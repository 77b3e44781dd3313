"""Submitting revisions at the same time (two tabs, a double click): one applies, numbers never repeat."""

import threading
from unittest import mock

import pytest
from django.db import connection

from labs.models import ManifestRevision
from labs.revisions.submit import StillApplying, submit_revision
from tests.labs.helpers import make_session

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_starts_one_apply_when_two_arrive_together(make_user):
    session = make_session(make_user("twotabs"))
    start, outcomes = threading.Barrier(4), []

    def submit():
        try:
            start.wait(5)
            outcomes.append(submit_revision(session, "kind: x", dry_run=False).number)
        except StillApplying as busy:
            outcomes.append(f"busy:{busy.number}")
        finally:
            connection.close()

    with mock.patch("labs.revisions.submit.apply_revision.delay"):
        threads = [threading.Thread(target=submit) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    numbers = [o for o in outcomes if isinstance(o, int)]
    assert numbers == [1] and sorted(outcomes, key=str)[1:] == ["busy:1"] * 3
    assert list(ManifestRevision.objects.filter(session=session).values_list("number", flat=True)) == [1]


def test_it_numbers_revisions_one_after_the_other(make_user):
    session = make_session(make_user("serial"))
    with mock.patch("labs.revisions.submit.apply_revision.delay"):
        for expected in (1, 2, 3):
            revision = submit_revision(session, "kind: x", dry_run=True)
            assert revision.number == expected
            ManifestRevision.objects.filter(pk=revision.pk).update(status="draft")
