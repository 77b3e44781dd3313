"""Taikun LB built by the product's provider in the sandbox cloud (project `lab-taikun`, no Octavia):
two servers from the image tagged `taikun-lb`, a VIP port, a floating IP, and real traffic to the pods."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from clouds.loadbalancers.base import BalancerFailed, BalancerSpec, Retry, ServicePort, balancer_name
from clouds.loadbalancers.taikun import TaikunProvider, config_hash, render_user_data, server_name
from clouds.loadbalancers.taikun.userdata import Member
from clouds.openstack.connection import connect
from tests.clouds.conftest import credential_from, nginx_behind_node_ports
from tests.sandbox.openstack.conftest import http_get, wait_for

pytestmark = pytest.mark.django_db

TIMEOUT = 90.0


class Killed(Exception):
    """The task was killed in the middle of a build."""


@pytest.fixture(scope="module")
def web(cloud):
    """nginx behind a NodePort Service: -> (namespace, nodePort, node addresses, the Service's uid)."""
    with nginx_behind_node_ports(cloud, "tk", [{"port": 80, "targetPort": 80}], timeout=TIMEOUT) as (ns, svc, nodes):
        yield ns, svc.spec.ports[0].node_port, tuple(nodes), svc.metadata.uid


@pytest.fixture
def credential(cloud):
    return credential_from(cloud, "sandbox-taikun")


@pytest.fixture
def conn(credential):
    connection = connect(credential)
    yield connection
    connection.close()


@pytest.fixture
def look(cloud):
    """An openstacksdk Connection of its own (from clouds.yaml) to check what the provider left."""
    connection = cloud.connect("sandbox-taikun")
    yield connection
    connection.close()


def spec_for(cloud, web, service: str, **changes) -> BalancerSpec:
    ns, node_port, nodes, uid = web
    values = {
        "name": balancer_name("tk", ns, service), "cluster": "tk", "namespace": ns, "service": service,
        "service_uid": uid, "ports": (ServicePort("http", "TCP", 80, node_port),), "nodes": nodes,
        "subnet": cloud.clouds["sandbox"]["subnet"], "floating_network": "public", "flavor": "m1.small",
        "vrid": 42,
    }
    values.update(changes)
    return BalancerSpec(**values)


def drive(provider, conn, spec, progress=None, timeout: float = TIMEOUT, action: str = "ensure"):
    """Call ensure (or delete) until it returns, honouring Retry (with a shortened delay), as the
    controller's task would be rescheduled."""
    steps = []

    def record(step, detail):
        steps.append((step, detail))
        if progress is not None:
            progress(step, detail)

    deadline = time.monotonic() + timeout
    while True:
        try:
            result = getattr(provider, action)(conn, spec, record)
            return result, steps
        except Retry as e:
            assert time.monotonic() < deadline, f"still retrying: {e.message}"
            time.sleep(min(e.delay, 0.2))


def servers_of(look, spec) -> list:
    names = {server_name(spec.name, 1), server_name(spec.name, 2)}
    return [s for s in look.compute.servers(details=True) if s.name in names]


def ports_of(look, spec) -> list:
    names = {spec.name, server_name(spec.name, 1), server_name(spec.name, 2)}
    return [p for p in look.network.ports() if p.name in names]


def vip_ports_of(look, spec) -> list:
    return [p for p in look.network.ports(name=spec.name)]


def fips_on(look, port_ids) -> list:
    return [f for f in look.network.ips() if f.port_id in port_ids]


def assert_nothing_left(look, spec):
    wait_for(lambda: not servers_of(look, spec), timeout=TIMEOUT, interval=0.2, message="servers gone")
    assert ports_of(look, spec) == []
    assert [f for f in look.network.ips() if spec.name in (f.description or "")] == []
    assert [g for g in look.network.security_groups() if g.name == spec.name] == []


def test_it_builds_two_servers_behind_a_floating_ip_that_serves_the_pods(cloud, web, conn, look):
    provider = TaikunProvider()
    spec = spec_for(cloud, web, "build")
    try:
        ensured, steps = drive(provider, conn, spec)
        assert [s for s, _ in steps] == ["vip-port", "servers", "active", "floating-ip"]

        servers = sorted(servers_of(look, spec), key=lambda s: s.name)
        assert [s.name for s in servers] == [server_name(spec.name, 1), server_name(spec.name, 2)]
        image = next(iter(look.image.images(tag="taikun-lb")))
        assert all(s.image.id == image.id and s.status == "ACTIVE" for s in servers)
        assert all(s.flavor.ram == 2048 and s.flavor.vcpus == 1 for s in servers)

        vip = look.network.get_port(ensured.balancer_id)
        vip_ip = vip.fixed_ips[0]["ip_address"]
        assert vip.name == spec.name and "liveops-labs" in vip.tags
        members = {p.name: p for p in ports_of(look, spec) if p.id != vip.id}
        assert len(members) == 2
        group = next(g for g in look.network.security_groups() if g.name == spec.name)
        rules = {(r.direction, r.protocol, r.port_range_min, r.remote_ip_prefix, r.remote_group_id)
                 for r in look.network.security_group_rules(security_group_id=group.id)}
        assert {("ingress", "tcp", 80, "0.0.0.0/0", None), ("ingress", "vrrp", None, None, group.id)} <= rules
        for server in servers:
            port = members[server.name]
            assert port.device_id == server.id and group.id in port.security_group_ids
            assert vip_ip in [pair["ip_address"] for pair in port.allowed_address_pairs]

        fips = fips_on(look, {vip.id})
        assert len(fips) == 1 and fips[0].floating_ip_address == ensured.address
        assert ensured.cloud["vrid"] == 42 and ensured.cloud["floating_ip_id"] == fips[0].id
        assert sorted(ensured.cloud["servers"]) == sorted(s.id for s in servers)

        # the user data the servers were booted with: the nodes' nodePorts and the virtual router id
        ns, node_port, nodes, _ = web
        for slot, server in enumerate(servers, start=1):
            peer = members[server_name(spec.name, 3 - slot)].fixed_ips[0]["ip_address"]
            data = render_user_data(ports=spec.ports, nodes=nodes, proxy_protocol=False, vip=vip_ip, vrid=42,
                                    member=Member(slot, members[server.name].fixed_ips[0]["ip_address"], peer))
            assert server.metadata["liveops-labs-config"] == config_hash(data)
            assert all(f"{node}:{node_port} check" in data for node in nodes)
            assert "virtual_router_id 42" in data and vip_ip in data and "send-proxy" not in data
            assert ("state MASTER" if slot == 1 else "state BACKUP") in data
            console = look.compute.get_server_console_output(server)["output"]
            assert "cloud-init:" not in console  # the sandbox found nothing wrong in it

        status, headers, body = wait_for(lambda: http_get(ensured.address, 80), timeout=TIMEOUT,
                                         message="HTTP through the floating IP")
        assert status == 200 and "Welcome to nginx!" in body
        assert headers["X-Pod-Name"].startswith("web-")
    finally:
        drive(provider, conn, spec, action="delete")


def test_it_sends_the_proxy_protocol_header_when_the_service_asks(cloud, web, conn):
    received: list[bytes] = []
    backend = socket.socket()
    backend.bind(("127.0.0.1", 0))
    backend.listen(8)

    def serve():
        while True:
            try:
                peer, _ = backend.accept()
            except OSError:
                return
            with peer:
                data = b""
                while b"\r\n" not in data:
                    chunk = peer.recv(1024)
                    if not chunk:
                        break
                    data += chunk
                received.append(data)
                peer.sendall(b"ok")

    threading.Thread(target=serve, daemon=True).start()
    provider = TaikunProvider()
    spec = spec_for(cloud, web, "proxy", proxy_protocol=True, nodes=("127.0.0.1",),
                    ports=(ServicePort("tls", "TCP", 8443, backend.getsockname()[1]),))
    try:
        ensured, _ = drive(provider, conn, spec)

        def exchange():
            try:
                with socket.create_connection((ensured.address, 8443), timeout=2) as s:
                    s.sendall(b"hello\r\n")
                    return s.recv(16)
            except OSError:
                return None
        assert wait_for(exchange, timeout=TIMEOUT, message="an answer through the PROXY listener") == b"ok"
        line = received[-1].split(b"\r\n")[0].decode()
        assert line.startswith("PROXY TCP4 ")
        assert line.split()[3] == ensured.address and line.split()[5] == "8443"
        data = render_user_data(ports=spec.ports, nodes=spec.nodes, proxy_protocol=True, vip="10.0.0.9", vrid=42,
                                member=Member(1, "10.0.0.7", "10.0.0.8"))
        assert f"127.0.0.1:{backend.getsockname()[1]} check send-proxy" in data
    finally:
        backend.close()
        drive(provider, conn, spec, action="delete")


def test_it_refuses_while_octavia_is_enabled(cloud, web, look):
    octavia = credential_from(cloud, "sandbox")
    connection = connect(octavia)
    spec = spec_for(cloud, web, "octavia")
    try:
        with pytest.raises(BalancerFailed) as e:
            TaikunProvider().ensure(connection, spec, lambda *_: None)
    finally:
        connection.close()
    assert e.value.cause == "octavia-enabled" and e.value.retry_after is None
    assert "Taikun LB is only allowed when Octavia is disabled" in e.value.message
    assert "Octavia" in e.value.fix
    assert octavia.password not in e.value.message + e.value.fix
    with cloud.connect("sandbox") as lab:
        assert [p for p in lab.network.ports() if p.name == spec.name] == []


def test_it_refuses_without_an_image_tagged_taikun_lb(cloud, web, conn, look):
    # The sandbox's image catalog is fixed (no way to untag its image): a provider looking for
    # another tag sees a project with no Taikun LB image, as a cloud without it would look.
    spec = spec_for(cloud, web, "noimage")
    with pytest.raises(BalancerFailed) as e:
        TaikunProvider(image_tag="taikun-lb-not-uploaded").ensure(conn, spec, lambda *_: None)
    assert e.value.cause == "image-missing" and e.value.retry_after is None
    assert "taikun-lb-not-uploaded" in e.value.message and e.value.fix
    assert ports_of(look, spec) == []


def test_it_refuses_a_flavor_too_small_or_missing(cloud, web, conn, look):
    for flavor, said in (("m1.tiny", "too small"), ("m9.gigantic", "does not exist"), ("", "No Taikun LB flavor")):
        spec = spec_for(cloud, web, "tiny", flavor=flavor)
        with pytest.raises(BalancerFailed) as e:
            TaikunProvider().ensure(conn, spec, lambda *_: None)
        assert e.value.cause == "flavor" and e.value.retry_after is None
        assert said in e.value.message and "1 GB" in e.value.fix
    assert ports_of(look, spec) == []


def test_it_refuses_without_a_virtual_router_id_or_a_floating_network(cloud, web, conn, look):
    spec = spec_for(cloud, web, "novrid", vrid=None)
    with pytest.raises(BalancerFailed) as e:
        TaikunProvider().ensure(conn, spec, lambda *_: None)
    assert e.value.cause == "vrid" and e.value.retry_after is None
    spec = spec_for(cloud, web, "nopublic", floating_network="no-such-network")
    with pytest.raises(BalancerFailed) as e:
        TaikunProvider().ensure(conn, spec, lambda *_: None)
    assert e.value.cause == "no-floating-network" and e.value.retry_after is None
    assert ports_of(look, spec) == []


def test_it_keeps_an_internal_balancer_on_its_vip(cloud, web, conn, look):
    provider = TaikunProvider()
    spec = spec_for(cloud, web, "internal", floating_network="")
    try:
        ensured, steps = drive(provider, conn, spec)
        vip = look.network.get_port(ensured.balancer_id)
        assert ensured.address == vip.fixed_ips[0]["ip_address"]
        assert ensured.cloud["floating_ip_id"] is None and fips_on(look, {vip.id}) == []
        assert "floating-ip" not in [s for s, _ in steps]
    finally:
        drive(provider, conn, spec, action="delete")


def test_it_is_idempotent_when_run_twice_or_killed_halfway(cloud, web, conn, look):
    provider = TaikunProvider()
    spec = spec_for(cloud, web, "twice")

    def kill_after_servers(step, detail):
        if step == "servers":
            raise Killed(detail)

    try:
        with pytest.raises(Killed):
            drive(provider, conn, spec, progress=kill_after_servers)
        assert len(servers_of(look, spec)) == 2 and len(vip_ports_of(look, spec)) == 1
        first, steps = drive(provider, conn, spec)
        assert "vip-port" not in [s for s, _ in steps] and "servers" not in [s for s, _ in steps]
        second, steps = drive(provider, conn, spec)
        assert steps == []  # nothing changed, nothing reported
        assert (second.address, second.balancer_id, second.cloud) == (first.address, first.balancer_id, first.cloud)

        assert len(servers_of(look, spec)) == 2
        vips = vip_ports_of(look, spec)
        assert len(vips) == 1 and vips[0].id == first.balancer_id
        assert len(ports_of(look, spec)) == 3
        assert [f.floating_ip_address for f in fips_on(look, {vips[0].id})] == [first.address]
        assert wait_for(lambda: http_get(first.address, 80), timeout=TIMEOUT, message="HTTP")[0] == 200
    finally:
        drive(provider, conn, spec, action="delete")


def test_it_replaces_the_servers_one_at_a_time_when_the_ports_change(cloud, web, conn, look):
    provider = TaikunProvider()
    spec = spec_for(cloud, web, "rolling")
    try:
        ensured, _ = drive(provider, conn, spec)
        wait_for(lambda: http_get(ensured.address, 80), timeout=TIMEOUT, message="HTTP before the change")
        before = {s.name: s.id for s in servers_of(look, spec)}
        ns, node_port, nodes, _ = web
        changed = spec_for(cloud, web, "rolling", ports=(*spec.ports, ServicePort("alt", "TCP", 8080, node_port)))
        replaced = []
        deadline = time.monotonic() + TIMEOUT * 2
        while True:
            try:
                result = provider.ensure(conn, changed, lambda step, detail: replaced.append((step, detail)))
                break
            except Retry as e:
                assert time.monotonic() < deadline, e.message
                # never both servers gone at once: the other one keeps serving
                live = [s for s in servers_of(look, spec) if s.status == "ACTIVE" and s.task_state != "deleting"]
                assert live, "no server left serving"
                wait_for(lambda: http_get(ensured.address, 80), timeout=TIMEOUT, message="HTTP while replacing")
                time.sleep(min(e.delay, 0.2))
        assert result.address == ensured.address and result.balancer_id == ensured.balancer_id
        after = {s.name: s.id for s in servers_of(look, spec)}
        assert set(after) == set(before) and not set(after.values()) & set(before.values())
        details = [d for s, d in replaced if s == "servers" and d.startswith("replacing")]
        assert [d.split()[1] for d in details] == [server_name(spec.name, 2), server_name(spec.name, 1)]
        assert wait_for(lambda: http_get(ensured.address, 8080), timeout=TIMEOUT, message="HTTP on 8080")[0] == 200
        assert wait_for(lambda: http_get(ensured.address, 80), timeout=TIMEOUT, message="HTTP on 80")[0] == 200
    finally:
        drive(provider, conn, spec, action="delete")


def test_it_fails_plainly_when_the_floating_ip_quota_is_used_up(cloud, web, conn, look):
    provider = TaikunProvider()
    spec = spec_for(cloud, web, "quota")
    quota = cloud.faults()["floating_ip_quota"]
    cloud.faults(floating_ip_quota=0)
    try:
        with pytest.raises(BalancerFailed) as e:
            drive(provider, conn, spec)
        assert e.value.cause == "floating-ip-quota" and e.value.retry_after
        assert "quota" in e.value.message and "floating IP" in e.value.fix
        cloud.faults(floating_ip_quota=quota)
        ensured, steps = drive(provider, conn, spec)
        assert [s for s, _ in steps] == ["floating-ip"]
        assert len(fips_on(look, {ensured.balancer_id})) == 1 and len(servers_of(look, spec)) == 2
    finally:
        cloud.faults(floating_ip_quota=quota)
        drive(provider, conn, spec, action="delete")


def test_it_deletes_everything_it_built(cloud, web, conn, look):
    provider = TaikunProvider()
    spec = spec_for(cloud, web, "delete")
    ensured, _ = drive(provider, conn, spec)
    wait_for(lambda: http_get(ensured.address, 80), timeout=TIMEOUT, message="HTTP before the delete")
    _, steps = drive(provider, conn, spec, action="delete")
    assert {s for s, _ in steps} == {"floating-ip", "servers", "vip-port"}
    assert_nothing_left(look, spec)
    assert ensured.cloud["floating_ip_id"] not in [f.id for f in look.network.ips()]
    wait_for(lambda: http_get(ensured.address, 80, timeout=0.5) is None, timeout=TIMEOUT, message="listener closed")
    _, steps = drive(provider, conn, spec, action="delete")  # again: nothing to do
    assert steps == []


def test_it_lists_and_removes_an_orphan_for_the_sweep(cloud, web, conn, look):
    provider = TaikunProvider()
    spec = spec_for(cloud, web, "orphan")
    stranger = look.network.create_port(network_id=next(look.network.networks(name="lab-net")).id,
                                       name="not-ours")
    try:
        drive(provider, conn, spec)
        owned = provider.owned(conn)
        mine = [orphan for name, orphan in owned if name == spec.name]
        assert sorted(o.kind for o in mine) == ["floating ip", "port", "port", "port", "security group", "server",
                                                "server"]
        assert all(o.cloud_id != stranger.id for _, o in owned)
        # the Service is gone and its balancer forgotten: the sweep removes what is left
        kinds = [o.kind for o in mine]  # in the order the sweep removes them
        assert kinds == sorted(kinds, key=["floating ip", "server", "port", "security group"].index)
        for orphan in mine:
            provider.remove(conn, orphan)
        assert_nothing_left(look, spec)
        assert [o for name, o in provider.owned(conn) if name == spec.name] == []
        provider.remove(conn, mine[0])  # already gone: nothing happens
        assert look.network.get_port(stranger.id).name == "not-ours"
    finally:
        look.network.delete_port(stranger, ignore_missing=True)
        drive(provider, conn, spec, action="delete")


def test_it_deletes_a_server_that_went_to_error_and_builds_it_again(cloud, web, conn, look, monkeypatch):
    provider = TaikunProvider()
    spec = spec_for(cloud, web, "broken")
    try:
        ensured, _ = drive(provider, conn, spec)
        broken = next(s for s in servers_of(look, spec) if s.name == server_name(spec.name, 2))
        listing = conn.compute.servers

        def servers_with_one_in_error(*args, **kwargs):
            # The sandbox has no switch that sends a server to ERROR: the provider is shown one.
            for server in listing(*args, **kwargs):
                if server.id == broken.id:
                    server.status, server.fault = "ERROR", {"message": "No valid host was found."}
                yield server

        monkeypatch.setattr(conn.compute, "servers", servers_with_one_in_error)
        with pytest.raises(BalancerFailed) as e:
            provider.ensure(conn, spec, lambda *_: None)
        monkeypatch.undo()
        assert e.value.cause == "server-error" and e.value.retry_after
        assert broken.name in e.value.message and "No valid host was found." in e.value.message
        wait_for(lambda: broken.id not in [s.id for s in servers_of(look, spec)], timeout=TIMEOUT,
                 message="the broken server deleted")
        again, steps = drive(provider, conn, spec)
        assert again.address == ensured.address and [s for s, _ in steps] == ["servers", "active"]
        assert len(servers_of(look, spec)) == 2
    finally:
        drive(provider, conn, spec, action="delete")


def test_it_turns_cloud_errors_into_plain_words_without_secrets(cloud, web, conn):
    spec = spec_for(cloud, web, "errors")
    wrong = credential_from(cloud, "sandbox-taikun", credential_name="wrong-password", password="not-the-password")
    connection = connect(wrong)
    try:
        with pytest.raises(BalancerFailed) as e:
            TaikunProvider().ensure(connection, spec, lambda *_: None)
    finally:
        connection.close()
    assert e.value.cause == "cloud-credential" and e.value.retry_after is None and e.value.fix
    assert "not-the-password" not in e.value.message + e.value.fix

    cloud.faults(unavailable=["compute"])
    try:
        with pytest.raises(BalancerFailed) as e:
            TaikunProvider().ensure(conn, spec, lambda *_: None)
    finally:
        cloud.faults(unavailable=[])
    assert e.value.cause == "cloud-unavailable" and e.value.retry_after
    assert "503" in e.value.message
