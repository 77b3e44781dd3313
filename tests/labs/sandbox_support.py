"""A real sandbox cluster + DNS server for the probe and DNS tests, and helpers to drive it."""

from __future__ import annotations

import time

import pytest

from tests.sandbox.conftest import start_sandbox, stop_sandbox


@pytest.fixture(scope="module")
def sandbox():
    sb = start_sandbox()
    try:
        yield sb
    finally:
        stop_sandbox(sb)


@pytest.fixture
def dns_settings(settings, sandbox):
    """Point every DNS lookup and update at the sandbox's DNS server (never the internet)."""
    settings.LIVEOPS_DNS_RESOLVERS = [f"127.0.0.1:{sandbox.dns_port}"]
    settings.LIVEOPS_DNS_UPDATE_SERVER = f"127.0.0.1:{sandbox.dns_port}"
    settings.LIVEOPS_DNS_ZONE = "lab.test"
    settings.LIVEOPS_DNS_TSIG_KEY = ""
    return settings


def wait_for(predicate, timeout=30.0, interval=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")
