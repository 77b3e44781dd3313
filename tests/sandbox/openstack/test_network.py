"""Neutron: networks, ports, floating IPs and their quota."""

from __future__ import annotations

import errno
import ipaddress
import socket

import openstack.exceptions
import pytest

from sandbox.net.ipam import CLAIM_PORT

from .conftest import http


def test_it_puts_the_tenant_subnet_on_the_node_network(cloud, conn):
    subnet = conn.network.find_subnet("lab-subnet")
    assert subnet.cidr == cloud.node_cidr
    public = conn.network.find_network("public")
    assert public.is_router_external


def test_it_creates_associates_and_deletes_a_floating_ip(cloud, conn):
    net = conn.network.find_network("lab-net")
    public = conn.network.find_network("public")
    port = conn.network.create_port(network_id=net.id, name="vip")
    fip = conn.network.create_ip(floating_network_id=public.id, description="test fip")
    try:
        assert ipaddress.ip_address(fip.floating_ip_address) in ipaddress.ip_network(cloud.floating_cidr)
        assert fip.port_id is None and fip.status == "DOWN"
        fip = conn.network.update_ip(fip, port_id=port.id)
        assert fip.port_id == port.id and fip.fixed_ip_address == port.fixed_ips[0]["ip_address"]
        found = list(conn.network.ips(port_id=port.id))
        assert [f.id for f in found] == [fip.id]
        by_address = list(conn.network.ips(floating_ip_address=fip.floating_ip_address))
        assert [f.id for f in by_address] == [fip.id]
        assert [f.id for f in conn.network.ips(description="test fip")] == [fip.id]
        fip = conn.network.update_ip(fip, port_id=None)
        assert fip.port_id is None
    finally:
        conn.network.delete_ip(fip)
        conn.network.delete_port(port)
    assert list(conn.network.ips(port_id=port.id)) == []
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.network.get_ip(fip.id)


def test_it_refuses_a_floating_ip_over_quota(cloud, conn):
    public = conn.network.find_network("public")
    used = len(list(conn.network.ips()))
    cloud.faults(floating_ip_quota=used)
    try:
        with pytest.raises(openstack.exceptions.ConflictException) as caught:
            conn.network.create_ip(floating_network_id=public.id)
        assert caught.value.status_code == 409
        assert "Quota exceeded for resources: ['floatingip']" in str(caught.value)
        status, body = http("POST", cloud.url + "/network/v2.0/floatingips",
                            {"floatingip": {"floating_network_id": public.id}},
                            headers={"X-Auth-Token": conn.auth_token})
        assert status == 409 and body["NeutronError"]["type"] == "OverQuota"
        details = conn.network.get_quota(conn.current_project_id, details=True)
        assert details.floating_ips["limit"] == used and details.floating_ips["used"] == used
    finally:
        cloud.faults(floating_ip_quota=50)


def test_it_refuses_a_port_address_already_allocated(conn):
    net = conn.network.find_network("lab-net")
    subnet = conn.network.find_subnet("lab-subnet")
    port = conn.network.create_port(network_id=net.id)
    try:
        taken = port.fixed_ips[0]["ip_address"]
        with pytest.raises(openstack.exceptions.ConflictException) as caught:
            conn.network.create_port(network_id=net.id, fixed_ips=[{"subnet_id": subnet.id, "ip_address": taken}])
        assert "already allocated" in str(caught.value)
    finally:
        conn.network.delete_port(port)


def test_it_never_hands_out_a_floating_address_in_use_on_the_machine(cloud, conn):
    import socket

    public = conn.network.find_network("public")
    first = conn.network.create_ip(floating_network_id=public.id)
    following = str(ipaddress.ip_address(first.floating_ip_address) + 1)
    squatter = socket.socket()
    squatter.bind((following, 0))
    squatter.listen(1)
    try:
        second = conn.network.create_ip(floating_network_id=public.id)
        assert second.floating_ip_address != following
        conn.network.delete_ip(second)
    finally:
        squatter.close()
        conn.network.delete_ip(first)


def _claimed(ip: str) -> bool:
    """True if the address is held on the machine the way every sandbox address is
    (another sandbox could not claim it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((ip, CLAIM_PORT))
        except OSError as e:
            assert e.errno == errno.EADDRINUSE, e
            return True
        return False


def test_it_holds_the_addresses_it_hands_out_until_they_are_released(conn):
    net = conn.network.find_network("lab-net")
    public = conn.network.find_network("public")
    port = conn.network.create_port(network_id=net.id)
    fip = conn.network.create_ip(floating_network_id=public.id)
    fixed, floating = port.fixed_ips[0]["ip_address"], fip.floating_ip_address
    try:
        assert _claimed(fixed) and _claimed(floating)
    finally:
        conn.network.delete_ip(fip)
        conn.network.delete_port(port)
    assert not _claimed(fixed) and not _claimed(floating)


def test_it_gives_a_port_several_addresses_on_one_subnet_and_never_a_node_address(cloud, conn):
    net = conn.network.find_network("lab-net")
    subnet = conn.network.find_subnet("lab-subnet")
    from kubernetes import client

    api = cloud.kube()
    try:
        nodes = {a.address for n in client.CoreV1Api(api).list_node().items for a in n.status.addresses
                 if a.type == "InternalIP"}
    finally:
        api.close()
    assert nodes
    port = conn.network.create_port(network_id=net.id, fixed_ips=[{"subnet_id": subnet.id}] * 2)
    try:
        ips = [ip["ip_address"] for ip in port.fixed_ips]
        assert len(set(ips)) == 2 and not set(ips) & nodes
        pool = subnet.allocation_pools[0]
        low, high = ipaddress.ip_address(pool["start"]), ipaddress.ip_address(pool["end"])
        assert all(low <= ipaddress.ip_address(ip) <= high for ip in ips)
        for node in nodes:
            with pytest.raises(openstack.exceptions.ConflictException):
                conn.network.create_port(network_id=net.id, fixed_ips=[{"subnet_id": subnet.id,
                                                                        "ip_address": node}])
    finally:
        conn.network.delete_port(port)
