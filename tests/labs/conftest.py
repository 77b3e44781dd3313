"""Fixtures for the product's lab tests (the shared sandbox comes from tests/conftest.py)."""

import pytest


@pytest.fixture
def dns_settings(settings, sandbox):
    """Point every DNS lookup and update at the sandbox's DNS server (never the internet)."""
    settings.LIVEOPS_DNS_RESOLVERS = [f"127.0.0.1:{sandbox.dns_port}"]
    settings.LIVEOPS_DNS_UPDATE_SERVER = f"127.0.0.1:{sandbox.dns_port}"
    settings.LIVEOPS_DNS_ZONE = "lab.test"
    settings.LIVEOPS_DNS_TSIG_KEY = ""
    return settings
