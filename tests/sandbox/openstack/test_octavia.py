"""Octavia: a balancer built as cloud-provider-openstack builds one, real traffic
through its floating IP to the pods, cascade delete, and the immutable/children rules."""

from __future__ import annotations

import openstack.exceptions
import pytest

from .conftest import WAIT, Backend, exchange, http, http_get, refused, wait_for


def _wait(conn, lb):
    return conn.load_balancer.wait_for_load_balancer(lb.id, interval=0.05, wait=WAIT)


def _build(conn, name, members, port=80, pool_protocol="TCP"):
    """LB on the subnet -> ACTIVE -> listener -> pool -> members -> health monitor."""
    subnet = conn.network.find_subnet("lab-subnet")
    lb = conn.load_balancer.create_load_balancer(name=name, vip_subnet_id=subnet.id,
                                                 description="Kubernetes external service web/web")
    assert lb.provisioning_status == "PENDING_CREATE"
    lb = _wait(conn, lb)
    listener = conn.load_balancer.create_listener(name=f"listener_0_{name}", loadbalancer_id=lb.id,
                                                  protocol="TCP", protocol_port=port)
    _wait(conn, lb)
    pool = conn.load_balancer.create_pool(name=f"pool_0_{name}", listener_id=listener.id, protocol=pool_protocol,
                                          lb_algorithm="ROUND_ROBIN")
    _wait(conn, lb)
    for address, member_port in members:
        conn.load_balancer.create_member(pool, address=address, protocol_port=member_port, subnet_id=subnet.id,
                                         name=f"member-{address}")
        _wait(conn, lb)
    conn.load_balancer.create_health_monitor(pool_id=pool.id, type="TCP", delay=5, timeout=3, max_retries=1,
                                             name=f"monitor_0_{name}")
    return _wait(conn, lb), listener, pool


def test_it_serves_a_balancer_built_like_cloud_provider_openstack(conn, web_app):
    ns, node_port, nodes = web_app
    name = f"kube_service_sandbox_{ns}_web"
    # a member that refuses connections (nothing listens on port 9) is skipped
    lb, listener, pool = _build(conn, name, [(ip, node_port) for ip in nodes] + [(nodes[0], 9)])
    public = conn.network.find_network("public")
    fip = conn.network.create_ip(floating_network_id=public.id, port_id=lb.vip_port_id,
                                 description=f"Floating IP for Kubernetes external service {ns}/web")
    try:
        assert lb.provisioning_status == "ACTIVE" and lb.operating_status == "ONLINE"
        found = list(conn.load_balancer.load_balancers(name=name))
        assert [x.id for x in found] == [lb.id]
        members = list(conn.load_balancer.members(pool))
        assert len(members) == 4 and {m.operating_status for m in members} == {"ONLINE"}
        answer = wait_for(lambda: http_get(fip.floating_ip_address, 80), message="HTTP through the floating IP")
        status, headers, body = answer
        assert status == 200 and "Welcome to nginx!" in body
        assert headers["X-Pod-Name"].startswith("web-")
        answers = [http_get(fip.floating_ip_address, 80) for _ in range(8)]
        assert all(a is not None and a[0] == 200 for a in answers)
        assert len({a[1]["X-Pod-Name"] for a in answers}) == 2
        # disassociating the floating IP closes the listener
        conn.network.update_ip(fip, port_id=None)
        wait_for(lambda: refused(fip.floating_ip_address, 80), message="listener closed")
    finally:
        conn.network.delete_ip(fip)
        conn.load_balancer.delete_load_balancer(lb, cascade=True)


def test_it_deletes_a_balancer_and_its_children_with_cascade(conn, web_app):
    _, node_port, nodes = web_app
    lb, listener, pool = _build(conn, "cascade", [(nodes[0], node_port)], port=8080)
    vip_port = lb.vip_port_id
    conn.load_balancer.delete_load_balancer(lb, cascade=True)
    conn.load_balancer.wait_for_delete(lb, interval=0.05, wait=WAIT)
    assert list(conn.load_balancer.load_balancers(name="cascade")) == []
    assert [x for x in conn.load_balancer.listeners() if x.id == listener.id] == []
    assert [x for x in conn.load_balancer.pools() if x.id == pool.id] == []
    assert [x for x in conn.load_balancer.health_monitors() if x.pool_id == pool.id] == []
    assert conn.network.find_port(vip_port) is None


def test_it_refuses_to_delete_a_balancer_with_children_without_cascade(cloud, conn):
    subnet = conn.network.find_subnet("lab-subnet")
    lb = _wait(conn, conn.load_balancer.create_load_balancer(name="children", vip_subnet_id=subnet.id))
    conn.load_balancer.create_listener(loadbalancer_id=lb.id, protocol="TCP", protocol_port=81)
    _wait(conn, lb)
    try:
        with pytest.raises(openstack.exceptions.BadRequestException) as caught:
            conn.load_balancer.delete_load_balancer(lb)
        assert "it has children" in str(caught.value)
        status, body = http("DELETE", f"{cloud.url}/load-balancer/v2/lbaas/loadbalancers/{lb.id}",
                            headers={"X-Auth-Token": conn.auth_token})
        assert status == 400 and body["debuginfo"] is None and "has children" in body["faultstring"]
    finally:
        conn.load_balancer.delete_load_balancer(lb, cascade=True)


def test_it_refuses_changes_while_a_balancer_is_pending(cloud, conn):
    subnet = conn.network.find_subnet("lab-subnet")
    # long enough that the balancer is still PENDING_CREATE when the listener request
    # arrives, even on a loaded machine
    cloud.faults(delays={"os_lb_provision": 5.0})
    try:
        lb = conn.load_balancer.create_load_balancer(name="pending", vip_subnet_id=subnet.id)
        with pytest.raises(openstack.exceptions.ConflictException) as caught:
            conn.load_balancer.create_listener(loadbalancer_id=lb.id, protocol="TCP", protocol_port=80)
        assert f"Load Balancer {lb.id} is immutable and cannot be updated." in str(caught.value)
    finally:
        cloud.faults(delays={"os_lb_provision": 0.05})
    conn.load_balancer.delete_load_balancer(_wait(conn, lb))


def test_it_puts_the_next_balancer_in_error_when_told(cloud, conn):
    subnet = conn.network.find_subnet("lab-subnet")
    cloud.faults(lb_errors=1)
    lb = conn.load_balancer.create_load_balancer(name="broken", vip_subnet_id=subnet.id)
    with pytest.raises(openstack.exceptions.ResourceFailure):
        _wait(conn, lb)
    lb = conn.load_balancer.get_load_balancer(lb.id)
    assert lb.provisioning_status == "ERROR" and lb.operating_status == "ERROR"
    assert cloud.faults()["lb_errors"] == 0
    conn.load_balancer.delete_load_balancer(lb)
    ok = _wait(conn, conn.load_balancer.create_load_balancer(name="fine", vip_subnet_id=subnet.id))
    assert ok.provisioning_status == "ACTIVE"
    conn.load_balancer.delete_load_balancer(ok)


def test_it_answers_503_for_an_unavailable_service(cloud, conn):
    cloud.faults(unavailable=["load-balancer"])
    try:
        with pytest.raises(openstack.exceptions.HttpException) as caught:
            list(conn.load_balancer.load_balancers())
        assert caught.value.status_code == 503
        assert list(conn.network.networks())
    finally:
        cloud.faults(unavailable=[])
    assert list(conn.load_balancer.load_balancers()) is not None


def test_it_disables_octavia_for_the_lab_project_when_told(cloud):
    cloud.faults(octavia_disabled=True)
    try:
        conn = cloud.connect("sandbox")
        access = conn.session.auth.get_access(conn.session)
        assert "load-balancer" not in {s["type"] for s in access.service_catalog.catalog}
    finally:
        cloud.faults(octavia_disabled=False)


def test_it_refuses_fault_changes_without_the_admin_token(cloud):
    status, _ = http("POST", cloud.url + "/sandbox/faults", {"lb_errors": 3})
    assert status == 401
    status, _ = http("POST", cloud.url + "/sandbox/faults", {"lb_errors": 3},
                     headers={"X-Sandbox-Admin-Token": "wrong"})
    assert status == 401
    assert cloud.faults()["lb_errors"] == 0


def test_it_sends_a_proxy_v2_header_for_a_proxyv2_pool(conn):
    import socket
    import struct

    backend = Backend(lambda data: len(data) >= 28 + 5)
    lb, _, _ = _build(conn, "proxy-v2", [("127.0.0.1", backend.port)], port=8080, pool_protocol="PROXYV2")
    public = conn.network.find_network("public")
    fip = conn.network.create_ip(floating_network_id=public.id, port_id=lb.vip_port_id)
    try:
        answer = wait_for(lambda: exchange(fip.floating_ip_address, 8080, b"hello"),
                          message="an answer through the PROXYV2 pool")
        assert answer == b"ok"
        assert backend.received
        for data in backend.received:
            assert data[:12] == b"\r\n\r\n\x00\r\nQUIT\n" and data[12] == 0x21 and data[13] == 0x11
            assert socket.inet_ntoa(data[20:24]) == fip.floating_ip_address
            assert struct.unpack("!H", data[26:28])[0] == 8080 and data[28:] == b"hello"
    finally:
        backend.close()
        conn.network.delete_ip(fip)
        conn.load_balancer.delete_load_balancer(lb, cascade=True)
