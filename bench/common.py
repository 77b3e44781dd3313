"""Shared start/stop helpers of the benchmarks.

A `Stack` starts what a benchmark needs on free loopback ports, in a temporary
LIVEOPS_VAR_DIR with a fresh SQLite database: a private Redis, the sandbox
(--fast, a private 127.X range), and on request the watcher, uvicorn and a
Celery worker, each in its own process group. Everything it started is stopped
on exit, on error and on Ctrl-C (SIGTERM is turned into KeyboardInterrupt).

The benchmark process itself is also set up as a Django process on the same
database and Redis, so that it can create users, session cookies and
LabSession rows with the product's own models and functions.
"""

from __future__ import annotations

import gzip
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent
if str(BASE) not in sys.path:
    sys.path.insert(0, str(BASE))

from tests.services import (  # noqa: E402,F401
    PYTHON,
    Service,
    free_port,
    free_tcp_udp_port,
    tcp_connections_to,
    wait_for_port,
)

LAB = "loadbalancer"


def _raise_interrupt(*_):
    raise KeyboardInterrupt()


class Stack:
    """The processes of one benchmark run. Use as a context manager."""

    def __init__(self, name: str, keep: bool = False):
        self.name = name
        self.keep = keep
        self.var = Path(tempfile.mkdtemp(prefix=f"liveops-bench-{name}-"))
        self.logs = self.var / "logs"
        self.logs.mkdir()
        self.services: list[Service] = []
        self.env: dict[str, str] = {}
        self.sandbox_port = None
        self.kubeconfig = str(self.var / "sandbox" / "kubeconfig")
        self.web_port = None
        self.cluster = None

    # lifecycle

    def __enter__(self):
        self._old_term = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            self._start_base()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
        signal.signal(signal.SIGTERM, self._old_term)
        return False

    def start(self, name: str, args: list[str], env: dict | None = None) -> Service:
        svc = Service(name, args, {**self.env, **(env or {})}, log_dir=self.logs)
        self.services.append(svc)
        return svc

    def stop(self) -> None:
        for svc in reversed(self.services):
            try:
                svc.stop()
            except Exception as exc:  # keep stopping the others
                print(f"could not stop {svc.name}: {exc}", file=sys.stderr)
        self.services.clear()
        if not self.keep:
            shutil.rmtree(self.var, ignore_errors=True)
        else:
            print(f"kept {self.var} (logs in {self.logs})")

    # the base: Redis, the sandbox, the database

    def _start_base(self) -> None:
        redis_port = free_port()
        self.start("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--maxclients", "10000", "--dir", str(self.var)])
        wait_for_port(redis_port)
        self.redis_url = f"redis://127.0.0.1:{redis_port}/0"

        self.sandbox_port = free_port()
        self.dns_port = free_tcp_udp_port()
        octet = random.randrange(30, 250)
        (self.var / "sandbox").mkdir()
        sandbox = self.start("sandbox", [
            PYTHON, "-m", "sandbox", "--port", str(self.sandbox_port), "--kubeconfig", self.kubeconfig, "--fast",
            "--dns-port", str(self.dns_port), "--pod-cidr", f"127.{octet}.0.0/17",
            "--node-cidr", f"127.{octet}.128.0/24", "--lb-cidr", f"127.{octet}.129.0/24",
        ])
        sandbox.wait_for_log("ready", timeout=30)

        self.env = {
            "LIVEOPS_VAR_DIR": str(self.var),
            "LIVEOPS_DB_PATH": str(self.var / "db.sqlite3"),
            "LIVEOPS_REDIS_URL": self.redis_url,
            "LIVEOPS_KUBECONFIG": self.kubeconfig,
            "LIVEOPS_DNS_RESOLVERS": f"127.0.0.1:{self.dns_port}",
            "LIVEOPS_DNS_UPDATE_SERVER": f"127.0.0.1:{self.dns_port}",
            "LIVEOPS_LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "liveops.settings",
        }
        import subprocess

        subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=BASE,
                       env={**os.environ, **self.env}, check=True)
        os.environ.update(self.env)
        import django

        django.setup()
        from clouds.models import Cluster

        self.cluster, _ = Cluster.objects.update_or_create(
            name="sandbox", defaults={"kubeconfig_path": self.kubeconfig, "is_default": True})

    # the product's processes

    def start_watcher(self, kubeconfig: str | None = None) -> Service:
        """The watcher; with `kubeconfig`, the Cluster row points there first (e.g. a counting proxy)."""
        if kubeconfig:
            self.cluster.kubeconfig_path = kubeconfig
            self.cluster.save()
        svc = self.start("watcher", [PYTHON, "manage.py", "run_watcher"])
        svc.wait_for_log("watcher started", timeout=30)
        return svc

    def start_web(self, port: int | None = None, workers: int = 1) -> Service:
        """uvicorn on a free port (or on `port`: a restart); `workers` processes as the compose file runs 2."""
        self.web_port = port or free_port()
        svc = self.start("web", [PYTHON, "-m", "uvicorn", "liveops.asgi:application", "--host", "127.0.0.1",
                                 "--port", str(self.web_port), "--ws-max-queue", "64",
                                 "--timeout-graceful-shutdown", "3", "--log-level", "warning",
                                 *(["--workers", str(workers)] if workers > 1 else [])])
        wait_for_port(self.web_port, timeout=30)
        return svc

    def start_worker(self, concurrency: int = 4, queues: str = "", nice: int = 0) -> Service:
        """A prefork Celery worker (every queue, unless `queues`, e.g. "live"), at `nice` as the launcher
        runs the `live` queue's (below the watcher and the web server that fan changes out)."""
        name = f"celery-{queues}" if queues else "celery-worker"
        svc = self.start(name, [*(["nice", "-n", str(nice)] if nice else []), PYTHON, "-m", "celery", "-A", "liveops", "worker", "-l", "info",
                                "--concurrency", str(concurrency), "-n", f"bench-{queues or 'all'}-{os.getpid()}@%h",
                                *(["-Q", queues] if queues else [])])
        svc.wait_for_log("ready", timeout=60)
        return svc

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"


# -- students, cookies and sessions --------------------------------------------


def make_students(n: int, prefix: str = "student"):
    """n users (no usable password: they log in with a session cookie) and their cookies."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    User = get_user_model()
    unusable = make_password(None)
    User.objects.bulk_create([User(username=f"{prefix}{i:04d}", password=unusable) for i in range(n)])
    users = list(User.objects.filter(username__startswith=prefix).order_by("username"))
    return users, [session_cookie(u) for u in users]


def session_cookie(user) -> str:
    """A Django session for `user`, as a logged-in browser would hold it (the `sessionid` value)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return store.session_key


def make_ready_sessions(users, cluster, threads: int = 8):
    """A READY LabSession per user, its namespace provisioned by the product's own function."""
    from datetime import timedelta

    from django.db import close_old_connections
    from django.utils import timezone

    from labs.lifecycle import namespace_for
    from labs.lifecycle.namespace import provision
    from labs.models import LabSession

    sessions = []
    for user in users:
        s = LabSession(user=user, lab_slug=LAB, cluster=cluster, state=LabSession.State.READY,
                       ready_at=timezone.now(), expires_at=timezone.now() + timedelta(hours=4))
        s.namespace = namespace_for(user, s.id)
        sessions.append(s)
    LabSession.objects.bulk_create(sessions)

    def one(s):
        try:
            provision(s, lambda _msg: None)
        finally:
            close_old_connections()

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, sessions))
    return sessions


def core_api(kubeconfig: str):
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    configuration.connection_pool_maxsize = 16
    return client.CoreV1Api(client.ApiClient(configuration))


# -- process figures from /proc --------------------------------------------------


CLK_TCK = os.sysconf("SC_CLK_TCK")


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid:
            pids.append(int(entry))
    return pids


def cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of every process of a process group."""
    total = 0
    for pid in group_pids(pgid):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def rss_mib(pgid: int) -> float:
    total = 0
    for pid in group_pids(pgid):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


# -- figures ---------------------------------------------------------------------


def pct(values, p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def summary_ms(values) -> dict:
    ms = [v * 1000 for v in values]
    return {"count": len(ms), "p50": pct(ms, 50), "p95": pct(ms, 95), "p99": pct(ms, 99),
            "max": max(ms) if ms else float("nan"), "mean": statistics.fmean(ms) if ms else float("nan")}


def verdict(met: bool) -> str:
    """The last column of a summary table: a figure against its target."""
    return "met" if met else "NOT MET"


def gz(data: bytes) -> int:
    return len(gzip.compress(data, 6))


def table(rows: list[tuple], headers: tuple) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(c) -> str:
    if isinstance(c, float):
        return f"{c:.1f}"
    return str(c)


def run_main(parser, run) -> int:
    """Parse the arguments (adding --keep) and run, reporting Ctrl-C as an interruption."""
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory and logs")
    args = parser.parse_args()
    try:
        return run(args)
    except KeyboardInterrupt:
        print("interrupted; stopped everything")
        return 130


# -- sampling profiles (py-spy, when installed) ----------------------------------


def start_profiler(pid: int, output: Path, rate: int = 50):
    """Sample a process and its children with py-spy (when installed) into `output` as raw stacks; None
    without py-spy. Threads that wait on a socket or a lock are left out; one that waits for a CPU on a busy
    machine is not, so the shares say where the time of the working threads went."""
    import subprocess

    spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
    if not os.path.exists(spy):
        print("py-spy is not installed (.venv/bin/pip install py-spy): no profile", file=sys.stderr)
        return None
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--rate", str(rate),
                             "--format", "raw", "--output", str(output)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_profiler(profiler) -> None:
    """Stop sampling; py-spy writes its file on SIGINT."""
    if profiler is None:
        return
    profiler.send_signal(signal.SIGINT)
    try:
        profiler.wait(30)
    except Exception:  # noqa: BLE001
        profiler.kill()


def profile_summary(path: Path, top: int = 25) -> str:
    """The functions of the product (and then any) found in most samples of a raw py-spy file: inclusive
    share (the function or what it called) and own share (the function itself was running)."""
    if not path.exists():
        return "  (no profile)"
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f.split(" (", 1)[0] + " " + _short(f) for f in stack.split(";")[1:]]
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
        if frames:
            own[frames[-1]] = own.get(frames[-1], 0) + n
    if not total:
        return "  (no samples)"
    # py-spy names files relative to their sys.path entry: the product's are those found in this tree.
    ours = sorted((f for f in inclusive if _in_product(f)), key=inclusive.get, reverse=True)
    rows = [(f, 100 * inclusive[f] / total, 100 * own.get(f, 0) / total) for f in ours[:top]]
    hottest = sorted(own, key=own.get, reverse=True)[:10]
    rows += [("(own) " + f, 100 * inclusive[f] / total, 100 * own[f] / total) for f in hottest]
    return table(rows, (f"{total} samples", "incl %", "own %"))


def _in_product(frame: str) -> bool:
    where = frame.rpartition(" (")[2].rstrip(")")
    return bool(where) and not where.startswith(("bench/", "tests/")) and (BASE / where).is_file()


def _short(frame: str) -> str:
    """`fn (path/to/file.py:12)` -> `(path/to/file.py)`: one entry per function, not per line."""
    if " (" not in frame:
        return ""
    where = frame.split(" (", 1)[1].rstrip(")")
    return "(" + where.rsplit(":", 1)[0] + ")"
