"""What follows a settled namespace runs in a worker, queued by the watcher once per namespace."""

import pytest

from clouds.watch import state as observed
from labs.live import watching
from labs.models import CheckResult
from tests.labs import state_builders as sb
from tests.labs.live.test_path import observe

QUEUE = "live"  # the Redis list the `live` queue's messages wait in


def _empty():
    r = observed.client()
    r.delete(QUEUE, *r.keys("liveops:settle-queued:*"))


@pytest.fixture
def empty_queue():
    """No task waiting in the queue, no namespace marked as queued."""
    _empty()
    yield
    _empty()


def test_the_watcher_queues_one_task_per_namespace_until_it_starts(db, empty_queue):
    session = sb.make_session("alice")
    observe(session, sb.state(deployments=[sb.deployment()], services=[sb.service()]))
    args = (session.cluster_id, session.namespace, session.id.hex)
    for _ in range(3):  # a burst: the watcher settles the namespace again while the task waits
        watching.queue_settled(*args)
    assert observed.client().llen(QUEUE) == 1

    watching.settle_namespaces([list(args)])  # what the worker runs: it reads the state as it is now
    deployed = CheckResult.objects.get(session=session, key="deployment-ready")
    assert deployed.passed

    watching.queue_settled(*args)  # a change after the task started is queued again
    assert observed.client().llen(QUEUE) == 2
    observed.clear_namespace(session.cluster_id, session.namespace)


def test_the_watcher_queues_namespaces_settled_together_in_one_task(db, empty_queue):
    sessions = [sb.make_session(name) for name in ("alice", "bob", "carol")]
    for session in sessions:
        observe(session, sb.state(deployments=[sb.deployment()], services=[sb.service()]))
    watching.queue_settled(sessions[0].cluster_id, sessions[0].namespace, sessions[0].id.hex)
    # The watcher's batch: alice is already queued, bob and carol join one task.
    watching.queue_settled_many([(s.cluster_id, s.namespace, s.id.hex) for s in sessions])
    assert observed.client().llen(QUEUE) == 2

    watching.settle_namespaces([[s.cluster_id, s.namespace, s.id.hex] for s in sessions])
    assert CheckResult.objects.filter(session__in=sessions, key="deployment-ready", passed=True).count() == 3
    for session in sessions:
        observed.clear_namespace(session.cluster_id, session.namespace)


def test_the_watcher_hands_the_work_on_in_batches_without_loading_the_state():
    handed_on = watching.subscription()
    assert handed_on.on_settled is None and handed_on.on_settled_many is watching.queue_settled_many
    assert watching.subscription(on_settled=watching.namespace_settled).settled_state is True
