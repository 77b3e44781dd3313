"""Glance images and Nova flavors and servers."""

from __future__ import annotations

import base64

import openstack.exceptions
import pytest

from .conftest import WAIT


def test_it_finds_images_by_tag_and_name(conn):
    tagged = list(conn.image.images(tag="taikun-lb"))
    assert len(tagged) == 1 and "taikun-lb" in tagged[0].tags
    ubuntu = conn.image.find_image("ubuntu-24.04-server-cloudimg-amd64")
    assert ubuntu is not None and ubuntu.status == "active"


def test_it_lists_flavors(conn):
    flavors = {f.name: f for f in conn.compute.flavors()}
    assert flavors["m1.small"].vcpus == 1 and flavors["m1.small"].ram == 2048
    assert flavors["m1.tiny"].ram == 512


def test_it_boots_and_deletes_a_server(conn):
    image = conn.image.find_image("ubuntu-24.04-server-cloudimg-amd64")
    flavor = conn.compute.find_flavor("m1.tiny")
    net = conn.network.find_network("lab-net")
    server = conn.compute.create_server(
        name="plain", image_id=image.id, flavor_id=flavor.id, networks=[{"uuid": net.id}],
        metadata={"role": "test"}, user_data=base64.b64encode(b"#!/bin/sh\necho hi\n").decode())
    server = conn.compute.wait_for_server(server, interval=0.05, wait=WAIT)
    assert server.status == "ACTIVE"
    assert server.metadata == {"role": "test"}
    assert server.addresses["lab-net"][0]["addr"]
    ports = list(conn.network.ports(device_id=server.id))
    assert len(ports) == 1 and ports[0].device_owner == "compute:nova"
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, interval=0.05, wait=WAIT)
    assert list(conn.network.ports(device_id=server.id)) == []


def test_it_refuses_a_server_with_an_unknown_flavor(conn):
    image = conn.image.find_image("ubuntu-24.04-server-cloudimg-amd64")
    with pytest.raises(openstack.exceptions.BadRequestException) as caught:
        conn.compute.create_server(name="x", image_id=image.id, flavor_id="no-such-flavor",
                                   networks="auto")
    assert "Flavor no-such-flavor could not be found" in str(caught.value)


def test_it_answers_item_not_found_like_nova(conn):
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.compute.get_server("00000000-0000-0000-0000-000000000000")
