"""The lab page reads what it shows once: the checklist, its diagnosis, the stepper, the DNS panel and the
traffic path show the same check results, DNS record and balancer, so a session holding all of them is
drawn in a bounded number of queries (it took 22 when each fragment read them again)."""

import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from clouds.models import ServiceBalancer
from clouds.watch import state as observed
from labs.checks import lb_target, save_probe, target_signature
from labs.models import CheckResult, Cohort, DnsRecord, HelpRequest, LabSession, ManifestRevision, Message
from tests.labs import state_builders as sb
from tests.labs.helpers import make_session

pytestmark = pytest.mark.django_db

# The request's own (its session, the user, the menu's permissions), the lab session, and one per kind of row
# shown: revisions, help requests, cohorts, messages, check results, DNS record, balancers, the history; and the
# history's newest line, in the stamp the page is kept under (labs.views.kept_pages).
MAX_QUERIES = 14


def _busy_session(make_user):
    """A completed session of a cohort's student with everything the page shows: messages, an answered and an
    open raised hand, a revision, a healthy namespace, checks reached with a probe, a DNS record pointing
    elsewhere and the cloud balancer the product built. -> (session, the cohort's instructor)"""
    student, teacher = make_user("alice"), make_user("teacher")
    cohort = Cohort.objects.create(name="c")
    cohort.students.add(student)
    cohort.instructors.add(teacher)
    session = make_session(student)
    Message.objects.create(cohort=cohort, sender=teacher, text="hello everyone")
    Message.objects.create(cohort=cohort, sender=teacher, recipient=student, text="hello alice")
    HelpRequest.objects.create(session=session, question="stuck?", state=HelpRequest.State.ANSWERED,
                               answer="look at the labels", answered_by=teacher, closed_at=timezone.now())
    HelpRequest.objects.create(session=session, question="still stuck", state=HelpRequest.State.OPEN)
    ManifestRevision.objects.create(session=session, number=1, text="kind: Service\n", status="applied", message="ok")
    state = sb.healthy()
    for kind, items in state.items():
        for obj in items.values():
            observed.save_object(session.cluster_id, session.namespace, kind, obj)
    target = lb_target(state)
    reached = timezone.now() - timedelta(minutes=5)
    for key in ("deployment-ready", "service-selects-pods", "external-ip", "http-external-ip"):
        CheckResult.objects.create(session=session, key=key, passed=True, passed_at=reached, detail={})
    save_probe(session, "http-external-ip", {"ok": True, "signature": target_signature(target), "status": 200,
                                             "url": f"http://{target['ip']}/", "pod": "lb-test-abc-1"})
    DnsRecord.objects.create(session=session, name="alice.lab.test", address="10.9.9.9")
    ServiceBalancer.objects.create(cluster=session.cluster, namespace=session.namespace, service="lb-test-svc",
                                   provider="octavia", name="kube_service_test_lb", state="active",
                                   address="10.0.0.5")
    LabSession.objects.filter(pk=session.pk).update(completed_at=timezone.now())
    return session, teacher


def _assert_shows_it_all(body: str):
    for shown in ("hello everyone", "hello alice", "look at the labels", "Revision 1",
                  "answered by pod <code>lb-test-abc-1</code>", "alice.lab.test points at 10.9.9.9",
                  "kube_service_test_lb ACTIVE", "Completed in"):
        assert shown in body, shown


@pytest.mark.parametrize("reader, extra_queries, shown", [
    ("student", 0, "Your hand is raised"),
    ("teacher", 1, "Watching alice"),  # one more: the access check (a student of a cohort they teach)
])
def test_it_draws_a_busy_session_in_a_bounded_number_of_queries(client, make_user, django_assert_max_num_queries,
                                                                 reader, extra_queries, shown):
    session, teacher = _busy_session(make_user)
    client.force_login(session.user if reader == "student" else teacher)
    with django_assert_max_num_queries(MAX_QUERIES + extra_queries):
        r = client.get(f"/sessions/{session.id}/")
    assert r.status_code == 200
    body = r.content.decode()
    _assert_shows_it_all(body)
    assert shown in body


def test_it_draws_the_page_while_redis_is_unreachable(client, make_user, settings):
    """The live state, the nodes and the DNS form's outcome are read together: without Redis the page still
    draws, and says the live view is away rather than showing an empty namespace as the truth."""
    session, _ = _busy_session(make_user)
    client.force_login(session.user)
    with socket.socket() as unused:  # a port nothing listens on once closed
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
    r = client.get(f"/sessions/{session.id}/")
    assert r.status_code == 200
    body = r.content.decode()
    assert "The live view is unavailable right now; it reconnects by itself." in body
    # What the database holds still shows: the checks reached, the record, the messages.
    assert "hello alice" in body and "alice.lab.test" in body
    assert 'data-check="deployment-ready" data-state="waiting" data-reached="true"' in body
