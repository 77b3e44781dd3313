"""Start and stop the real services tests need (Redis, Celery, the web server)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_tcp_udp_port() -> int:
    """A loopback port free for both TCP and UDP (a DNS server listens on both)."""
    for _ in range(50):
        port = free_port()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port for DNS")


def tcp_connections_to(pid: int | str, port: int) -> int:
    """Established TCP connections of process `pid` ("self" for this one) to remote `port`, from /proc."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return 0
    count = 0
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "01" and int(parts[2].rsplit(":", 1)[1], 16) == port and parts[9] in inodes:
                count += 1
    return count


def wait_for_port(port: int, timeout: float = 30.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout}s")


def service_log_dir() -> Path:
    """This test process's own folder for its services' logs, var/test-logs/<pid>/: two test runs,
    or two workers of one parallel run, start services of the same name and must never read
    each other's log (a "ready" line from another run's worker would be taken for this one's)."""
    return BASE / "var" / "test-logs" / str(os.getpid())


class Service:
    """A subprocess in its own process group, stopped with everything it started."""

    def __init__(self, name: str, args: list[str], env: dict | None = None, log_dir: Path | None = None):
        self.name = name
        log_dir = log_dir or service_log_dir()
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            args, cwd=BASE, env={**os.environ, **(env or {})}, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n{self.log()[-3000:]}")
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not print {text!r} in {timeout}s:\n{self.log()[-3000:]}")

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            except ProcessLookupError:
                pass
        self._log.close()


def start_redis(port: int | None = None, data_dir: Path | None = None) -> tuple[Service, str]:
    """A private Redis: -> (service, URL). With `data_dir`, it keeps its data there as a production Redis
    should (append-only file, written every second and at shutdown), so a restart on the same port and
    directory (`restart_redis`) finds the queued tasks again; without, a restart loses everything."""
    port = port or free_port()
    persistence = ["--appendonly", "no"]
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        persistence = ["--appendonly", "yes", "--appendfsync", "everysec", "--dir", str(data_dir)]
    svc = Service(
        f"redis-{port}",
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", *persistence],
    )
    wait_for_port(port)
    return svc, f"redis://127.0.0.1:{port}/0"


def restart_redis(svc: Service, url: str, data_dir: Path | None = None, while_down=None) -> Service:
    """Stop a Redis from `start_redis` (SIGTERM: it writes its append-only file and exits), run
    `while_down()`, start it again on the same port (and data directory): -> the new service."""
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    svc.stop()
    if while_down:
        while_down()
    return start_redis(port, data_dir)[0]


PYTHON = sys.executable


def postgres_bin(name: str) -> str:
    """A PostgreSQL server program from Debian's packages (the newest version installed)."""
    root = Path("/usr/lib/postgresql")
    versions = sorted((p for p in root.glob("*/bin") if (p / name).exists()), key=lambda p: int(p.parent.name))
    if not versions:
        raise RuntimeError("PostgreSQL is not installed (Debian package postgresql); `make test` installs it")
    return str(versions[-1] / name)


def start_postgres() -> tuple[Service, str]:
    """A private PostgreSQL server on a free loopback port, its data in a fresh directory: -> (service, URL).

    As root (CI), the server runs as the `postgres` user, which PostgreSQL requires.
    """
    import pwd
    import shutil
    import tempfile

    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="liveops-pg-"))
    as_user: list[str] = []
    if os.getuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(data, pg.pw_uid, pg.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_user, postgres_bin("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                    "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
    svc = Service(f"postgres-{port}", [*as_user, postgres_bin("postgres"), "-D", str(data), "-p", str(port),
                                       "-k", str(data), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                                       "-c", "max_connections=200"])
    stop = svc.stop

    def stop_and_clean():
        stop()
        shutil.rmtree(data, ignore_errors=True)

    svc.stop = stop_and_clean
    wait_for_port(port)
    return svc, f"postgres://postgres@127.0.0.1:{port}/liveops"


def database_env(settings_dict: dict) -> dict:
    """What a product process started by a test needs to use the test database."""
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return {"LIVEOPS_DB_PATH": str(settings_dict["NAME"])}
    return {"DATABASE_URL": f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}/"
                            f"{settings_dict['NAME']}"}
