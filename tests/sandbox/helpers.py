"""Small helpers shared by the sandbox behaviour tests."""

from __future__ import annotations

import json
import socket
import time
import urllib.request


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.1, message: str = "condition"):
    """Poll until predicate() returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message} (last value: {last!r})")


def get_json(sandbox, *args: str) -> dict:
    return json.loads(sandbox.kubectl("get", *args, "-o", "json").stdout)


def external_ip(sandbox, namespace: str, service: str) -> str | None:
    svc = get_json(sandbox, "-n", namespace, "svc", service)
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return ingress[0].get("ip") if ingress else None


def http_get(ip: str, port: int = 80, path: str = "/", timeout: float = 3.0):
    """-> (status, headers, body) of a plain GET."""
    with urllib.request.urlopen(f"http://{ip}:{port}{path}", timeout=timeout) as r:
        return r.status, dict(r.headers), r.read().decode()


def answers(ip: str, port: int = 80) -> bool:
    """True if something accepts a TCP connection and answers an HTTP request."""
    try:
        with socket.create_connection((ip, port), timeout=1) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            s.settimeout(1)
            return bool(s.recv(1))
    except OSError:
        return False


def events(sandbox, namespace: str, name: str | None = None) -> list[dict]:
    items = get_json(sandbox, "-n", namespace, "events")["items"]
    if name is not None:
        items = [e for e in items if e["involvedObject"]["name"] == name]
    return items


def reasons(sandbox, namespace: str, name: str | None = None) -> set[str]:
    return {e["reason"] for e in events(sandbox, namespace, name)}
