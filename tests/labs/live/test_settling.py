"""What follows a settled namespace runs in a worker, queued by the watcher once per namespace."""

import pytest

from clouds.watch import state as observed
from labs.live import watching
from labs.models import CheckResult
from tests.labs import state_builders as sb
from tests.labs.live.test_path import observe

QUEUE = "live"  # the Redis list the `live` queue's messages wait in


@pytest.fixture
def empty_queue():
    observed.client().delete(QUEUE)
    yield
    observed.client().delete(QUEUE)


def test_the_watcher_queues_one_task_per_namespace_until_it_starts(db, empty_queue):
    session = sb.make_session("alice")
    observe(session, sb.state(deployments=[sb.deployment()], services=[sb.service()]))
    args = (session.cluster_id, session.namespace, session.id.hex)
    for _ in range(3):  # a burst: the watcher settles the namespace again while the task waits
        watching.queue_settled(*args)
    assert observed.client().llen(QUEUE) == 1

    watching.settle_namespace(*args)  # what the worker runs: it reads the state as it is now
    deployed = CheckResult.objects.get(session=session, key="deployment-ready")
    assert deployed.passed

    watching.queue_settled(*args)  # a change after the task started is queued again
    assert observed.client().llen(QUEUE) == 2
    observed.clear_namespace(session.cluster_id, session.namespace)


def test_the_watcher_hands_on_without_loading_the_state():
    assert watching.subscription().settled_state is False
    assert watching.subscription(on_settled=watching.namespace_settled).settled_state is True
