"""scripts/ensure-debian-packages (run by `make run` and `make test`) with apt and dpkg replaced by stubs.

It used to fail at once when another apt or dpkg process (unattended-upgrades, a second `make`) held
the package lock; it waits for the lock now, and still does nothing when everything is installed.
"""

import os
import stat
import subprocess
from pathlib import Path

from django.conf import settings

SCRIPT = Path(settings.BASE_DIR) / "scripts" / "ensure-debian-packages"
LOCKED = "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (unattended-upgr)"


def stub(folder, name, body):
    path = folder / name
    path.write_text(f"#!/usr/bin/env bash\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def machine(tmp_path, *, installed, locked_for):
    """Stubs on PATH: root, `installed` packages, and an apt-get refused for the lock `locked_for` times."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub(bin_dir, "id", "echo 0")
    stub(bin_dir, "dpkg-query", f'[[ " {" ".join(installed)} " == *" ${{@: -1}} "* ]] && echo "install ok installed"')
    stub(
        bin_dir,
        "apt-get",
        f"""echo "$@" >> {tmp_path}/apt-calls
tries=$(wc -l < {tmp_path}/apt-calls)
if [ "$tries" -le {locked_for} ]; then echo "{LOCKED}" >&2; exit 100; fi
echo "Setting up $*"
""",
    )
    return bin_dir


def ensure(tmp_path, bin_dir, *packages, wait="30"):
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "ENSURE_DEBIAN_LOCK_WAIT": wait,
        "ENSURE_DEBIAN_LOCK_POLL": "0.1",
    }
    return subprocess.run([SCRIPT, *packages], env=env, capture_output=True, text=True, timeout=60)


def apt_calls(tmp_path):
    calls = tmp_path / "apt-calls"
    return calls.read_text().splitlines() if calls.exists() else []


def test_it_waits_while_another_apt_holds_the_lock_and_then_installs(tmp_path):
    bin_dir = machine(tmp_path, installed=[], locked_for=2)
    result = ensure(tmp_path, bin_dir, "gettext")
    assert result.returncode == 0, result.stderr
    assert "another apt or dpkg process holds the package lock" in result.stderr
    assert LOCKED in result.stderr  # apt's own words: whom it waits for
    calls = apt_calls(tmp_path)
    assert len(calls) == 3
    assert calls[-1] == "-o DPkg::Lock::Timeout=30 install -y --no-install-recommends gettext"


def test_a_lock_held_too_long_fails_with_a_clear_message_and_no_update(tmp_path):
    bin_dir = machine(tmp_path, installed=[], locked_for=1000)
    result = ensure(tmp_path, bin_dir, "gettext", wait="1")
    assert result.returncode == 75
    assert "the package lock is still held after 1 s" in result.stderr
    assert not any(" update" in call for call in apt_calls(tmp_path))


def test_nothing_is_done_or_said_when_everything_is_installed(tmp_path):
    bin_dir = machine(tmp_path, installed=["gettext", "chromium"], locked_for=0)
    result = ensure(tmp_path, bin_dir, "gettext", "chromium")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert apt_calls(tmp_path) == []
