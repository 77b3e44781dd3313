"""A session's resync is drawn once and kept in Redis: what every (re)connecting page is sent must still
be the present (after any change of what the page shows), the view of its reader, and its own session's."""

import asyncio
from datetime import timedelta

import pytest
import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from clouds.models import ServiceBalancer
from clouds.watch import state
from labs.checks.dns import remember_outcome
from labs.live import nodes, redis_watch
from labs.live.consumer import render_resync
from labs.models import CheckResult, Cohort, DnsRecord, HelpRequest, LabSession, ManifestRevision, Message
from labs.notify import notify_session
from tests.labs.helpers import make_session
from tests.labs.live.test_consumer import connect, pod


def resync(session, watching=False, ended=False) -> str:
    """The html a socket of `session` is sent when it (re)connects."""
    return render_resync(session.id, session.cluster_id, session.namespace, watching, ended)[1]


@pytest.fixture
def student(make_user):
    """alice, a student of a cohort, with a running lab whose namespace holds one pod."""
    alice = make_user("alice")
    cohort = Cohort.objects.create(name="c")
    cohort.students.add(alice)
    session = make_session(alice)
    state.clear_namespace(session.cluster_id, session.namespace)
    state.save_object(session.cluster_id, session.namespace, "pods", pod("web-1"))
    state.client().delete(nodes.redis_key(session.cluster_id))
    return session


@pytest.mark.django_db
def test_it_draws_a_resync_once_and_sends_it_again(student, django_assert_num_queries):
    first = resync(student)
    with django_assert_num_queries(1):  # the session's row: nothing else is drawn again
        again = resync(student)
    assert again == first
    assert 'id="pod-web-1"' in again and 'id="session-status"' in again


def new_progress(session):
    LabSession.objects.filter(pk=session.pk).update(progress="Pulling the images")  # no signal: the row itself
    return "Pulling the images"


def new_revision(session):
    ManifestRevision.objects.create(session=session, number=7, text="kind: Service", status="applied",
                                    message="Applied: Service web created")
    return "Revision 7"


def check_reached(session):
    CheckResult.objects.create(session=session, key="deployment-ready", passed=True, passed_at=timezone.now())
    return 'data-check="deployment-ready" data-state="waiting" data-reached="true"'


def dns_record(session):
    DnsRecord.objects.create(session=session, name="web.lab.test", address="203.0.113.7")
    return "web.lab.test"


def dns_form_error(session):
    remember_outcome(session, error="Address: 999.1.1.1 is not an IPv4 address.", error_field="address",
                     label="web", address="999.1.1.1")
    return "999.1.1.1 is not an IPv4 address."


def cloud_balancer(session):
    ServiceBalancer.objects.create(cluster=session.cluster, namespace=session.namespace, service="web-svc",
                                   provider="octavia", name="kube_service_test_x_web-svc")
    return "web-svc"


def raised_hand(session):
    HelpRequest.objects.create(session=session, question="Why pending?")
    return "Your hand is raised: “Why pending?”"


def message_to_the_cohort(session):
    Message.objects.create(cohort=session.user.cohorts.get(), text="Look at the selector")
    return "Look at the selector"


def joined_another_cohort(session):
    other = Cohort.objects.create(name="d")
    Message.objects.create(cohort=other, text="Welcome to cohort d")
    other.students.add(session.user)
    return "Welcome to cohort d"


def new_pod(session):
    state.save_object(session.cluster_id, session.namespace, "pods", pod("web-2"))
    return 'id="pod-web-2"'


def new_node(session):
    nodes.record_change(session.cluster_id, "node-9", {
        "metadata": {"name": "node-9", "creationTimestamp": "2025-01-01T00:00:00Z"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    return 'id="no-node-9"'


def lab_extended(session):
    LabSession.objects.filter(pk=session.pk).update(expires_at=timezone.now() + timedelta(minutes=500))
    return "499 min left"


@pytest.mark.django_db
@pytest.mark.parametrize("change", [
    new_progress, new_revision, check_reached, dns_record, dns_form_error, cloud_balancer, raised_hand,
    message_to_the_cohort, joined_another_cohort, new_pod, new_node, lab_extended,
], ids=lambda change: change.__name__)
def test_it_shows_a_change_of_each_part(student, change):
    before = resync(student)  # drawn and kept
    shown = change(student)
    assert shown not in before
    assert shown in resync(student)  # the kept one no longer matches the present: drawn again


@pytest.mark.django_db
def test_it_shows_a_change_announced_by_notify_session(student):
    revision = ManifestRevision.objects.create(session=student, number=1, text="kind: Service", status="applying",
                                               message="Dry run on the cluster…")
    assert "Dry run on the cluster…" in resync(student)
    # As labs.revisions.run does: a queryset update (no signal), then the page is told.
    ManifestRevision.objects.filter(pk=revision.pk).update(message="Applying…")
    notify_session(student.id, "revisions")
    html = resync(student)
    assert "Applying…" in html and "Dry run on the cluster…" not in html


@pytest.mark.django_db
def test_it_draws_again_what_changed_while_redis_was_away(student):
    """A writer cannot renew the session's version while Redis is away: once a web process sees Redis back,
    nothing kept from before is sent again."""
    revision = ManifestRevision.objects.create(session=student, number=1, text="kind: Service", status="applying",
                                               message="Dry run on the cluster…")
    assert "Dry run on the cluster…" in resync(student)
    # Changed and announced while Redis was away: the announcement (and the new version) were lost.
    ManifestRevision.objects.filter(pk=revision.pk).update(message="Applying…")
    assert "Dry run on the cluster…" in resync(student)  # the kept one, still matching

    async def redis_is_back():
        client = aioredis.from_url(settings.REDIS_URL)
        await redis_watch._forget_kept_resyncs(client)
        await client.aclose()

    asyncio.run(redis_is_back())
    html = resync(student)
    assert "Applying…" in html and "Dry run on the cluster…" not in html

@pytest.mark.django_db
def test_it_keeps_the_views_of_a_watching_instructor_and_of_the_student_apart(student):
    own = resync(student)
    watched = resync(student, watching=True)
    end_button = f'hx-post="{reverse("labs:end", args=[student.id])}"'
    assert end_button in own and "Watching alice's lab" not in own
    assert end_button not in watched and "Watching alice's lab" in watched
    assert resync(student) == own and resync(student, watching=True) == watched


@pytest.mark.django_db
def test_it_never_sends_a_session_the_resync_of_another(student, make_user):
    other = make_session(make_user("bob"), cluster=student.cluster)
    mine = resync(student)
    theirs = resync(other)
    assert other.namespace in theirs and student.namespace not in theirs and 'id="pod-web-1"' not in theirs
    assert student.namespace in resync(student) == mine


@pytest.mark.django_db
def test_it_draws_the_resync_without_redis(student, settings):
    ManifestRevision.objects.create(session=student, number=3, text="kind: Service", status="applied",
                                    message="Applied")
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    html = resync(student)
    assert 'id="session-status"' in html and "Revision 3" in html and 'id="panel-pods"' in html


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_it_sends_a_page_that_asks_again_after_its_lab_ended_the_read_only_resync(make_user, monkeypatch):
    monkeypatch.setattr("labs.live.consumer.RESYNC_INTERVAL", 0.0)  # the page may ask again at once
    alice = await sync_to_async(make_user)("alice")
    session = await sync_to_async(make_session)(alice)
    end_button = f'hx-post="{reverse("labs:end", args=[session.id])}"'
    communicator = await connect(session, alice)
    assert end_button in await communicator.receive_from(timeout=5)
    # Ended by a queryset update, as labs.lifecycle.end does; the page wakes from sleep and asks again.
    await sync_to_async(LabSession.objects.filter(pk=session.pk).update)(state=LabSession.State.ENDING)
    await communicator.send_to('{"resync": true}')
    html = await communicator.receive_from(timeout=5)
    assert end_button not in html and 'data-testid="read-only-note"' in html
    assert 'id="manifest-form"' in html  # the editor swapped for the text it held
    await communicator.disconnect()
