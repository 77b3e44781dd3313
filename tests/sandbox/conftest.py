"""A sandbox process shared by the tests of tests/sandbox/ (session-scoped)."""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = "/usr/bin/kubectl"


from tests.services import free_port, free_tcp_udp_port  # noqa: E402


@dataclass
class SandboxProcess:
    process: subprocess.Popen
    port: int
    kubeconfig: str
    dns_port: int
    pod_cidr: str
    node_cidr: str
    lb_cidr: str
    output: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        import yaml

        with open(self.kubeconfig) as f:
            config = yaml.safe_load(f)
        return config["users"][0]["user"]["token"]

    def kubectl(self, *args: str, check: bool = True, input: str | None = None,
                timeout: float = 30) -> subprocess.CompletedProcess:
        cmd = [KUBECTL, "--kubeconfig", self.kubeconfig, *args]
        result = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result

    def request(self, method: str, path: str, body=None, content_type: str = "application/json",
                **query) -> tuple[int, dict, object]:
        """A raw API request with the token: -> (status, headers, decoded JSON body)."""
        import json
        import urllib.error
        import urllib.parse
        import urllib.request

        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": content_type, "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, dict(resp.headers), json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), json.loads(e.read() or b"null")

    def api_client(self):
        from kubernetes import client, config

        configuration = client.Configuration()
        config.load_kube_config(config_file=self.kubeconfig, client_configuration=configuration)
        return client.ApiClient(configuration)


# Every test sandbox writes its kubeconfig below this directory (the product reads
# kubeconfig files only from configured directories: the tests configure this one).
SANDBOX_TMP = os.path.join(tempfile.gettempdir(), "liveops-test-sandboxes")


def start_sandbox(extra: tuple[str, ...] = (), octet: int | None = None) -> SandboxProcess:
    """A sandbox on free ports; its address ranges are 127.<octet>.x.x (random unless given,
    so two sandboxes can be given the same ranges)."""
    port = free_port()
    dns_port = free_tcp_udp_port()
    if octet is None:
        octet = random.randrange(30, 250)
    pod_cidr = f"127.{octet}.0.0/17"
    node_cidr = f"127.{octet}.128.0/24"
    lb_cidr = f"127.{octet}.129.0/24"
    os.makedirs(SANDBOX_TMP, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="sandbox-test-", dir=SANDBOX_TMP)
    kubeconfig = os.path.join(tmp, "kubeconfig")
    cmd = [
        sys.executable, "-m", "sandbox", "--port", str(port), "--kubeconfig", kubeconfig, "--fast",
        "--dns-port", str(dns_port), "--pod-cidr", pod_cidr, "--node-cidr", node_cidr,
        "--lb-cidr", lb_cidr, "--watch-history", "300", *extra,
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sandbox = SandboxProcess(proc, port, kubeconfig, dns_port, pod_cidr, node_cidr, lb_cidr)
    # As long as the cloud sandbox is given: parallel test workers start their sandboxes at once on a
    # busy machine. The wait ends as soon as the sandbox says it is ready.
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            if not line:
                break
            sandbox.output.append(line)
            if "ready" in line:
                _drain(proc)
                return sandbox
        if proc.poll() is not None:
            break
    stop_sandbox(sandbox)
    raise RuntimeError("sandbox did not become ready:\n" + "".join(sandbox.output))


def _drain(proc: subprocess.Popen) -> None:
    """Keep reading the process's output so a full pipe can never block it."""
    import threading

    def pump() -> None:
        assert proc.stdout is not None
        for _ in proc.stdout:
            pass

    threading.Thread(target=pump, daemon=True).start()


def stop_sandbox(sandbox: SandboxProcess) -> None:
    proc = sandbox.process
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def sandbox():
    sb = start_sandbox()
    try:
        yield sb
    finally:
        stop_sandbox(sb)


@pytest.fixture
def namespace(sandbox, request):
    """A fresh namespace for one test, deleted afterwards."""
    name = "t-" + request.node.name.replace("_", "-").lower()[:40].strip("-") + f"-{random.randrange(10**6)}"
    sandbox.kubectl("apply", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
    yield name
    sandbox.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="session", autouse=True)
def _wire_redis():
    """The sandbox is a standalone process: these tests need neither Redis nor Django."""
    yield
