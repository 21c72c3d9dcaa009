"""Hostile input, counted: runs the fuzzing tests (tests/hostile.py and the tests that use it) with many more
examples than the suite, and prints what was tried per target and in all, with the server errors and partial saves
found (the budget: 0 and 0).

    bench/hostile [--examples 200] [-- extra pytest options]

Runs on the database of DATABASE_URL when set (PostgreSQL, as production), else on SQLite. Prints `name: value`
lines: `hostile_<kind>_targets`, `hostile_<kind>_tried` per kind of target (form, query, command, service), then
`hostile_tried`, `hostile_server_errors`, `hostile_partial_saves`, `hostile_failed_tests`, and the seconds taken.
"""

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = [
    "tests/portal/test_hostile_forms.py",
    "tests/portal/test_hostile_commands.py",
    "tests/branches/test_hostile_services.py",
    "tests/assessments/test_hostile_services.py",
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200, help="generated inputs per target (the suite uses 12)")
    parser.add_argument("pytest_args", nargs="*", help="passed on to pytest (after --)")
    options = parser.parse_args()
    tests = [test for test in TESTS if (ROOT / test).exists()]
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "hostile.jsonl"
        env = {**os.environ, "HOSTILE_EXAMPLES": str(options.examples), "HOSTILE_REPORT": str(report)}
        started = time.monotonic()
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests, *options.pytest_args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        seconds = time.monotonic() - started
        text = report.read_text(encoding="utf-8") if report.exists() else ""
        lines = [json.loads(line) for line in text.splitlines()]
    failed = [line for line in run.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    targets, tried = collections.defaultdict(set), collections.Counter()
    totals = collections.Counter()
    for line in lines:
        kind = line["target"].split()[0]
        targets[kind].add(line["target"])  # a target reports once per test that fuzzes it
        tried[kind] += line["tried"]
        for figure in ("tried", "server_errors", "partial_saves"):
            totals[figure] += line.get(figure, 0)
    print(f"hostile_examples_per_target: {options.examples}")
    for kind in sorted(targets):
        print(f"hostile_{kind}_targets: {len(targets[kind])}")
        print(f"hostile_{kind}_tried: {tried[kind]}")
    print(f"hostile_tried: {totals['tried']}")
    print(f"hostile_server_errors: {totals['server_errors']}")
    print(f"hostile_partial_saves: {totals['partial_saves']}")
    print(f"hostile_failed_tests: {len(failed)}")
    print(f"hostile_seconds: {seconds:.0f}")
    for line in failed:
        print(f"  {line}")
    # Per target (each form, page, command, service): what was tried, server errors, partial saves.
    per_target = collections.defaultdict(collections.Counter)
    for line in lines:
        for figure in ("tried", "server_errors", "partial_saves"):
            per_target[line["target"]][figure] += line.get(figure, 0)
    for target in sorted(per_target):
        name = "".join(c if c.isalnum() else "_" for c in target)
        tried, errors, partial = (per_target[target][key] for key in ("tried", "server_errors", "partial_saves"))
        print(f"hostile_{name}: {tried} tried, {errors} 5xx, {partial} partial")
    if run.returncode not in (0, 1):
        print(run.stdout[-3000:], run.stderr[-3000:], sep="\n")
    return 0 if run.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
