"""Run the database-backed tests again on PostgreSQL: a private server, started and stopped here.

    python tests/run_on_postgres.py tests/labs tests/clouds [pytest options, e.g. -n 3]

Only the tests that use the database run (`--database-tests-only`: those that ask pytest-django for
it; pytest-django refuses database access to the others, so they cannot behave differently here).
The server runs on a free loopback port with its data in a temporary directory, so two test runs
(or a test run beside `make run`) never share it; under pytest-xdist each worker has its own test
database on it (pytest-django names them test_liveops_gw0, test_liveops_gw1, ...). pytest's exit
status is this script's.
"""

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.services import start_postgres  # noqa: E402


def main(argv: list[str]) -> int:
    server, url = start_postgres()
    try:
        env = {**os.environ, "DATABASE_URL": url}
        print(f"PostgreSQL test run against {url}", flush=True)
        return subprocess.run([sys.executable, "-m", "pytest", "--database-tests-only", *argv], env=env).returncode
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
