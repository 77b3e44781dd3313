"""The status bar's time left follows the clock in the page itself: a status drawn earlier (a resync kept
in Redis and sent again after a web restart) still says the present."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from clouds.models import Cluster
from tests.e2e.test_lab_flow import WAIT, _log_in
from tests.labs.helpers import make_session

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_counts_the_minutes_left_down_in_the_page(live, page, make_user):
    student = make_user("clockstudent", password="pw-clockstudent-1")
    session = make_session(student, cluster=Cluster.objects.get(name="sandbox"),
                           expires_at=timezone.now() + timedelta(minutes=30, seconds=30))
    page.clock.install()
    _log_in(page, live["url"], "clockstudent", "pw-clockstudent-1")
    page.goto(f"{live['url']}/sessions/{session.id}/")
    time_left = page.get_by_test_id("time-left")
    expect(time_left).to_have_text("30 min left", timeout=WAIT)

    page.clock.fast_forward("26:00")  # 4 min 30 s left: within the lab's 5-minute warning
    expect(time_left).to_have_text("Ends in 4 min")
    expect(time_left).to_have_class("warning")
