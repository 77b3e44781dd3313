"""Stopping the watcher ends its watches at once, not at their next line (a quiet watch hears a bookmark
only every half minute), so that the process stops well inside the grace a pod is given."""

import uuid

from clouds.watch import informers as w
from tests.clouds.watch.test_watcher import new_cluster_watcher
from tests.labs.helpers import wait_for
from tests.services import tcp_connections_to


def stopped(cw, publisher, debouncer) -> list[str]:
    """Stop a cluster's watcher: -> the names of its threads still running once stop() returned."""
    try:
        cw.stop()
    finally:
        debouncer.stop()
        publisher.stop()
    return [t.name for t in cw._threads if t.is_alive()]


def test_it_ends_quiet_watches_when_stopped(sandbox):
    before = tcp_connections_to("self", sandbox.port)
    cw, publisher, debouncer = new_cluster_watcher(sandbox, f"s{uuid.uuid4().hex[:8]}")
    cw.start()
    watches = len(cw.kinds) + len(cw.cluster_kinds) + 1
    wait_for(lambda: sum(cw.open_watches.values()) == watches, message="every watch open")
    assert stopped(cw, publisher, debouncer) == []
    assert sum(cw.open_watches.values()) == 0
    assert tcp_connections_to("self", sandbox.port) <= before


def test_it_ends_watches_that_were_opening_when_stopped(sandbox):
    """Stopped while its threads open their watches: a watch answered after stop() began ends too."""
    for _ in range(5):
        cw, publisher, debouncer = new_cluster_watcher(sandbox, f"s{uuid.uuid4().hex[:8]}")
        cw.start()
        wait_for(lambda cw=cw: cw.stats[f"watch:{w.NAMESPACES}"] or sum(cw.open_watches.values()),
                 interval=0.005, message="a watch asked for")
        assert stopped(cw, publisher, debouncer) == []
