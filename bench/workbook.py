"""Benchmark: a workbook import of 10,000 organizations and 100,000 members (and a secretary per branch).

    DATABASE_URL=postgres://… .venv/bin/python bench/workbook.py [--orgs 10000] [--members 100000]

Runs on the database of DATABASE_URL (migrated first; a root organization `BENCH` is added under which
everything goes). Builds the workbook, then times the check (preview), the apply (one transaction) and a
second check of the same file (every row unchanged), with the queries each made and the peak memory of
the process. Budget: the apply of 10,000 organizations and 100,000 members ≤ 60 s, in bounded memory.
"""

import argparse
import io
import os
import resource
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")


def build(orgs, members, root_code):
    from openpyxl import Workbook

    from branches import workbook

    book = Workbook(write_only=True)
    sheets = {}
    for sheet in workbook.SHEETS:
        sheets[sheet.key] = book.create_sheet(workbook._in_file_language(sheet.title))
        sheets[sheet.key].append(workbook._headers(sheet))
    committees = max(1, orgs // 100)
    branches = []
    for c in range(committees):
        code = f"{root_code}-{c:03d}"
        sheets["organizations"].append([code, f"第{c}党委", "基层党委", root_code, "农村", date(2000, 1, 1), None])
        for b in range(orgs // committees - 1):
            branch = f"{code}-{b:03d}"
            branches.append(branch)
            sheets["organizations"].append([branch, f"第{c}-{b}支部", "党支部", code, "农村", date(2001, 1, 1), 30])
    for m in range(members):
        branch = branches[m % len(branches)]
        sheets["members"].append(
            [
                f"M{m:07d}",
                f"党员{m}",
                "男" if m % 3 else "女",
                "正式党员",
                date(1990 + m % 30, 7, 1),
                None,
                branch,
                None,
                None,
                None,
            ]
        )
    for i, branch in enumerate(branches):
        sheets["cadres"].append([branch, f"党员{i}", f"M{i:07d}", "书记", "兼职", "否", date(2024, 1, 1), None])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--orgs", type=int, default=10000)
    parser.add_argument("--members", type=int, default=100000)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    call_command("migrate", verbosity=0)
    from branches import access, services
    from branches.models import Organization

    system = access.system_user()
    code = f"BENCH{int(time.time()) % 100000}"
    root = services.organization_create(
        parent=None, kind="committee", data={"code": code, "name": "基准测试县委", "sector": "organ"}, by=system
    )
    started = time.perf_counter()
    content = build(args.orgs, args.members, code)
    print(f"workbook_bytes: {len(content)}")
    print(f"build_s: {time.perf_counter() - started:.1f}")

    def timed(name, call):
        reset_queries()
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            result = call()
            seconds = time.perf_counter() - started
        print(f"{name}_s: {seconds:.1f}")
        print(f"{name}_queries: {len(queries)}")
        return result

    record = timed(
        "upload",
        lambda: services.workbook_upload(organization=root, upload=SimpleUploadedFile("b.xlsx", content), by=system),
    )
    record = timed("check", lambda: services.workbook_check(record=record, by=system))
    print(f"check_counts: {record.preview['counts']}")
    assert record.state == "checked", record.preview
    record = timed("apply", lambda: services.workbook_apply(record=record, by=system))
    assert Organization.objects.filter(path__startswith=root.path).count() == args.orgs + 1 - (args.orgs % 100)
    again = services.workbook_upload(organization=root, upload=SimpleUploadedFile("b.xlsx", content), by=system)
    again = timed("recheck", lambda: services.workbook_check(record=again, by=system))
    print(f"recheck_counts: {again.preview['counts']}")
    print(f"peak_rss_mb: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")


if __name__ == "__main__":
    main()
