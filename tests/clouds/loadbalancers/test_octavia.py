"""The Octavia provider against the sandbox cloud: driven directly (a loop that honours Retry),
checked with openstacksdk and real HTTP through the floating IP to the pods."""

from __future__ import annotations

import time

import pytest

from clouds.loadbalancers.base import OWNER_TAG, BalancerFailed, BalancerSpec, Retry, ServicePort, balancer_name
from clouds.loadbalancers.octavia import OctaviaProvider
from clouds.openstack.connection import connect
from tests.clouds.conftest import credential_from, nginx_behind_node_ports
from tests.sandbox.openstack.conftest import http_get, wait_for

pytestmark = pytest.mark.django_db

STEPS = ["balancer", "active", "listener", "pool", "members", "monitor", "floating-ip"]


class Killed(Exception):
    """The task was killed halfway."""


class Steps(list):
    """A progress callback that records (step, detail)."""

    def __call__(self, step: str, detail: str) -> None:
        assert detail
        self.append((step, detail))

    @property
    def keys(self) -> list[str]:
        return [step for step, _ in self]


def drive(method, *args, timeout: float = 90.0):
    """Call a provider method until it stops raising Retry (as the controller reschedules it)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return method(*args)
        except Retry as e:
            assert e.delay > 0
            if time.monotonic() > deadline:
                raise AssertionError(f"still retrying after {timeout}s: {e.message}") from None
            time.sleep(min(e.delay, 0.1))


@pytest.fixture(scope="module")
def web(cloud):
    """nginx behind a NodePort Service with two ports: -> (namespace, {port: nodePort}, node addresses)."""
    ports = [{"name": "http", "port": 80, "targetPort": 80}, {"name": "alt", "port": 8080, "targetPort": 80}]
    with nginx_behind_node_ports(cloud, "octavia", ports) as (ns, svc, nodes):
        yield ns, {p.port: p.node_port for p in svc.spec.ports}, nodes


@pytest.fixture
def conn(cloud):
    connection = connect(credential_from(cloud))
    yield connection
    connection.close()


@pytest.fixture
def provider():
    return OctaviaProvider()


@pytest.fixture
def make_spec(cloud, web, conn, provider):
    """-> make(service, **changes): a BalancerSpec for the `web` app under a Service name of its own;
    whatever it built is deleted after the test."""
    ns, node_ports, nodes = web
    made: list[BalancerSpec] = []

    def make(service: str, ports=(80,), **changes) -> BalancerSpec:
        values = {
            "name": balancer_name("cloudy", ns, service), "cluster": "cloudy", "namespace": ns, "service": service,
            "service_uid": f"uid-{service}", "ports": tuple(ServicePort(f"p{p}", "TCP", p, node_ports[p]) for p in ports),
            "nodes": tuple(nodes), "subnet": cloud.clouds["sandbox"]["subnet"], "floating_network": "public"}
        values.update(changes)
        spec = BalancerSpec(**values)
        made.append(spec)
        return spec

    yield make
    for spec in made:
        drive(provider.delete, conn, spec, Steps())


def balancers(conn, name: str) -> list:
    return [lb for lb in conn.load_balancer.load_balancers(name=name) if lb.name == name]


def floating_ips(conn, spec: BalancerSpec) -> list:
    return [f for f in conn.network.ips() if f"{spec.namespace}/{spec.service} " in (f.description or "")]


def serves(address: str, port: int = 80):
    answer = wait_for(lambda: http_get(address, port), timeout=30, message=f"HTTP through {address}:{port}")
    status, headers, body = answer
    assert status == 200 and "Welcome to nginx!" in body
    assert headers["X-Pod-Name"].startswith("web-")
    return headers["X-Pod-Name"]


def test_it_builds_a_balancer_that_serves_the_service(conn, provider, make_spec, web):
    _, node_ports, nodes = web
    spec = make_spec("build")
    steps = Steps()
    ensured = drive(provider.ensure, conn, spec, steps)

    assert steps.keys == STEPS
    [lb] = balancers(conn, spec.name)
    assert ensured.balancer_id == lb.id and lb.provisioning_status == "ACTIVE"
    assert lb.vip_subnet_id == conn.network.find_subnet("lab-subnet").id
    assert OWNER_TAG in lb.tags and OWNER_TAG in lb.description and f"{spec.namespace}/build" in lb.description
    [listener] = [x for x in conn.load_balancer.listeners() if x.load_balancers == [{"id": lb.id}]]
    assert (listener.name, listener.protocol, listener.protocol_port) == (f"listener_0_{spec.name}", "TCP", 80)
    pool = conn.load_balancer.get_pool(listener.default_pool_id)
    assert (pool.name, pool.protocol, pool.lb_algorithm) == (f"pool_0_{spec.name}", "TCP", "ROUND_ROBIN")
    members = list(conn.load_balancer.members(pool))
    assert sorted((m.address, m.protocol_port) for m in members) == [(ip, node_ports[80]) for ip in nodes]
    monitor = conn.load_balancer.get_health_monitor(pool.health_monitor_id)
    assert (monitor.name, monitor.type, monitor.delay, monitor.timeout, monitor.max_retries) == (
        f"monitor_0_{spec.name}", "TCP", 5, 3, 1)
    [fip] = list(conn.network.ips(port_id=lb.vip_port_id))
    assert ensured.address == fip.floating_ip_address and "Floating IP for Kubernetes external service" in \
        fip.description
    assert ensured.cloud["load_balancer_id"] == lb.id and ensured.cloud["floating_ip_id"] == fip.id
    serves(ensured.address)

    again = Steps()
    assert drive(provider.ensure, conn, spec, again).address == ensured.address
    assert again == []


def test_it_raises_retry_while_the_balancer_is_pending(cloud, conn, provider, make_spec):
    spec = make_spec("pending")
    delays = cloud.faults()["delays"]
    steps = Steps()
    cloud.faults(delays={"os_lb_provision": 5.0})
    try:
        with pytest.raises(Retry) as caught:
            provider.ensure(conn, spec, steps)
        assert "PENDING_CREATE" in caught.value.message and caught.value.delay > 0
        with pytest.raises(Retry):
            provider.ensure(conn, spec, steps)
    finally:
        cloud.faults(delays={"os_lb_provision": delays["os_lb_provision"]})
    assert steps.keys == ["balancer"] and len(balancers(conn, spec.name)) == 1
    drive(provider.ensure, conn, spec, steps)
    assert steps.keys == STEPS


def test_it_builds_one_balancer_and_one_floating_ip_when_run_twice(conn, provider, make_spec):
    spec = make_spec("twice")
    first = drive(provider.ensure, conn, spec, Steps())
    second = drive(provider.ensure, conn, spec, Steps())
    assert first.address == second.address and first.balancer_id == second.balancer_id
    assert len(balancers(conn, spec.name)) == 1
    assert len(floating_ips(conn, spec)) == 1


def test_it_leaves_one_balancer_after_a_run_killed_halfway(conn, provider, make_spec):
    spec = make_spec("killed")

    def killer(step: str, detail: str) -> None:
        if step == "pool":
            raise Killed(detail)
    with pytest.raises(Killed):
        drive(provider.ensure, conn, spec, killer)
    steps = Steps()
    ensured = drive(provider.ensure, conn, spec, steps)
    assert "balancer" not in steps.keys and "pool" not in steps.keys
    assert steps.keys[-3:] == ["members", "monitor", "floating-ip"]
    assert [lb.id for lb in balancers(conn, spec.name)] == [ensured.balancer_id]
    assert len(floating_ips(conn, spec)) == 1
    serves(ensured.address)


def test_it_makes_members_follow_the_nodes(conn, provider, make_spec, web):
    _, node_ports, nodes = web
    spec = make_spec("nodes")
    ensured = drive(provider.ensure, conn, spec, Steps())
    pool_id = ensured.cloud["pools"]["80"]

    fewer = Steps()
    drive(provider.ensure, conn, make_spec("nodes", nodes=tuple(nodes[:-1])), fewer)
    assert fewer.keys == ["members"] and nodes[-1] in fewer[0][1]
    assert sorted(m.address for m in conn.load_balancer.members(pool_id)) == nodes[:-1]
    serves(ensured.address)

    drive(provider.ensure, conn, spec, Steps())
    assert sorted((m.address, m.protocol_port) for m in conn.load_balancer.members(pool_id)) == [
        (ip, node_ports[80]) for ip in nodes]


def test_it_removes_the_listener_of_a_port_the_service_no_longer_has(conn, provider, make_spec):
    spec = make_spec("ports", ports=(80, 8080))
    ensured = drive(provider.ensure, conn, spec, Steps())
    assert sorted(ensured.cloud["listeners"]) == ["80", "8080"]
    serves(ensured.address, 8080)

    steps = Steps()
    drive(provider.ensure, conn, make_spec("ports", ports=(80,)), steps)
    assert steps.keys == ["listener"] and "8080" in steps[0][1]
    listeners = [x for x in conn.load_balancer.listeners() if x.load_balancers == [{"id": ensured.balancer_id}]]
    assert [x.protocol_port for x in listeners] == [80]
    assert [p.id for p in conn.load_balancer.pools(loadbalancer_id=ensured.balancer_id)] == [
        ensured.cloud["pools"]["80"]]
    serves(ensured.address)


def test_it_reports_an_exhausted_floating_ip_quota(cloud, conn, provider, make_spec):
    spec = make_spec("quota")
    quota = cloud.faults()["floating_ip_quota"]
    cloud.faults(floating_ip_quota=0)
    try:
        with pytest.raises(BalancerFailed) as caught:
            drive(provider.ensure, conn, spec, Steps())
    finally:
        cloud.faults(floating_ip_quota=quota)
    assert caught.value.cause == "floating-ip-quota"
    assert caught.value.message == "The cloud has no floating IP left for this project"
    assert caught.value.fix and caught.value.retry_after
    assert floating_ips(conn, spec) == []
    steps = Steps()
    ensured = drive(provider.ensure, conn, spec, steps)
    assert steps.keys == ["floating-ip"]
    serves(ensured.address)


def test_it_deletes_a_balancer_that_went_to_error_and_builds_a_new_one(cloud, conn, provider, make_spec):
    spec = make_spec("broken")
    created = []

    def progress(step: str, detail: str) -> None:
        if step == "balancer":
            created.extend(lb.id for lb in balancers(conn, spec.name))
    cloud.faults(lb_errors=1)
    try:
        with pytest.raises(BalancerFailed) as caught:
            drive(provider.ensure, conn, spec, progress)
    finally:
        cloud.faults(lb_errors=0)
    failure = caught.value
    assert failure.cause == "balancer-error" and failure.retry_after and failure.retry_after <= 30
    assert "ERROR" in failure.message and "amphora failed to boot" in failure.message
    [errored] = created
    wait_for(lambda: not balancers(conn, spec.name), timeout=30, message="the errored balancer deleted")

    ensured = drive(provider.ensure, conn, spec, Steps())
    assert ensured.balancer_id != errored
    assert len(balancers(conn, spec.name)) == 1 and len(floating_ips(conn, spec)) == 1
    serves(ensured.address)


def test_it_keeps_an_internal_balancer_on_its_vip(conn, provider, make_spec):
    spec = make_spec("internal", floating_network="")
    steps = Steps()
    ensured = drive(provider.ensure, conn, spec, steps)
    [lb] = balancers(conn, spec.name)
    assert ensured.address == lb.vip_address and ensured.cloud["floating_ip_id"] is None
    assert "floating-ip" not in steps.keys
    assert list(conn.network.ips(port_id=lb.vip_port_id)) == []


def test_it_reports_a_floating_network_that_does_not_exist(conn, provider, make_spec):
    spec = make_spec("nonet", floating_network="no-such-network")
    with pytest.raises(BalancerFailed) as caught:
        drive(provider.ensure, conn, spec, Steps())
    assert caught.value.cause == "no-floating-network" and "no-such-network" in caught.value.message
    assert caught.value.retry_after is None


def test_it_says_in_plain_words_that_octavia_is_unavailable(cloud, conn, provider, make_spec):
    spec = make_spec("down")
    cloud.faults(unavailable=["load-balancer"])
    try:
        with pytest.raises(BalancerFailed) as caught:
            provider.ensure(conn, spec, Steps())
    finally:
        cloud.faults(unavailable=[])
    assert caught.value.cause == "cloud-unavailable"
    assert "The cloud's load-balancer service is unavailable" in caught.value.message


def test_it_says_the_project_has_no_octavia(cloud, provider, make_spec):
    spec = make_spec("no-octavia")
    cloud.faults(octavia_disabled=True)
    try:
        with pytest.raises(BalancerFailed) as caught:
            provider.ensure(connect(credential_from(cloud)), spec, Steps())
    finally:
        cloud.faults(octavia_disabled=False)
    assert caught.value.cause == "no-octavia" and "Taikun LB" in caught.value.fix
    assert caught.value.retry_after is None


def test_it_says_the_credential_was_refused_without_the_password(cloud, provider, make_spec):
    credential = credential_from(cloud, credential_name="wrong", password="not-the-password-42")
    spec = make_spec("refused")
    with pytest.raises(BalancerFailed) as caught:
        provider.ensure(connect(credential), spec, Steps())
    failure = caught.value
    assert failure.cause == "cloud-auth" and failure.message == "The cloud credential was refused."
    assert "not-the-password-42" not in f"{failure.message} {failure.fix}"


def test_it_deletes_everything_and_is_idempotent(conn, provider, make_spec):
    spec = make_spec("gone")
    ensured = drive(provider.ensure, conn, spec, Steps())
    vip_port = ensured.cloud["vip_port_id"]

    steps = Steps()
    drive(provider.delete, conn, spec, steps)
    assert steps.keys == ["floating-ip", "balancer"]
    assert balancers(conn, spec.name) == []
    assert conn.network.find_port(vip_port) is None
    assert conn.network.find_ip(ensured.cloud["floating_ip_id"]) is None
    assert floating_ips(conn, spec) == []
    wait_for(lambda: http_get(ensured.address, 80, timeout=0.5) is None, message="the listener closed")

    again = Steps()
    provider.delete(conn, spec, again)
    assert again == []


def test_it_finds_and_removes_what_it_made(conn, provider, make_spec):
    spec = make_spec("orphan")
    ensured = drive(provider.ensure, conn, spec, Steps())
    owned = [(name, orphan) for name, orphan in provider.owned(conn) if name == spec.name]
    kinds = {orphan.kind: orphan for _, orphan in owned}
    assert sorted(kinds) == ["floating ip", "load balancer"] and len(owned) == 2
    assert kinds["load balancer"].cloud_id == ensured.balancer_id
    assert kinds["floating ip"].cloud_id == ensured.cloud["floating_ip_id"]

    drive(provider.remove, conn, kinds["load balancer"])
    drive(provider.remove, conn, kinds["floating ip"])
    wait_for(lambda: not balancers(conn, spec.name), timeout=30, message="the balancer removed")
    assert floating_ips(conn, spec) == []
    assert [name for name, _ in provider.owned(conn) if name == spec.name] == []
