"""A sandbox with its OpenStack cloud (`--cloud-port`), shared by tests/sandbox/openstack/.

The tests talk to it only through openstacksdk (`openstack.connect(cloud=...)` with the
clouds.yaml it writes), plain HTTP and the kubernetes client (for the pods that real
traffic must reach). LoadBalancer Services are left to "an outside controller"
(`--lb-provider external`): the cloud's balancers forward to the nodes' nodePorts.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import socket
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import yaml

from tests.sandbox import helpers
from tests.sandbox.conftest import SANDBOX_TMP
from tests.services import PYTHON, Service, free_port, wait_for_port


@dataclass
class CloudSandbox:
    service: Service
    api_port: int
    cloud_port: int
    kubeconfig: str
    clouds_yaml: str
    node_cidr: str
    floating_cidr: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.cloud_port}"

    @property
    def clouds(self) -> dict:
        with open(self.clouds_yaml) as f:
            return yaml.safe_load(f)

    def connect(self, cloud: str = "sandbox", **auth_changes):
        """An openstacksdk Connection from the generated clouds.yaml (with `auth_changes`
        applied to the cloud's auth section, through a copy of the file)."""
        import openstack

        path = self.clouds_yaml
        if auth_changes:
            data = self.clouds
            data["clouds"][cloud]["auth"].update(auth_changes)
            fd, path = tempfile.mkstemp(suffix=".yaml", prefix="clouds-")
            with os.fdopen(fd, "w") as f:
                yaml.safe_dump(data, f)
        os.environ["OS_CLIENT_CONFIG_FILE"] = path
        return openstack.connect(cloud=cloud)

    def faults(self, **changes) -> dict:
        """Read (no arguments) or change the fault switches through the admin endpoint."""
        token = self.clouds["sandbox"]["admin_token"]
        status, body = http("POST" if changes else "GET", self.url + "/sandbox/faults", body=changes or None,
                            headers={"X-Sandbox-Admin-Token": token})
        assert status == 200, body
        return body

    def kube(self):
        from kubernetes import config

        return config.new_client_from_config(config_file=self.kubeconfig)


def http(method: str, url: str, body=None, headers: dict | None = None, timeout: float = 10):
    """-> (status, decoded JSON body or text)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw, ctype = resp.status, resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        status, raw, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
    if "json" in ctype:
        return status, json.loads(raw or b"null")
    return status, raw.decode(errors="replace")


# How long a test waits for the cloud or the cluster to reach a state: generous, as a
# client of a real cloud waits (the sandbox's delays are near zero with --fast, but a
# machine shared by several test runs can be slow). Waits end as soon as the state is there.
WAIT = 60.0


def wait_for(predicate, timeout: float = WAIT, interval: float = 0.05, message: str = "condition"):
    return helpers.wait_for(predicate, timeout=timeout, interval=interval, message=message)


@contextlib.contextmanager
def running_cloud(name: str, cls: type[CloudSandbox] = CloudSandbox, *extra: str, fip_quota: int = 50):
    """A sandbox cluster with its OpenStack cloud on free ports and a private 127.X range, as `cls`; stopped
    on leaving. `extra`: more sandbox arguments."""
    api_port, cloud_port = free_port(), free_port()
    octet = random.randrange(30, 250)
    os.makedirs(SANDBOX_TMP, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f"{name}-", dir=SANDBOX_TMP)
    kubeconfig = os.path.join(tmp, "kubeconfig")
    node_cidr, floating_cidr = f"127.{octet}.128.0/24", f"127.{octet}.130.0/24"
    service = Service(f"{name}-{cloud_port}", [
        PYTHON, "-m", "sandbox", "--port", str(api_port), "--kubeconfig", kubeconfig, "--fast",
        "--pod-cidr", f"127.{octet}.0.0/17", "--node-cidr", node_cidr, "--lb-cidr", f"127.{octet}.129.0/24",
        "--lb-provider", "external", "--cloud-port", str(cloud_port), "--floating-cidr", floating_cidr,
        "--cloud-fip-quota", str(fip_quota), *extra,
    ])
    try:
        service.wait_for_log("sandbox ready", timeout=60)
        wait_for_port(cloud_port)
        yield cls(service, api_port, cloud_port, kubeconfig, os.path.join(tmp, "clouds.yaml"), node_cidr,
                  floating_cidr)
    finally:
        service.stop()


@pytest.fixture(scope="session")
def cloud():
    with running_cloud("sandbox-cloud-test") as sandbox:
        yield sandbox


@pytest.fixture
def conn(cloud):
    connection = cloud.connect("sandbox")
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def web_app(cloud):
    """A Deployment of nginx (2 replicas) and a Service of type LoadBalancer in a fresh
    namespace: -> (namespace, the Service's nodePort, the node addresses)."""
    from kubernetes import client

    api = cloud.kube()
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    ns = f"web-{random.randrange(10**6)}"
    core.create_namespace({"metadata": {"name": ns}})
    labels = {"app": "web"}
    apps.create_namespaced_deployment(ns, {
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}}},
    })
    svc = core.create_namespaced_service(ns, {
        "metadata": {"name": "web"},
        "spec": {"type": "LoadBalancer", "selector": labels, "ports": [{"port": 80, "targetPort": 80}]},
    })
    node_port = svc.spec.ports[0].node_port

    def ready():
        ep = core.read_namespaced_endpoints("web", ns)
        return sum(len(s.addresses or []) for s in ep.subsets or []) == 2
    wait_for(ready, message="2 ready endpoints")
    nodes = [a.address for n in core.list_node().items for a in n.status.addresses if a.type == "InternalIP"]
    yield ns, node_port, sorted(nodes)
    core.delete_namespace(ns)
    api.close()


def http_get(ip: str, port: int, timeout: float = 10.0):
    """-> (status, headers, body) of a GET on ip:port, or None if nothing answers."""
    try:
        with urllib.request.urlopen(f"http://{ip}:{port}/", timeout=timeout) as r:
            return r.status, dict(r.headers), r.read().decode()
    except (OSError, urllib.error.URLError):
        return None


def refused(ip: str, port: int, timeout: float = 10.0) -> bool:
    """True once nothing listens on ip:port any more (the connection is refused)."""
    with socket.socket() as s:
        s.settimeout(timeout)
        return s.connect_ex((ip, port)) == errno.ECONNREFUSED


class Backend:
    """A TCP server on 127.0.0.1 standing for the members behind a balancer: it reads
    each connection until `complete(data)`, keeps what it got in `received` and answers
    `ok`. It answers every connection, so a client that gave up waiting on a loaded
    machine can simply try again, as a client of a real cloud would."""

    def __init__(self, complete: Callable[[bytes], bool]) -> None:
        self.complete = complete
        self.received: list[bytes] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                peer, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._answer, args=(peer,), daemon=True).start()

    def _answer(self, peer: socket.socket) -> None:
        with peer:
            peer.settimeout(60)
            data = b""
            try:
                while not self.complete(data):
                    chunk = peer.recv(1024)
                    if not chunk:
                        return
                    data += chunk
                self.received.append(data)
                peer.sendall(b"ok")
            except OSError:
                pass

    def close(self) -> None:
        self._closed.set()
        self._sock.close()


def exchange(ip: str, port: int, payload: bytes, timeout: float = 10.0) -> bytes | None:
    """Send `payload` to ip:port and return the first answer, or None if there is none."""
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s:
            s.sendall(payload)
            return s.recv(16) or None
    except OSError:
        return None
