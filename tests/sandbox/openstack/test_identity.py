"""Keystone: tokens, catalogs per project, clouds.yaml."""

from __future__ import annotations

import os
import stat

import openstack.exceptions
import pytest

from .conftest import http


def _catalog_types(conn) -> set[str]:
    access = conn.session.auth.get_access(conn.session)
    return {s["type"] for s in access.service_catalog.catalog}


def test_it_writes_a_private_clouds_yaml(cloud):
    assert stat.S_IMODE(os.stat(cloud.clouds_yaml).st_mode) == 0o600
    clouds = cloud.clouds["clouds"]
    lab = clouds["sandbox"]
    assert lab["auth_type"] == "password"
    assert lab["auth"]["project_name"] == "lab"
    assert lab["auth"]["auth_url"] == f"{cloud.url}/identity"
    assert lab["region_name"] == "RegionOne" and lab["interface"] == "public"
    assert lab["identity_api_version"] == 3
    assert clouds["sandbox-taikun"]["auth"]["project_name"] == "lab-taikun"


def test_it_authenticates_with_a_password(conn):
    assert conn.authorize()
    assert conn.current_project.name == "lab"


def test_it_refuses_a_wrong_password(cloud):
    conn = cloud.connect("sandbox", password="not-the-password")
    with pytest.raises(openstack.exceptions.SDKException) as caught:
        conn.authorize()
    assert "401" in str(caught.value) or "authentication" in str(caught.value).lower()


def test_it_answers_401_like_keystone(cloud):
    auth = cloud.clouds["clouds"]["sandbox"]["auth"]
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": auth["username"], "domain": {"name": "Default"}, "password": "wrong"}}},
        "scope": {"project": {"name": "lab", "domain": {"name": "Default"}}}}}
    status, answer = http("POST", cloud.url + "/identity/v3/auth/tokens", body)
    assert status == 401
    assert answer["error"]["code"] == 401 and answer["error"]["title"] == "Unauthorized"


def test_it_refuses_a_project_the_user_has_no_role_on(cloud):
    conn = cloud.connect("sandbox", project_name="service")
    with pytest.raises(openstack.exceptions.SDKException):
        conn.authorize()


def test_it_authenticates_with_an_application_credential(cloud):
    conn = cloud.connect("sandbox-taikun-appcred")
    assert conn.authorize()
    assert conn.current_project_id == cloud.clouds["sandbox"]["projects"]["lab-taikun"]
    assert [i.name for i in conn.image.images(tag="taikun-lb")]


def test_it_offers_octavia_only_to_the_lab_project(cloud):
    assert "load-balancer" in _catalog_types(cloud.connect("sandbox"))
    taikun = _catalog_types(cloud.connect("sandbox-taikun"))
    assert "load-balancer" not in taikun
    assert {"identity", "image", "network", "compute"} <= taikun


def test_it_refuses_calls_without_a_valid_token(cloud):
    status, body = http("GET", cloud.url + "/network/v2.0/networks")
    assert status == 401 and body["error"]["title"] == "Unauthorized"
    status, _ = http("GET", cloud.url + "/network/v2.0/networks", headers={"X-Auth-Token": "nope"})
    assert status == 401


def test_it_serves_version_discovery(cloud):
    status, body = http("GET", cloud.url + "/identity")
    assert status == 300 and body["versions"]["values"][0]["id"].startswith("v3")
    status, body = http("GET", cloud.url + "/identity/v3")
    assert status == 200 and body["version"]["status"] == "stable"
