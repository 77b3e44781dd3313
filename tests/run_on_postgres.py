"""Run the database-backed tests again on PostgreSQL: a private server, started and stopped here.

    python tests/run_on_postgres.py tests/labs tests/clouds [pytest options]

The server runs on a free loopback port with its data in a temporary directory, so two test runs
(or a test run beside `make run`) never share it. pytest's exit status is this script's.
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
        return subprocess.run([sys.executable, "-m", "pytest", *argv], env=env).returncode
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
