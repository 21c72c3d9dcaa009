"""Benchmark of the portal on PostgreSQL: seeding speed and page latency.

Usage: bench/run [--orgs N] [--repeat R] [--no-analyze] [--meetings | --no-meetings]

A year of meetings is seeded up to 20,000 organizations (or with --meetings), so the
reviewer's compliance table is measured over 10,000 organizations by default.

Recreates the bench database, migrates it, times `seed_demo` as a subprocess,
then times pages in-process with Django's test Client. Prints `name: value`
lines and writes them to bench/results/latest.txt.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import psycopg2

PROJECT = Path(__file__).resolve().parent.parent
RESULTS = PROJECT / "bench" / "results" / "latest.txt"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/portal_bench"
WARMUP = 3


def connect(url, dbname):
    """An autocommit psycopg2 connection to `dbname` on the server of `url`."""
    parts = urlparse(url)
    conn = psycopg2.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or "") or None,
        dbname=dbname,
    )
    conn.autocommit = True  # DROP/CREATE DATABASE and VACUUM cannot run inside a transaction
    return conn


def database_name(url):
    name = unquote(urlparse(url).path.lstrip("/"))
    if not name or name in ("postgres", "template0", "template1"):
        sys.exit(f"refusing to use database {name!r} for the bench (it is dropped and recreated)")
    return name


def recreate_database(url):
    """Drop and create the bench database, via the `postgres` maintenance database."""
    quoted = '"' + database_name(url).replace('"', '""') + '"'
    conn = connect(url, "postgres")
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
            cursor.execute(f"CREATE DATABASE {quoted}")
    finally:
        conn.close()


def vacuum_analyze(url):
    """Give the planner statistics, as autovacuum would soon after a bulk load; return the seconds."""
    started = time.perf_counter()
    conn = connect(url, database_name(url))
    try:
        with conn.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE)")
    finally:
        conn.close()
    return time.perf_counter() - started


def manage(*args, env):
    """Run manage.py with the venv interpreter; return the wall-clock seconds."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "manage.py", *args], cwd=PROJECT, env=env, check=True)
    return time.perf_counter() - started


def median_ms(action, repeat):
    """Warm up, then the median wall-clock time of `repeat` calls, in milliseconds."""
    for _ in range(WARMUP):
        action()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def page(client, url):
    """A callable that GETs `url` and insists on a 200."""

    def get():
        response = client.get(url)
        assert response.status_code == 200, f"GET {url} -> {response.status_code}"

    return get


def measure(repeat):
    """Figures measured inside this process, with Django set up on the bench database."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    sys.path.insert(0, str(PROJECT))
    django.setup()

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from branches import compliance, periods, selectors
    from branches.models import Attendance, Meeting, Member, Organization, Role, RoleAssignment

    User = get_user_model()
    root = Organization.objects.get_root_nodes().first()
    branch = RoleAssignment.objects.get(user__username="shuji", role=Role.SECRETARY).organization
    reviewer, secretary, anonymous = Client(), Client(), Client()
    reviewer.force_login(User.objects.get(username="zuzhibu"))
    secretary.force_login(User.objects.get(username="shuji"))

    def bare_sql():
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM branches_member")
            cursor.fetchone()

    floors = {
        "trivial_view_ms": median_ms(page(anonymous, "/healthz/"), repeat),
        "bare_sql_ms": median_ms(bare_sql, repeat),
    }
    rows = {
        "rows_organizations": Organization.objects.count(),
        "rows_members": Member.objects.count(),
        "rows_meetings": Meeting.objects.count(),
        "rows_attendance": Attendance.objects.count(),
    }
    # The one query behind the org page's subtree member counts, alone (compared with bare_sql_ms).
    sql = {"member_counts_root_sql_ms": median_ms(lambda: selectors.member_counts(root), repeat)}
    if rows["rows_meetings"]:
        today = timezone.localdate()
        year = periods.span_of("year", today)
        branches = selectors.compliance_candidates(User.objects.get(username="zuzhibu"), root, year)

        def year_of_meetings():
            with connection.cursor() as cursor:  # the bare aggregate the compliance selector builds on
                cursor.execute(
                    "SELECT organization_id, meeting_type, date_trunc('month', held_on), count(*) "
                    "FROM branches_meeting WHERE held_on BETWEEN %s AND %s GROUP BY 1, 2, 3",
                    [year.start, year.end],
                )
                cursor.fetchall()

        sql["meeting_counts_year_sql_ms"] = median_ms(year_of_meetings, repeat)
        sql["compliance_selector_year_ms"] = median_ms(lambda: compliance.for_span(branches, year, today), repeat)
    pages = {
        "tree_root_ms": median_ms(page(reviewer, "/orgs/"), repeat),
        "tree_children_root_ms": median_ms(page(reviewer, f"/orgs/{root.pk}/children/"), repeat),
        "org_page_root_ms": median_ms(page(reviewer, f"/orgs/{root.pk}/"), repeat),
        "org_page_branch_ms": median_ms(page(secretary, f"/orgs/{branch.pk}/"), repeat),
        "search_ms": median_ms(page(reviewer, "/orgs/?q=村"), repeat),
    }
    if rows["rows_meetings"]:
        pages["meetings_owed_ms"] = median_ms(page(secretary, f"/orgs/{branch.pk}/meetings/owed/"), repeat)
        pages["meeting_form_ms"] = median_ms(page(secretary, f"/orgs/{branch.pk}/meetings/new/"), repeat)
        pages["meeting_list_ms"] = median_ms(page(secretary, f"/orgs/{branch.pk}/meetings/"), repeat)
        year_key = timezone.localdate().year
        pages["compliance_table_year_ms"] = median_ms(
            page(reviewer, f"/orgs/{root.pk}/compliance/?period={year_key}"), repeat
        )
        pages["compliance_table_quarter_ms"] = median_ms(page(reviewer, f"/orgs/{root.pk}/compliance/"), repeat)
    pages.update(issue_list(root))
    return floors, rows, sql, pages


def issue_list(root):
    """下发 once: a 30-item list to every branch of the tree (it writes, so it runs last and once)."""
    from datetime import date

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from assessments import services
    from assessments.models import ResponsibilityTemplate, TemplateItem

    year = date.today().year
    template = ResponsibilityTemplate.objects.create(owner=root, year=year, title="bench")
    TemplateItem.objects.bulk_create(
        TemplateItem(template=template, area="ideological", text=f"事项{n}", due_on=date(year, 12, 31), position=n)
        for n in range(30)
    )
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        result = services.template_issue(template=template, root=root)
    seconds = time.perf_counter() - started
    return {
        "issue_30_items_ms": seconds * 1000,
        "issue_30_items_lists": result.lists,
        "issue_30_items_queries": len(queries),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=10000, help="organizations to seed (default 10000)")
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per figure (default 20)")
    parser.add_argument(
        "--no-analyze", action="store_true", help="measure the just-seeded database, without VACUUM (ANALYZE) first"
    )
    meetings = parser.add_mutually_exclusive_group()
    meetings.add_argument("--meetings", action="store_true", help="seed a year of meetings whatever the size")
    meetings.add_argument("--no-meetings", action="store_true", help="seed no meetings")
    args = parser.parse_args()
    with_meetings = args.meetings or (not args.no_meetings and args.orgs <= 20000)

    url = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_URL
    os.environ["DATABASE_URL"] = url
    os.environ.pop("REDIS_URL", None)  # keep /healthz/ a pure `SELECT 1` floor (no Redis ping)
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # no INFO chatter (sign-in logs) among the figures
    env = dict(os.environ)

    recreate_database(url)
    manage("migrate", "--noinput", "-v0", env=env)
    seed_args = ["seed_demo", "--orgs", str(args.orgs), "--seed", "1", "--quiet-logins"]
    seconds = manage(*seed_args, *([] if with_meetings else ["--no-meetings"]), env=env)
    analyze_seconds = None if args.no_analyze else vacuum_analyze(url)

    floors, rows, sql, pages = measure(args.repeat)
    lines = [f"{name}: {value:.2f}" for name, value in floors.items()]
    lines += [f"{name}: {value}" for name, value in rows.items()]
    lines += [
        f"seed_demo_seconds: {seconds:.1f}",
        f"seed_demo_orgs_per_second: {rows['rows_organizations'] / seconds:.0f}",
        f"vacuum_analyze_seconds: {'skipped' if analyze_seconds is None else f'{analyze_seconds:.1f}'}",
    ]
    lines += [
        f"{name}: {value:.2f} ({value / floors['bare_sql_ms']:.1f}x bare_sql)"
        for name, value in sql.items()
        if name != "compliance_selector_year_ms"
    ]
    if "compliance_selector_year_ms" in sql:
        value, floor = sql["compliance_selector_year_ms"], sql["meeting_counts_year_sql_ms"]
        lines.append(f"compliance_selector_year_ms: {value:.2f} ({value / floor:.1f}x meeting_counts_year_sql)")
    lines += [
        f"{name}: {value:.2f} ({value / floors['trivial_view_ms']:.1f}x trivial_view)"
        for name, value in pages.items()
        if not name.startswith("issue_30_items_") or name == "issue_30_items_ms"
    ]
    lines += [f"{name}: {pages[name]}" for name in ("issue_30_items_lists", "issue_30_items_queries")]

    text = "\n".join(lines) + "\n"
    print(text, end="")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
