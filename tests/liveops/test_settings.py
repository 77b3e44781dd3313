"""Production settings: `check --deploy` clean behind HTTPS, and the var directory private to the product."""

import os
import stat
import subprocess
import sys
from pathlib import Path

BASE = Path(__file__).resolve().parents[2]


def run_manage(*args, env):
    # As a deployment runs it: without the switch the browser tests set for themselves, on the product's
    # own settings (not the test run's, tests/settings.py).
    base = {k: v for k, v in os.environ.items()
            if k not in ("DJANGO_ALLOW_ASYNC_UNSAFE", "DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=BASE, capture_output=True, text=True,
                          env={**base, **env}, timeout=120)


def test_it_passes_the_deployment_checks_behind_https(tmp_path):
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env={
        "LIVEOPS_HTTPS": "1", "LIVEOPS_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SECRET_KEY": "a-production-key-" + "x7Qp3Lr9Zs2Kd8" * 4})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_it_keeps_its_files_to_its_own_user(tmp_path):
    var = tmp_path / "var"
    result = run_manage("migrate", "--noinput", "-v", "0", env={"LIVEOPS_VAR_DIR": str(var),
                                                                 "DJANGO_SECRET_KEY": ""})
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(var.stat().st_mode) == 0o700
    for name in ("secret_key", "db.sqlite3"):
        assert stat.S_IMODE((var / name).stat().st_mode) == 0o600, name
    assert not [p for p in var.iterdir() if p.name.startswith(".secret_key.")]
    key = (var / "secret_key").read_text()
    run_manage("check", env={"LIVEOPS_VAR_DIR": str(var), "DJANGO_SECRET_KEY": ""})
    assert (var / "secret_key").read_text() == key  # made once, then kept
