"""The floors of the design, checked: branches imports neither assessments nor portal, and
assessments does not import portal (the import contract in pyproject.toml, run by import-linter)."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("branches", "assessments", "portal")
LINT = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True, no_logo=True))"


def lint(folder):
    return subprocess.run([sys.executable, "-c", LINT], cwd=folder, capture_output=True, text=True, timeout=120)


def test_the_apps_keep_to_their_floors():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_ground_floor_import_of_the_top_floor_breaks_the_contract(tmp_path):
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    for app in APPS:
        shutil.copytree(ROOT / app, tmp_path / app, ignore=shutil.ignore_patterns("migrations", "__pycache__"))
    with open(tmp_path / "branches" / "selectors.py", "a") as selectors:
        selectors.write("\nfrom portal import notices  # noqa\n")

    result = lint(tmp_path)

    assert result.returncode == 1
    assert "branches.selectors -> portal.notices" in result.stdout
