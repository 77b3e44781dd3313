"""The cluster watcher against a real sandbox cluster, serving the lab's subscription."""

import asyncio
import threading
import time
import uuid

import pytest
import yaml
from channels.layers import get_channel_layer

from clouds.kube import new_api_client
from clouds.watch import informers as w
from clouds.watch import state
from labs.lifecycle import NAMESPACE_LABEL
from labs.live.watching import subscription
from tests.labs.helpers import wait_for
from tests.sandbox.conftest import start_sandbox, stop_sandbox
from tests.services import tcp_connections_to

POD = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {namespace}, labels: {{app: web}}}}
spec:
  containers: [{{name: nginx, image: nginx:1.27, ports: [{{containerPort: 80}}]}}]
"""


class GroupListener:
    """Collects the channel-layer messages of some groups, from its own event loop."""

    def __init__(self, *groups):
        self.messages = []
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.groups = groups
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._listen(),), daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    async def _listen(self):
        layer = get_channel_layer()
        channel = await layer.new_channel()
        for group in self.groups:
            await layer.group_add(group, channel)
        self.ready.set()
        self._task = asyncio.current_task()
        try:
            while True:
                self.messages.append(await layer.receive(channel))
        except asyncio.CancelledError:
            pass

    def about(self, kind, name):
        return [m for m in self.messages if m.get("kind") == kind and m.get("name") == name]

    def stop(self):
        self.loop.call_soon_threadsafe(self._task.cancel)
        self.thread.join(5)


class Recorder:
    """Stands for the checks: records each settled namespace as (session id, namespace state)."""

    def __init__(self):
        self.calls = []

    def __call__(self, cluster_id, namespace, owner, namespace_state):
        self.calls.append((uuid.UUID(owner), namespace_state))


def create_namespace(sandbox, name, labels=None):
    labels = ", ".join(f"{k}: {v!r}" for k, v in (labels or {}).items())
    sandbox.kubectl("apply", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}, labels: {{{labels}}}}}\n")


def session_namespace(sandbox, hex_id=None):
    hex_id = hex_id or uuid.uuid4().hex
    name = f"lab-w-{hex_id[:10]}"
    create_namespace(sandbox, name, {NAMESPACE_LABEL: hex_id})
    return name, hex_id


def create_pod(sandbox, namespace, name):
    sandbox.kubectl("apply", "-f", "-", input=POD.format(name=name, namespace=namespace))


def new_cluster_watcher(sandbox, cluster_id, checks=None):
    with open(sandbox.kubeconfig) as fh:
        api = new_api_client(yaml.safe_load(fh), None)
    publisher = w.Publisher()
    debouncer = w.new_debouncer()
    subscriptions = [subscription(on_settled=checks or Recorder())]
    return w.ClusterWatcher(cluster_id, api, publisher, debouncer, subscriptions), publisher, debouncer


@pytest.fixture
def running(sandbox):
    cluster_id = f"w{uuid.uuid4().hex[:8]}"
    checks = Recorder()
    cw, publisher, debouncer = new_cluster_watcher(sandbox, cluster_id, checks)
    cw.start()
    yield cw, checks
    cw.stop()
    debouncer.stop()
    publisher.stop()


def test_it_keeps_the_state_of_session_namespaces_and_publishes_changes(sandbox, running):
    cw, checks = running
    namespace, hex_id = session_namespace(sandbox)
    listener = GroupListener(f"session-{hex_id}")
    try:
        wait_for(lambda: namespace in cw.namespaces, message="the namespace to be known")
        create_pod(sandbox, namespace, "web-1")
        pod = wait_for(lambda: state.load_object(cw.cluster_id, namespace, "pods", "web-1"), message="the pod in state")
        assert pod["metadata"]["namespace"] == namespace
        assert "managedFields" not in pod["metadata"]
        wait_for(lambda: listener.about("pods", "web-1"), message="a message to the session group")
        message = listener.about("pods", "web-1")[-1]
        assert message["type"] == "object.changed"
        assert message["object"]["metadata"]["name"] == "web-1"
        # The pod starts: its whole state keeps arriving (never a delta).
        wait_for(lambda: any((m["object"] or {}).get("status", {}).get("phase") == "Running"
                             for m in listener.about("pods", "web-1")), message="the running pod")
        # Deletion reaches the state and the group.
        sandbox.kubectl("delete", "pod", "web-1", "-n", namespace, "--wait=false")
        wait_for(lambda: any(m["object"] is None for m in listener.about("pods", "web-1")), message="the deletion")
        wait_for(lambda: state.load_object(cw.cluster_id, namespace, "pods", "web-1") is None, message="pod gone")
        # The checks hook ran, with the session id and the namespace state.
        wait_for(lambda: checks.calls, message="the checks hook")
        session_id, namespace_state = checks.calls[-1]
        assert session_id == uuid.UUID(hex_id)
        assert set(namespace_state) == set(state.KINDS)
    finally:
        listener.stop()


def test_it_ignores_namespaces_of_no_session(sandbox, running):
    cw, _ = running
    namespace = f"other-{uuid.uuid4().hex[:8]}"
    create_namespace(sandbox, namespace)
    labelled, _ = session_namespace(sandbox)
    create_pod(sandbox, namespace, "stray")
    create_pod(sandbox, labelled, "mine")
    wait_for(lambda: state.load_object(cw.cluster_id, labelled, "pods", "mine"), message="the session pod")
    assert state.load_namespace(cw.cluster_id, namespace)["pods"] == {}
    assert namespace not in state.namespaces(cw.cluster_id)


def test_it_picks_up_objects_made_before_the_namespace_was_labelled(sandbox, running):
    cw, _ = running
    hex_id = uuid.uuid4().hex
    name = f"lab-late-{hex_id[:8]}"
    create_namespace(sandbox, name)
    create_pod(sandbox, name, "early")
    time.sleep(0.5)
    sandbox.kubectl("label", "namespace", name, f"{NAMESPACE_LABEL}={hex_id}")
    wait_for(lambda: state.load_object(cw.cluster_id, name, "pods", "early"), message="the early pod")


def test_it_forgets_a_deleted_namespace(sandbox, running):
    cw, _ = running
    namespace, _ = session_namespace(sandbox)
    create_pod(sandbox, namespace, "web")
    wait_for(lambda: state.load_object(cw.cluster_id, namespace, "pods", "web"), message="the pod")
    sandbox.kubectl("delete", "namespace", namespace, "--wait=false")
    wait_for(lambda: namespace not in cw.namespaces and namespace not in state.namespaces(cw.cluster_id),
             message="the namespace to be forgotten")


def test_it_opens_one_watch_per_kind_whatever_the_number_of_sessions(sandbox, running):
    cw, _ = running
    first, _ = session_namespace(sandbox)
    create_pod(sandbox, first, "web")
    wait_for(lambda: state.load_object(cw.cluster_id, first, "pods", "web"), message="the first pod")
    time.sleep(0.5)
    before = tcp_connections_to("self", sandbox.port)
    more = [session_namespace(sandbox)[0] for _ in range(6)]
    for ns in more:
        create_pod(sandbox, ns, "web")
    for ns in more:
        wait_for(lambda ns=ns: state.load_object(cw.cluster_id, ns, "pods", "web"), message=f"the pod of {ns}")
    time.sleep(0.5)
    after = tcp_connections_to("self", sandbox.port)
    kinds = [*cw.kinds, w.NAMESPACES]
    assert {k: cw.stats[f"watch:{k}"] for k in kinds} == dict.fromkeys(kinds, 1)
    assert sum(cw.open_watches.values()) == len(kinds)
    # Watches plus at most a couple of pooled connections for lists, before and after.
    assert len(kinds) <= before <= len(kinds) + 2
    assert after <= before + 1


def test_it_relists_when_the_watch_expired():
    sb = start_sandbox(("--watch-history", "10"))
    try:
        cluster_id = f"x{uuid.uuid4().hex[:8]}"
        checks = Recorder()
        cw, publisher, debouncer = new_cluster_watcher(sb, cluster_id, checks)
        namespace, hex_id = session_namespace(sb)
        cw.namespaces = {namespace: {NAMESPACE_LABEL: hex_id}}
        cw.namespaces_ready.set()
        listener = GroupListener(f"session-{hex_id}")
        try:
            create_pod(sb, namespace, "old")
            wait_for(lambda: sb.kubectl("get", "pod", "old", "-n", namespace, check=False).returncode == 0)
            version = cw._relist_kind("pods")
            assert state.load_object(cluster_id, namespace, "pods", "old")
            # More changes than the server remembers, while nobody watches.
            sb.kubectl("delete", "pod", "old", "-n", namespace, "--wait=false")
            for i in range(12):
                sb.kubectl("apply", "-f", "-", input=f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}, namespace: {namespace}}}\n")
            create_pod(sb, namespace, "new")
            # Resume watching from the version listed before those changes.
            informer = lambda kind: cw._informer(  # noqa: E731
                kind, lambda: cw._relist_kind(kind), lambda t, o: cw._on_object(kind, t, o), version)
            thread = threading.Thread(target=cw._guard, args=("pods", informer), daemon=True)
            thread.start()
            wait_for(lambda: cw.stats["relist:pods"] == 1, message="a relist")
            wait_for(lambda: state.load_object(cluster_id, namespace, "pods", "new"), message="the new pod")
            wait_for(lambda: state.load_object(cluster_id, namespace, "pods", "old") is None
                     or state.load_object(cluster_id, namespace, "pods", "old").get("metadata", {}).get(
                         "deletionTimestamp"), message="the old pod gone")
            wait_for(lambda: listener.about("pods", "new"), message="the relist's message")
        finally:
            listener.stop()
            cw.stop()
            debouncer.stop()
            publisher.stop()
    finally:
        stop_sandbox(sb)


def test_it_survives_a_cluster_that_is_down():
    cluster_id = f"d{uuid.uuid4().hex[:8]}"
    kubeconfig = {
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "x"}}],
    }
    publisher = w.Publisher()
    debouncer = w.new_debouncer()
    cw = w.ClusterWatcher(cluster_id, new_api_client(kubeconfig, None), publisher, debouncer,
                          [subscription(on_settled=Recorder())])
    cw.start()
    try:
        wait_for(lambda: cw.stats["list:namespaces"] >= 2, timeout=10, message="retries")
        assert all(t.is_alive() for t in cw._threads)
    finally:
        started = time.monotonic()
        cw.stop()
        assert time.monotonic() - started < 10
        debouncer.stop()
        publisher.stop()


@pytest.mark.django_db(transaction=True)
def test_it_watches_every_cluster_row(sandbox, cluster):
    watcher = w.Watcher(refresh=3600)
    try:
        watcher.reconcile()
        assert set(watcher.clusters) == {cluster.pk}
        cw = watcher.clusters[cluster.pk]
        namespace, _ = session_namespace(sandbox)
        create_pod(sandbox, namespace, "web")
        wait_for(lambda: state.load_object(cluster.pk, namespace, "pods", "web"), message="the pod")
        watcher.reconcile()  # unchanged: the same watches go on
        assert watcher.clusters[cluster.pk] is cw
        cluster.delete()
        watcher.reconcile()
        assert watcher.clusters == {}
    finally:
        watcher.stop()


def test_it_debounces_the_checks_hook():
    recorder = Recorder()
    debouncer = w.Debouncer(lambda key: recorder(*key, {}), interval=0.3)
    try:
        hex_id = uuid.uuid4().hex
        started = time.monotonic()
        while time.monotonic() - started < 1.0:
            debouncer.touch(("c", "ns", hex_id))
            time.sleep(0.01)
        time.sleep(0.5)
        assert 2 <= len(recorder.calls) <= 5
        assert recorder.calls[0][0] == uuid.UUID(hex_id)
    finally:
        debouncer.stop()


def test_it_hands_namespaces_settling_together_over_in_one_batch():
    batches = []
    debouncer = w.Debouncer(lambda key: None, interval=1.0, call_many=lambda keys: batches.append(sorted(keys)),
                            gather=2.0)
    try:
        for name in ("a", "b", "c"):  # touched within a few ms: due together
            debouncer.touch(name)
        time.sleep(0.05)
        debouncer.touch("d")  # due a little after the others, within the gathering time: joins their batch
        deadline = time.monotonic() + 5
        while sum(map(len, batches)) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert batches == [["a", "b", "c", "d"]]
        debouncer.touch("a")  # settled again later: a batch of its own
        while len(batches) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert batches[1] == ["a"]
    finally:
        debouncer.stop()

@pytest.mark.django_db(transaction=True)
def test_it_runs_as_a_management_command(sandbox, cluster, redis_url):
    from django.db import connection

    from tests.services import PYTHON, Service, database_env

    env = {**database_env(connection.settings_dict), "LIVEOPS_REDIS_URL": redis_url}
    svc = Service("run-watcher", [PYTHON, "manage.py", "run_watcher", "--refresh", "1"], env=env)
    try:
        svc.wait_for_log("watcher started")
        namespace, _ = session_namespace(sandbox)
        create_pod(sandbox, namespace, "web")
        wait_for(lambda: state.load_object(cluster.pk, namespace, "pods", "web"), message="the pod, via the command")
    finally:
        svc.stop(timeout=60)  # its watches end at once (test_stop.py); a loaded machine may still take a while
    assert "watcher stopped" in svc.log()


def test_it_serves_every_subscriber_from_the_same_watches(sandbox):
    """A second feature subscribing (here to Services only) opens no watch of its own."""
    from clouds.watch import Subscription

    heard = []
    services_only = Subscription("test.services", NAMESPACE_LABEL, ("services",),
                                 on_change=lambda change: heard.append(change) or [])
    cluster_id = f"s{uuid.uuid4().hex[:8]}"
    with open(sandbox.kubeconfig) as fh:
        api = new_api_client(yaml.safe_load(fh), None)
    publisher, debouncer = w.Publisher(), w.new_debouncer()
    cw = w.ClusterWatcher(cluster_id, api, publisher, debouncer,
                          [subscription(on_settled=Recorder()), services_only])
    cw.start()
    try:
        namespace, hex_id = session_namespace(sandbox)
        create_pod(sandbox, namespace, "web")
        sandbox.kubectl("create", "service", "clusterip", "web", "--tcp=80:80", "-n", namespace)
        wait_for(lambda: [c for c in heard if c.namespace == namespace and c.name == "web"], message="the service")
        assert {c.kind for c in heard} == {"services"}  # only what it asked for
        assert all(c.owner == hex_id for c in heard if c.namespace == namespace)
        kinds = [*cw.kinds, w.NAMESPACES]
        wait_for(lambda: sum(cw.open_watches.values()) == len(kinds), message="every watch open")
        assert {k: cw.stats[f"watch:{k}"] for k in kinds} == dict.fromkeys(kinds, 1)
    finally:
        cw.stop()
        debouncer.stop()
        publisher.stop()
