"""Migrations are committed for every model change and can be undone."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def manage(tmp_path, *args):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env["PORTAL_VAR_DIR"] = str(tmp_path)
    script = (
        "import os, sys, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'portal.settings';"
        "from django.conf import settings;"
        f"settings.DATABASES['default']['NAME'] = {str(tmp_path / 'm.sqlite3')!r};"
        "django.setup(); from django.core.management import call_command;"
        "call_command(*sys.argv[1:], verbosity=0)"
    )
    return subprocess.run(
        [sys.executable, "-c", script, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_no_model_change_lacks_a_migration(tmp_path):
    result = manage(tmp_path, "makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_migration_can_be_undone_and_redone(tmp_path):
    for args in (("migrate",), ("migrate", "branches", "zero"), ("migrate",)):
        result = manage(tmp_path, *args)
        assert result.returncode == 0, f"{args}: {result.stderr[-1500:]}"
