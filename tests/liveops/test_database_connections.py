"""The web process keeps no database connection of a finished request (its sockets' threads keep theirs)."""

import os

import pytest
import requests
from django.db import connection

from tests.services import PYTHON, Service, database_env, free_port, tcp_connections_to, wait_for_port

pytestmark = pytest.mark.django_db(transaction=True)


def open_connections(pid: int, settings_dict: dict) -> int:
    """Database connections process `pid` holds: SQLite files it has open, or TCP connections to PostgreSQL."""
    if not settings_dict["ENGINE"].endswith("sqlite3"):
        return tcp_connections_to(pid, int(settings_dict["PORT"] or 5432))
    name = os.path.realpath(settings_dict["NAME"])
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}") == name
        except OSError:  # closed meanwhile
            continue
    return count


def test_it_keeps_no_connection_of_a_finished_request(redis_url):
    """Each request's sync code runs in a thread of its own: a connection kept there would never be used
    again, and they piled up (one every few requests) until the process ran out of files."""
    env = {**database_env(connection.settings_dict), "LIVEOPS_REDIS_URL": redis_url}
    port = free_port()
    web = Service(f"web-{port}", [PYTHON, "-m", "uvicorn", "liveops.asgi:application", "--host", "127.0.0.1",
                                  "--port", str(port)], env=env)
    try:
        wait_for_port(port, timeout=60)
        with requests.Session() as http:
            for _ in range(60):
                body = http.get(f"http://127.0.0.1:{port}/readyz", timeout=10).json()
                assert body["database"]["ok"], body  # the request did read the database
        assert open_connections(web.proc.pid, connection.settings_dict) == 0
    finally:
        web.stop()
