"""Run every benchmark in turn with modest defaults (`make bench`, a few minutes).

Each script starts and stops its own processes; one failing does not stop the
others. Pass --full for the scripts' own (larger) defaults.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

MODEST = [
    ("sandbox_writes.py", ["--namespaces", "300", "--rate", "200", "--duration", "10"]),
    ("ws_latency.py", ["--sessions", "200", "--rate", "100", "--duration", "10"]),
    ("mass_reconnect.py", ["--sessions", "200"]),
    ("api_connections.py", ["--sessions", "10,100,300", "--window", "20"]),
    ("class_start.py", ["--students", "30", "--spread", "3"]),
    ("page_render.py", ["--requests", "50", "--students", "20", "--per-student", "5"]),
    ("dashboard_latency.py", ["--students", "200", "--changes", "20", "--window", "10"]),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="use each script's own defaults")
    args = parser.parse_args()
    failed = []
    for script, flags in MODEST:
        flags = [] if args.full else flags
        command = [sys.executable, str(HERE / script), *flags]
        print(f"\n=== {script} {' '.join(flags)}", flush=True)
        started = time.monotonic()
        try:
            code = subprocess.run(command, cwd=HERE.parent).returncode
        except KeyboardInterrupt:
            print("interrupted")
            return 130
        print(f"=== {script}: exit {code} after {time.monotonic() - started:.0f} s", flush=True)
        if code:
            failed.append(script)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
