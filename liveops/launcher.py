"""`make run`: start the whole product on its embedded defaults.

Starts a private Redis, the sandbox (cluster, cloud and DNS), a Celery worker
and beat, the cluster watcher and the web server; prints where to log in.
Ctrl-C stops every process it started.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("LIVEOPS_VAR_DIR", BASE / "var"))
PY = sys.executable

WEB_HOST = os.environ.get("LIVEOPS_HOST", "127.0.0.1")
WEB_PORT = int(os.environ.get("LIVEOPS_PORT", "8000"))
REDIS_PORT = int(os.environ.get("LIVEOPS_REDIS_PORT", "6390"))
SANDBOX_PORT = int(os.environ.get("LIVEOPS_SANDBOX_PORT", "16443"))
DNS_PORT = int(os.environ.get("LIVEOPS_SANDBOX_DNS_PORT", "15353"))
CLOUD_PORT = int(os.environ.get("LIVEOPS_SANDBOX_CLOUD_PORT", "16500"))
# The second demo cluster (its balancers are Taikun LB pairs in the same sandbox cloud).
TAIKUN_SANDBOX_PORT = int(os.environ.get("LIVEOPS_SANDBOX_TAIKUN_PORT", "16444"))


def port_in_use(port, host="127.0.0.1"):
    with socket.socket() as s:
        return s.connect_ex((host, port)) == 0


def wait_for_port(port, timeout=30.0, host="127.0.0.1"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_in_use(port, host):
            return True
        time.sleep(0.1)
    return False


class Supervisor:
    def __init__(self):
        self.procs: list[tuple[str, subprocess.Popen]] = []
        (VAR / "logs").mkdir(parents=True, exist_ok=True)

    def start(self, name, args, env=None, log=True):
        out = open(VAR / "logs" / f"{name}.log", "ab") if log else None
        proc = subprocess.Popen(
            args, cwd=BASE, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs.append((name, proc))
        return proc

    def stop(self):
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 10
        for _name, proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def watch(self):
        while True:
            for name, proc in self.procs:
                if proc.poll() is not None:
                    print(f"\n{name} stopped (exit {proc.returncode}); see var/logs/{name}.log. Stopping everything.")
                    return 1
            time.sleep(0.5)


def start_sandboxes(sup, env) -> int:
    """The demo cluster with its cloud (balancers left to this product), and a second cluster for Taikun LB."""
    clouds_yaml = VAR / "sandbox" / "clouds.yaml"
    taikun_kubeconfig = VAR / "sandbox-taikun" / "kubeconfig"
    (VAR / "sandbox").mkdir(parents=True, exist_ok=True)
    (VAR / "sandbox-taikun").mkdir(parents=True, exist_ok=True)
    clouds_yaml.unlink(missing_ok=True)
    taikun_kubeconfig.unlink(missing_ok=True)
    sandbox = sup.start("sandbox", [
        PY, "-m", "sandbox", "--port", str(SANDBOX_PORT), "--kubeconfig", env["LIVEOPS_KUBECONFIG"],
        "--dns-port", str(DNS_PORT), "--lb-provider", "external", "--cloud-port", str(CLOUD_PORT),
        "--clouds-yaml", str(clouds_yaml)])
    second = sup.start("sandbox-taikun", [
        PY, "-m", "sandbox", "--port", str(TAIKUN_SANDBOX_PORT), "--kubeconfig", str(taikun_kubeconfig),
        "--lb-provider", "external", "--pod-cidr", "127.40.0.0/16", "--node-cidr", "127.41.0.0/24",
        "--lb-cidr", "127.42.0.0/24"])
    for port, proc, name in ((SANDBOX_PORT, sandbox, "sandbox"), (CLOUD_PORT, sandbox, "sandbox"),
                             (TAIKUN_SANDBOX_PORT, second, "sandbox-taikun")):
        if not wait_for_port(port) or proc.poll() is not None:
            print(f"The {name} did not start; see var/logs/{name}.log")
            return 1
    deadline = time.monotonic() + 15
    while not (clouds_yaml.exists() and taikun_kubeconfig.exists()) and time.monotonic() < deadline:
        time.sleep(0.1)
    subprocess.run([PY, "manage.py", "seed_demo_clouds", "--clouds-yaml", str(clouds_yaml), "--kubeconfig",
                    env["LIVEOPS_KUBECONFIG"], "--taikun-kubeconfig", str(taikun_kubeconfig)], cwd=BASE, check=True)
    return 0


def _interrupt(_signum, _frame):
    raise KeyboardInterrupt


def main():
    use_sandbox = os.environ.get("LIVEOPS_SANDBOX", "1") != "0"
    # With the sandbox, DNS is its server; without it, the system resolvers (where the
    # real sslip.io works) and no student zone unless one is configured.
    dns_default = f"127.0.0.1:{DNS_PORT}" if use_sandbox else ""
    env = {
        "LIVEOPS_REDIS_URL": f"redis://127.0.0.1:{REDIS_PORT}/0",
        "LIVEOPS_KUBECONFIG": os.environ.get("LIVEOPS_KUBECONFIG", str(VAR / "sandbox" / "kubeconfig")),
        "LIVEOPS_DNS_RESOLVERS": os.environ.get("LIVEOPS_DNS_RESOLVERS", dns_default),
        "LIVEOPS_DNS_UPDATE_SERVER": os.environ.get("LIVEOPS_DNS_UPDATE_SERVER", dns_default),
        "LIVEOPS_DNS_ZONE": os.environ.get("LIVEOPS_DNS_ZONE", "lab.test" if use_sandbox else ""),
    }
    os.environ.update(env)
    ports = [(WEB_PORT, "the web server"), (REDIS_PORT, "Redis")]
    if use_sandbox:
        ports += [(SANDBOX_PORT, "the sandbox"), (CLOUD_PORT, "the sandbox cloud"),
                  (TAIKUN_SANDBOX_PORT, "the second sandbox cluster")]
    for port, what in ports:
        if port_in_use(port):
            print(f"Port {port} (for {what}) is already in use: is `make run` already running? Stop it first.")
            return 1

    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=BASE, check=True)

    sup = Supervisor()
    # Ctrl-C (even when started from a shell that ignores it) and SIGTERM stop everything.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        (VAR / "redis").mkdir(parents=True, exist_ok=True)
        sup.start(
            "redis",
            ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
             "--dir", str(VAR / "redis"), "--maxclients", "10000"],
        )
        if not wait_for_port(REDIS_PORT):
            print("Redis did not start; see var/logs/redis.log")
            return 1
        subprocess.run([PY, "manage.py", "seed_demo"], cwd=BASE, check=True)
        if use_sandbox and start_sandboxes(sup, env) != 0:
            return 1
        subprocess.run([PY, "manage.py", "reprovision_sessions"], cwd=BASE, check=False)
        # Balancer passes have their own worker: a lab's cleanup waits for its balancer to go, and must
        # never fill every process the controller's passes need.
        sup.start("celery-worker", [PY, "-m", "celery", "-A", "liveops", "worker", "-l", "info", "--concurrency", "4",
                                    "-Q", "celery", "-n", "worker@%h"])
        sup.start("celery-balancers", [PY, "-m", "celery", "-A", "liveops", "worker", "-l", "info", "--concurrency", "2",
                                       "-Q", "balancers", "-n", "balancers@%h"])
        # What follows a settled namespace (checks, traffic path): short tasks, never behind an apply. On one
        # machine it yields the cores to the watcher and the web server, which fan each change out to the
        # open pages (bench/ws_latency.py: change to frame p95 118 ms beside it at equal priority, 23 ms niced).
        sup.start("celery-live", ["nice", "-n", "10", PY, "-m", "celery", "-A", "liveops", "worker", "-l", "info",
                                  "--concurrency", "2", "-Q", "live", "-n", "live@%h"])
        sup.start("celery-beat", [PY, "-m", "celery", "-A", "liveops", "beat", "-l", "info",
                                  "-s", str(VAR / "celerybeat-schedule")])
        sup.start("watcher", [PY, "manage.py", "run_watcher"])
        sup.start("web", [PY, "-m", "uvicorn", "liveops.asgi:application", "--host", WEB_HOST, "--port", str(WEB_PORT),
                          "--ws-max-queue", "64", "--timeout-graceful-shutdown", "3"])
        if not wait_for_port(WEB_PORT, host=WEB_HOST):
            print("The web server did not start; see var/logs/web.log")
            return 1
        print()
        print(f"LiveOps Labs is running at http://{WEB_HOST}:{WEB_PORT}/")
        print("Log in with one of the accounts above (their passwords are kept in var/demo-logins.txt).")
        print("Logs are in var/logs/. Press Ctrl-C to stop everything.")
        return sup.watch()
    except KeyboardInterrupt:
        print("\nStopping...")
        return 0
    finally:
        sup.stop()


if __name__ == "__main__":
    sys.exit(main())
