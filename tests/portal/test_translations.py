"""Every user-facing string has its Chinese translation, and the compiled catalog is current."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import translation

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["manage.py", "portal", "branches", "assessments", "templates", "locale"]


def untranslated(po_file):
    result = subprocess.run(
        ["msgattrib", "--untranslated", "--no-obsolete", str(po_file)], capture_output=True, text=True, check=True
    )
    fuzzy = subprocess.run(
        ["msgattrib", "--only-fuzzy", "--no-obsolete", str(po_file)], capture_output=True, text=True, check=True
    )
    ids = [line for line in (result.stdout + fuzzy.stdout).splitlines() if line.startswith("msgid ")]
    return [line for line in ids if line != 'msgid ""']


def test_no_string_in_the_code_lacks_a_chinese_translation(tmp_path):
    if not shutil.which("xgettext"):
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("gettext is missing (make test installs it as root)")
        pytest.skip("needs gettext (xgettext, msgattrib): make test installs it when run as root")
    copy = tmp_path / "src"
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            copy.mkdir(exist_ok=True)
            shutil.copy(source, copy / name)
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "--no-location", "-v0"],
        cwd=copy,
        check=True,
        env={**os.environ, "PYTHONPATH": str(copy)},
    )
    missing = untranslated(copy / "locale/zh_Hans/LC_MESSAGES/django.po")
    assert missing == [], "translate these in locale/zh_Hans/LC_MESSAGES/django.po: " + "; ".join(missing)


def test_the_committed_catalog_is_compiled():
    po = ROOT / "locale/zh_Hans/LC_MESSAGES/django.po"
    mo = ROOT / "locale/zh_Hans/LC_MESSAGES/django.mo"
    assert mo.exists()
    with translation.override("zh-hans"):
        assert translation.gettext("Sign in") == "登录"
        assert translation.gettext("Party branch") == "党支部"
    assert po.stat().st_size > 0
