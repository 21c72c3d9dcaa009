"""Benchmark of the portal on PostgreSQL: seeding speed, page latency and the daily reminder job.

Usage: bench/run [--orgs N] [--repeat R] [--no-analyze] [--no-meetings]

A year of meetings and attendance is seeded at every size (unless --no-meetings), so the
reviewer's compliance table is measured over the whole county.

Recreates the bench database, migrates it, times `seed_demo` as a subprocess,
then times pages in-process with Django's test Client, and last the reminder job
(`portal.services.reminders_send`) over the whole tree. Prints `name: value`
lines and writes them to bench/results/latest.txt.
"""

import argparse
import math
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from unittest import mock
from urllib.parse import unquote, urlparse

import psycopg2

PROJECT = Path(__file__).resolve().parent.parent
RESULTS = PROJECT / "bench" / "results" / "latest.txt"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/portal_bench"
WARMUP = 3
REMINDER_REPEAT = 3  # timed calls of the reminder plan and its floor, after one warm-up (they take seconds)
REMINDER_EMAIL_CAP = 20000  # emails delivered for the throughput figure; the other notifications are left unsent
BULK_BATCH = 2000
DUTY_SAMPLE = 10  # one active branch in DUTY_SAMPLE gets two open duties: due yesterday and at the quarter's end
TERM_SAMPLE = 20  # one open committee term in TERM_SAMPLE is due for election in 20 days, another in 60


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


def median_s(action, repeat=REMINDER_REPEAT, warm_up=True):
    """One warm-up call (unless the caller made one), then the median wall-clock time of `repeat` calls, in seconds."""
    if warm_up:
        action()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(repeat, analyze=True):
    """Figures measured inside this process, with Django set up on the bench database."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    sys.path.insert(0, str(PROJECT))
    django.setup()

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from branches import periods, results, selectors
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
        # Every branch's row built (what an export of the whole tree reads), from the kept results.
        sql["compliance_selector_year_ms"] = median_ms(lambda: results.for_span(branches, year, today), min(repeat, 3))
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
        pages.update(api_pages(repeat))
        subtree = one_percent_subtree(root)
        pages["compliance_table_subtree_orgs"] = subtree.size
        pages["compliance_table_subtree_year_ms"] = median_ms(
            page(reviewer, f"/orgs/{subtree.pk}/compliance/?period={year_key}"), repeat
        )
        rows.update(dashboard_snapshots_refresh())
        pages.update(dashboard_pages(reviewer, root, subtree, repeat))
    else:
        rows.update(dashboard_snapshots_refresh())
        pages.update(dashboard_pages(reviewer, root, one_percent_subtree(root), repeat))
    sql.update(dashboard_groups(root, repeat))
    pages.update(issue_list(root))
    return floors, rows, sql, pages, reminder_job(analyze)


def dashboard_snapshots_refresh():
    """The job keeping the dashboards' snapshots (every subtree of DASHBOARD_SNAPSHOT_MIN_ORGS organizations or
    more: this year, quarter and month), run once before the dashboard pages are timed, so that they serve what
    the job keeps, as they do in production."""
    from branches import access
    from portal import services

    started = time.perf_counter()
    run = services.dashboards_refresh(by=access.system_user())
    return {
        "dashboard_snapshots_refresh_s": round(time.perf_counter() - started, 2),
        "dashboard_snapshot_subtrees": run.organizations if run else 0,
        "dashboard_snapshots": run.snapshots if run else 0,
    }


def dashboard_pages(reviewer, root, subtree, repeat):
    """The organization department's dashboard (this year, the page's default) over the whole county and over the
    subtree nearest 1% of it: its cost should not grow with the tree (at most 1.5x the subtree's)."""
    return {
        "dashboard_root_ms": median_ms(page(reviewer, f"/dashboard/{root.pk}/"), repeat),
        "dashboard_subtree_orgs": subtree.size,
        "dashboard_subtree_ms": median_ms(page(reviewer, f"/dashboard/{subtree.pk}/"), repeat),
        **dashboard_reports(reviewer, root, subtree),
    }


def dashboard_reports(reviewer, root, subtree):
    """The dashboard's report (issue: the full-tree Excel within 200 MB at its peak, a county's PDF within 30 s; a
    large subtree's built by a job): the root's workbook through the job's build service (median of 3, then once
    more under tracemalloc for its peak), the root's PDF through the same service (once: the longest report), the
    subtree's PDF (median of 3; through the build service too when the subtree is large enough to go to the job,
    in the request otherwise), and the job keeping each committee's daily figures (once)."""
    import tracemalloc

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from branches import access, periods
    from branches import dashboard as branch_figures
    from branches.models import Period
    from portal import services

    user = get_user_model().objects.get(pk=reviewer.session["_auth_user_id"])
    year = periods.span_of(Period.YEAR, timezone.localdate())

    def built(organization, fmt):
        """One report built by the service the job runs, then removed (so that the next call builds anew)."""

        def build():
            report, _new = services.dashboard_report_request(by=user, organization=organization, span=year, format=fmt)
            report = services.dashboard_report_build(by=user, report=report)
            assert report.state == "done", f"report of {organization.pk}: {report.state} {report.error}"
            report.file.delete(save=False)
            report.delete()

        return build

    def sent(organization, fmt):
        def get():
            response = reviewer.get(f"/dashboard/{organization.pk}/report/?format={fmt}")
            assert response.status_code == 200, f"report of {organization.pk} -> {response.status_code}"
            return b"".join(response.streaming_content) if response.streaming else response.content

        return get

    figures = {"dashboard_report_xlsx_root_ms": median_ms(built(root, "xlsx"), 3)}
    tracemalloc.start()
    built(root, "xlsx")()
    figures["dashboard_report_xlsx_root_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
    tracemalloc.stop()
    started = time.perf_counter()
    built(root, "pdf")()
    figures["dashboard_report_pdf_root_s"] = round(time.perf_counter() - started, 1)
    large = branch_figures.subtree_reaches(subtree, settings.DASHBOARD_SNAPSHOT_MIN_ORGS)
    figures["dashboard_report_pdf_subtree_ms"] = median_ms((built if large else sent)(subtree, "pdf"), 3)
    started = time.perf_counter()
    written = services.daily_figures_take(by=access.system_user())
    figures["daily_figures_take_s"] = round(time.perf_counter() - started, 2)
    figures["daily_figures_committees"] = written
    return figures


def dashboard_groups(root, repeat):
    """Each figure group of the root's dashboard alone (its selector): where a per-node roll-up would pay off."""
    from django.utils import timezone

    from assessments import dashboard as assessment_figures
    from branches import dashboard as branch_figures
    from branches import periods
    from portal.models import DashboardSetting

    today = timezone.localdate()
    year = periods.span_of("year", today)
    rows = list(branch_figures.sub_organizations(root, year)[:50])
    days = DashboardSetting.current().term_warning_days
    groups = {
        "organizations": lambda: branch_figures.organization_counts(root),
        "compliance": lambda: branch_figures.compliance_by_type(root, year, today),
        "heatmap": lambda: branch_figures.compliance_heatmap(root, rows, year, today),
        "terms": lambda: branch_figures.committee_terms_due(root, today, within_days=days),
        "staffing": lambda: branch_figures.staffing(root, today),
        "duties": lambda: assessment_figures.duty_figures(root, year, today),
        "round": lambda: assessment_figures.latest_round(root, year),
    }
    return {f"dashboard_{name}_root_ms": median_ms(figure, min(repeat, 5)) for name, figure in groups.items()}


def api_pages(repeat):
    """A page of 100 meetings through the API, as the county's reviewer and as a branch secretary (a token each;
    cursor pagination, newest first)."""
    from datetime import timedelta as days

    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    from portal import services as portal_services

    figures = {}
    for name, username in (("api_meetings_page_root_ms", "zuzhibu"), ("api_meetings_page_branch_ms", "shuji")):
        user = get_user_model().objects.get(username=username)
        _token, plain = portal_services.api_token_create(
            by=user, name="bench", expires_on=timezone.localdate() + days(days=1)
        )
        client = Client(HTTP_AUTHORIZATION=f"Bearer {plain}")
        figures[name] = median_ms(page(client, "/api/v1/meetings/?page_size=100"), repeat)
    return figures


def one_percent_subtree(root):
    """The organization whose subtree is closest to 1% of the tree (its size in `size`), at any depth below the
    root: subtree sizes from path prefixes, one scan per depth."""
    from django.db import connection
    from django.db.models import Max

    from branches.models import Organization

    target = Organization.objects.count() // 100
    step = Organization.steplen
    deepest = Organization.objects.aggregate(deepest=Max("depth"))["deepest"] or 1
    prefixes = " UNION ALL ".join(
        ["SELECT substr(path, 1, %s) AS prefix, count(*) AS size FROM branches_organization GROUP BY 1"]
        * max(deepest - 1, 1)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT o.id, s.size FROM branches_organization o JOIN ({prefixes}) s ON s.prefix = o.path "  # noqa: S608
            "WHERE o.depth >= 2 ORDER BY abs(s.size - %s), o.path LIMIT 1",
            [depth * step for depth in range(2, max(deepest, 2) + 1)] + [target],
        )
        pk, size = cursor.fetchone()
    if abs(size - target) > target // 2:
        return _gathered_subtree(root, target)
    found = Organization.objects.get(pk=pk)
    found.size = size
    return found


def _gathered_subtree(root, target):
    """The demo county has no subtree near 1% (most towns hold about 60 organizations, a few bureaus thousands):
    gather small towns under a new district committee of the root until it holds `target` organizations, through
    the portal's own services (moves keep the summaries and results current). A later run reuses the district."""
    from django.db import connection

    from branches import access, services
    from branches.models import Organization, OrganizationKind

    system = access.system_user()
    district = Organization.objects.filter(code=GATHERED_CODE).first() or services.organization_create(
        parent=root,
        kind=OrganizationKind.COMMITTEE,
        data={"code": GATHERED_CODE, "name": "基准片区党委", "sector": root.sector},
        by=system,
    )
    with connection.cursor() as cursor:  # every depth-2 subtree's size, from its path prefix
        cursor.execute(
            "SELECT substr(path, 1, %s), count(*) FROM branches_organization GROUP BY 1", [2 * Organization.steplen]
        )
        sizes = dict(cursor.fetchall())
    towns = [
        town
        for town in Organization.objects.filter(depth=2, kind=OrganizationKind.PRIMARY_COMMITTEE).order_by("path")
        if sizes.get(town.path, 0) <= max(target // 10, 1)
    ]
    size = Organization.objects.filter(path__startswith=district.path).count()
    for town in towns:
        if size >= target:
            break
        services.organization_move(organization=town, new_parent=Organization.objects.get(pk=district.pk), by=system)
        size += sizes[town.path]
    district = Organization.objects.get(pk=district.pk)
    district.size = Organization.objects.filter(path__startswith=district.path).count()
    return district


GATHERED_CODE = "BENCH-1PCT"


def branch_of_shuji():
    from branches.models import Role, RoleAssignment

    return RoleAssignment.objects.get(user__username="shuji", role=Role.SECRETARY).organization


def keeping_current(branch, repeat):
    """A meeting logged by the service, with and without keeping the summaries and results current (each run
    rolled back): what keeping them current adds, in milliseconds and queries."""
    from datetime import datetime
    from datetime import time as clock

    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from branches import access, results, selectors, services, summaries

    system = access.system_user()
    day = timezone.localdate() - timedelta(days=3)
    held = timezone.make_aware(datetime.combine(day, clock(9)))
    expected = selectors.expected_on(branch, day, "theme_day", None)

    class Rollback(Exception):
        pass

    def save():
        try:
            with transaction.atomic():
                services.meeting_save(
                    organization=branch,
                    data={
                        "meeting_type": "theme_day",
                        "held_at": held,
                        "place": "村部",
                        "host": "书记",
                        "topic": "学习",
                    },
                    attendance={m.pk: (True, "") for m in expected},
                    by=system,
                )
                raise Rollback
        except Rollback:
            pass

    def queries():
        with CaptureQueriesContext(connection) as captured:
            save()
        return len(captured)

    figures = {"meeting_save_ms": median_ms(save, repeat), "meeting_save_queries": queries()}
    kept = summaries.refresh, summaries.lock, summaries.stored_key, results.follow_meetings
    summaries.refresh = lambda keys, locked=False: None
    summaries.lock = lambda ids: None
    summaries.stored_key = lambda meeting: None
    results.follow_meetings = lambda keys: None
    try:
        figures["meeting_save_alone_ms"] = median_ms(save, repeat)
        figures["meeting_save_alone_queries"] = queries()
    finally:
        summaries.refresh, summaries.lock, summaries.stored_key, results.follow_meetings = kept
    figures["keeping_current_ms"] = figures["meeting_save_ms"] - figures["meeting_save_alone_ms"]
    figures["keeping_current_queries"] = figures["meeting_save_queries"] - figures["meeting_save_alone_queries"]
    floor = figures["meeting_save_alone_ms"]
    return [
        f"{name}: {value:.2f} ({value / floor:.2f}x meeting_save_alone)" if name.endswith("_ms") else f"{name}: {value}"
        for name, value in figures.items()
    ]


def issue_list(root):
    """下发 once: a 30-item list to every branch of the tree (it writes, so it runs last and once)."""
    from datetime import date

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from assessments import services
    from assessments.models import ResponsibilityTemplate, TemplateItem
    from branches import access

    system = access.system_user()
    year = date.today().year
    template = ResponsibilityTemplate.objects.create(owner=root, year=year, title="bench")
    TemplateItem.objects.bulk_create(
        TemplateItem(template=template, area="ideological", text=f"事项{n}", due_on=date(year, 12, 31), position=n)
        for n in range(30)
    )
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        result = services.template_issue(template=template, root=root, by=system)
    seconds = time.perf_counter() - started
    return {
        "issue_30_items_ms": seconds * 1000,
        "issue_30_items_lists": result.lists,
        "issue_30_items_queries": len(queries),
    }


def reminder_day(today):
    """Five days before the end of the last quarter that ended before `today`.

    The month and the quarter are both in their last 7 days (meeting reminders of both), and the
    demo has seeded all of that quarter's meetings (they stop the day before the seed day).
    """
    from branches import periods

    last_quarter_end = periods.span_of("quarter", today).start - timedelta(days=1)
    return last_quarter_end - timedelta(days=5)


def _grant_to_new_users(role, prefix, organizations):
    """A new user holding `role` on each of `organizations` that has no holder yet; bulk inserts. Returns how many."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from branches.models import RoleAssignment

    User = get_user_model()
    ids = list(organizations.exclude(role_assignments__role=role).order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), BULK_BATCH):
        chunk = ids[start : start + BULK_BATCH]
        users = User.objects.bulk_create(
            User(username=f"{prefix}{pk}", email=f"{prefix}{pk}@example.org", password=make_password(None))
            for pk in chunk
        )
        RoleAssignment.objects.bulk_create(
            RoleAssignment(user=user, organization_id=pk, role=role) for user, pk in zip(users, chunk, strict=True)
        )
    return len(ids)


def reminder_setup(day, analyze):
    """Make the tree realistic for reminders on `day`, set-based; returns what it added.

    Every active branch gets a secretary and every active organization of depth 2 a reviewer (users with
    unusable passwords and an email address); one branch in DUTY_SAMPLE gets an open duty due yesterday
    (overdue notices and the reviewers' digest) and one due at the quarter's end; one open committee
    term in TERM_SAMPLE is due for election within 30 days, another within 90.
    """
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.db.models import Min
    from django.db.models.functions import Mod

    from assessments.models import ResponsibilityItem, ResponsibilityList
    from branches.models import (
        CommitteeTerm,
        Organization,
        OrganizationKind,
        OrganizationStatus,
        Role,
        RoleAssignment,
    )

    active = Organization.objects.filter(status=OrganizationStatus.ACTIVE)
    with transaction.atomic():
        secretaries = _grant_to_new_users(Role.SECRETARY, "s", active.filter(kind=OrganizationKind.BRANCH))
        reviewers = _grant_to_new_users(Role.REVIEWER, "r", active.filter(depth=2))
        lists = list(
            ResponsibilityList.objects.filter(
                organization__kind=OrganizationKind.BRANCH, organization__status=OrganizationStatus.ACTIVE
            )
            .values_list("organization_id")
            .annotate(first=Min("pk"))
            .order_by("organization_id")
        )[::DUTY_SAMPLE]
        duties = [
            ResponsibilityItem(
                responsibility_list_id=list_id,
                organization_id=organization_id,
                area="organizational",
                text=text,
                due_on=due_on,
            )
            for organization_id, list_id in lists
            for text, due_on in (
                ("按时报送季度党建工作情况", day - timedelta(days=1)),
                ("完成本季度党员教育培训", day + timedelta(days=5)),
            )
        ]
        ResponsibilityItem.objects.bulk_create(duties, batch_size=BULK_BATCH)
        terms = CommitteeTerm.objects.filter(ended_on=None).annotate(bucket=Mod("organization_id", TERM_SAMPLE))
        terms_30 = terms.filter(bucket=1).update(expected_election_on=day + timedelta(days=20))
        terms_90 = terms.filter(bucket=2).update(expected_election_on=day + timedelta(days=60))
    if analyze:  # what autovacuum would do soon after these writes (it is off on the bench machine)
        with connection.cursor() as cursor:
            for model in (get_user_model(), RoleAssignment, ResponsibilityItem, CommitteeTerm):
                cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    return {
        "reminders_secretaries_added": secretaries,
        "reminders_reviewers_added": reviewers,
        "reminders_duties_added": len(duties),
        "reminders_terms_moved": terms_30 + terms_90,
    }


def reminder_job(analyze):
    """The daily reminder job over the whole tree: plan, first run, second run, email delivery."""
    from django.core import mail
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, override_settings
    from django.utils import timezone

    from branches import periods
    from portal import reminders, services
    from portal.models import EmailState, Notification

    day = reminder_day(timezone.localdate())
    started = time.perf_counter()
    info = reminder_setup(day, analyze)
    info["reminders_setup_seconds"] = time.perf_counter() - started

    window = periods.span_of("quarter", day)

    def core_sql():
        with connection.cursor() as cursor:  # the quarter's meetings by organization, type and month; due duties
            cursor.execute(
                "SELECT organization_id, meeting_type, date_trunc('month', held_on), count(*) FROM branches_meeting "
                "WHERE held_on BETWEEN %s AND %s GROUP BY 1, 2, 3 "
                "UNION ALL SELECT NULL, NULL, NULL, count(*) FROM assessments_responsibilityitem "
                "WHERE status = 'open' AND due_on BETWEEN %s AND %s",
                [window.start, window.end, day - timedelta(days=7), day + timedelta(days=7)],
            )
            cursor.fetchall()

    figures = {"reminders_bare_sql_s": median_s(core_sql)}
    digest_since = services._digest_since(day)
    with CaptureQueriesContext(connection) as queries:  # also the warm-up of the timed calls
        plan = reminders.plan(day, digest_since)
    info["reminders_plan_queries"] = len(queries)
    info["reminders_planned"] = len(plan.reminders)
    figures["reminders_plan_s"] = median_s(lambda: reminders.plan(day, digest_since), warm_up=False)

    # Email delivery is timed apart, so the runs are timed with it switched off.
    # bulk_create quotes the table name; the PostgreSQL path (COPY, then INSERT … SELECT) does not.
    inserts = (f'INSERT INTO "{Notification._meta.db_table}"', f"INSERT INTO {Notification._meta.db_table} ")
    with mock.patch.object(services, "notifications_deliver", return_value=services.Delivery()):
        for run in ("first", "second"):
            started = time.perf_counter()
            with CaptureQueriesContext(connection) as queries:
                summary = services.reminders_send(today=day)
            figures[f"reminders_{run}_run_s"] = time.perf_counter() - started
            info[f"reminders_{run}_run_queries"] = len(queries)
            info[f"reminders_{run}_run_inserts"] = sum(1 for query in queries if query["sql"].startswith(inserts))
            info[f"reminders_{run}_run_created"] = summary.created_total
            if run == "first":
                info["reminders_created_by_kind"] = summary.created

    # Throughput over an even sample of at most REMINDER_EMAIL_CAP notifications; the others are not emailed.
    pending = Notification.objects.filter(email_state=EmailState.PENDING, withdrawn_at=None)
    ids = list(pending.order_by("pk").values_list("pk", flat=True))
    keep = ids[:: max(1, math.ceil(len(ids) / REMINDER_EMAIL_CAP))][:REMINDER_EMAIL_CAP]
    pending.exclude(pk__in=keep).update(email_state=EmailState.SKIPPED)
    executed = []

    def count(execute, sql, params, many, context):
        executed.append(None)
        return execute(sql, params, many, context)

    with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
        mail.outbox = []
        started = time.perf_counter()
        with connection.execute_wrapper(count):
            delivery = services.notifications_deliver(include_digest=True)
        seconds = time.perf_counter() - started
        mail.outbox = []
    figures["reminder_emails_s"] = seconds
    info["reminder_emails_pending"] = len(ids)
    info["reminder_emails_sent"] = delivery.sent
    info["reminder_emails_queries"] = len(executed)
    info["reminder_emails_per_second"] = delivery.sent / seconds
    return {"day": day, "info": info, "figures": figures}


def reminder_lines(job):
    info, figures = job["info"], job["figures"]
    floor = figures["reminders_bare_sql_s"]

    def timed(name):
        return f"{name}: {figures[name]:.2f} ({figures[name] / floor:.1f}x reminders_bare_sql)"

    by_kind = ", ".join(f"{kind} {n}" for kind, n in sorted(info["reminders_created_by_kind"].items()))
    return [
        f"reminders_day: {job['day']}",
        *(f"{name}: {info[name]}" for name in info if name.endswith("_added") or name.endswith("_moved")),
        f"reminders_setup_seconds: {info['reminders_setup_seconds']:.1f}",
        f"reminders_bare_sql_s: {floor:.3f}",
        timed("reminders_plan_s"),
        f"reminders_plan_queries: {info['reminders_plan_queries']}",
        timed("reminders_first_run_s"),
        f"reminders_created: {info['reminders_first_run_created']} (planned {info['reminders_planned']})",
        f"reminders_created_by_kind: {by_kind}",
        f"reminders_first_run_queries: {info['reminders_first_run_queries']} "
        f"({info['reminders_first_run_inserts']} of them INSERTs)",
        timed("reminders_second_run_s"),
        f"reminders_second_run_created: {info['reminders_second_run_created']}",
        f"reminders_second_run_queries: {info['reminders_second_run_queries']} "
        f"({info['reminders_second_run_inserts']} of them INSERTs)",
        timed("reminder_emails_s"),
        f"reminder_emails_sent: {info['reminder_emails_sent']} "
        f"(an even sample of at most {REMINDER_EMAIL_CAP} of the {info['reminder_emails_pending']} pending)",
        f"reminder_emails_queries: {info['reminder_emails_queries']}",
        f"reminder_emails_per_second: {info['reminder_emails_per_second']:.0f}",
    ]


def summary_figures(repeat):
    """The month summaries: a full rebuild of this year's rows (written from nothing), a rebuild that finds nothing
    to change, the bare SQL aggregate that computes the same figures (the floor), and one branch-month refresh (what
    keeping summaries current adds to a meeting save)."""
    from django.db import connection, transaction
    from django.utils import timezone

    from branches import summaries
    from branches.models import ComplianceSetting, Meeting, MonthSummary

    today = timezone.localdate()
    first, last = today.replace(month=1, day=1), today.replace(month=12, day=31)
    late_days = ComplianceSetting.current().late_log_days

    def bare_sql():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT organization_id, date_trunc('month', held_on), meeting_type, party_group_id, count(*), "
                "sum(expected_count), sum(present_count), "
                "count(*) FILTER (WHERE (logged_at AT TIME ZONE 'Asia/Shanghai')::date > held_on + %s), "
                "count(*) FILTER (WHERE (logged_at AT TIME ZONE 'Asia/Shanghai')::date "
                "BETWEEN (date_trunc('month', held_on) + interval '1 month' - interval '14 days')::date "
                "AND (date_trunc('month', held_on) + interval '1 month' - interval '1 day')::date) "
                "FROM branches_meeting WHERE held_on BETWEEN %s AND %s GROUP BY 1, 2, 3, 4",
                [late_days, first, last],
            )
            cursor.fetchall()

    figures = {"summaries_bare_sql_s": median_s(bare_sql, repeat=3)}
    with connection.cursor() as cursor:  # from nothing, as after seeding (a DELETE would leave dead index entries)
        cursor.execute(f"TRUNCATE {MonthSummary._meta.db_table}")
    started = time.perf_counter()
    rows = summaries.rebuild(year=today.year)
    figures["summaries_rebuild_year_s"] = time.perf_counter() - started
    summaries.rebuild()  # the other years back
    figures["summaries_check_year_s"] = median_s(lambda: summaries.rebuild(year=today.year), repeat=1)
    meeting = Meeting.objects.filter(held_on__range=(first, last)).first()

    def refresh():
        with transaction.atomic():
            summaries.refresh([summaries.key_of(meeting)])
            transaction.set_rollback(True)

    refresh_ms = median_ms(refresh, repeat) if meeting else float("nan")
    floor = figures["summaries_bare_sql_s"]
    lines = [f"summaries_rows_year: {rows}", f"summaries_bare_sql_s: {floor:.2f}"]
    lines += [
        f"{name}: {figures[name]:.2f} ({figures[name] / floor:.1f}x summaries_bare_sql)"
        for name in ("summaries_rebuild_year_s", "summaries_check_year_s")
    ]
    lines.append(f"summaries_refresh_one_month_ms: {refresh_ms:.2f}")
    return lines + result_figures(today.year)


def result_figures(year):
    """The kept compliance results: a year rebuilt from nothing (one row per organization, type and period) and a
    rebuild that finds nothing to change, against the bare SQL aggregate of the month summaries they read."""
    from datetime import date

    from django.db import connection

    from branches import results
    from branches.models import ComplianceResult, ComplianceStanding

    def bare_sql():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT organization_id, meeting_type, party_group, date_trunc('quarter', month), sum(held) "
                "FROM branches_monthsummary WHERE month BETWEEN %s AND %s GROUP BY 1, 2, 3, 4",
                [date(year, 1, 1), date(year, 12, 1)],
            )
            cursor.fetchall()

    floor = median_s(bare_sql, repeat=3)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {ComplianceResult._meta.db_table}, {ComplianceStanding._meta.db_table}")
    started = time.perf_counter()
    rows = results.rebuild(year=year)
    built = time.perf_counter() - started
    checked = median_s(lambda: results.rebuild(year=year), repeat=1)
    for other in sorted(results.covered_years() - {year}):
        results.rebuild(year=other)  # the other kept years back
    return [
        f"results_rows_year: {rows}",
        f"results_bare_sql_s: {floor:.2f}",
        f"results_rebuild_year_s: {built:.2f} ({built / floor:.1f}x results_bare_sql)",
        f"results_check_year_s: {checked:.2f} ({checked / floor:.1f}x results_bare_sql)",
    ]


SCORING_SAMPLE = 2000  # organizations scored one by one with a per-organization ORM loop, for the speed-up


def scoring_rubric(year):
    """The bench's rubric (100 points, every level): eleven computed indicators over every metric family, one
    manual; bands 五星 ≥ 90 capped at 30%, 四星 ≥ 80 needing 90% of sub-organizations, …, 一星 at least 5%."""
    from assessments.models import GradeBand, Indicator, Rubric, RubricState

    rubric = Rubric.objects.create(code="bench", title="基准测试细则", year=year, state=RubricState.PUBLISHED)
    areas = {
        "org": (
            40,
            [
                ("committee", "meetings_met", {"meeting_type": "committee_meeting"}, "proportional", {}, 10),
                ("general", "meetings_met", {"meeting_type": "general_meeting"}, "proportional", {}, 10),
                ("lecture", "meetings_met", {"meeting_type": "party_lecture"}, "proportional", {}, 5),
                ("attendance", "attendance_rate", {}, "steps", {"steps": [[0.9, 5], [0.8, 3]]}, 5),
                ("duties", "duties_on_time", {}, "proportional", {}, 5),
                ("trained", "cadres_trained", {}, "proportional", {}, 5),
            ],
        ),
        "work": (
            30,
            [
                ("rectified", "rectifications_on_time", {}, "proportional", {}, 10),
                ("findings", "findings_open_past_deadline", {}, "per_occurrence", {"per": 2}, 10),
                ("term", "committee_term_overdue", {}, "per_occurrence", {"per": 2}, 10),
            ],
        ),
        "staff": (10, [("staffing", "staffing_ratio", {}, "proportional", {}, 10)]),
    }
    for position, (code, (points, leaves)) in enumerate(areas.items()):
        area = Indicator.objects.create(
            rubric=rubric, code=code, title=code, kind="group", max_points=points, position=position
        )
        for leaf, (name, metric, params, rule, rule_params, max_points) in enumerate(leaves):
            Indicator.objects.create(
                rubric=rubric,
                parent=area,
                position=leaf,
                code=name,
                title=name,
                kind="computed",
                max_points=max_points,
                metric=metric,
                params=params,
                rule=rule,
                rule_params=rule_params,
            )
    Indicator.objects.create(rubric=rubric, code="review", title="review", kind="manual", max_points=20, position=9)
    for name, points, extra in [
        ("五星", 90, {"max_share": "0.3"}),
        ("四星", 80, {"children_share": "0.9"}),
        ("三星", 70, {}),
        ("二星", 60, {}),
        ("一星", 0, {"min_share": "0.05"}),
    ]:
        GradeBand.objects.create(rubric=rubric, name=name, min_points=points, **extra)
    return rubric


def scoring_bare_sql(start, through):
    """The bare aggregate SQL computing exactly the indicator inputs of the bench rubric over the whole tree, as
    the engine reads them (`assessments.metrics`): the months over by `through`, the spans of the meeting rules
    wholly inside the period with those missed, the sums of the month summaries, the findings open past their
    deadline (up to 20 listed), the cadres serving with and without training (up to 10 named) and full-time, the
    headcounts, the months with the election overdue."""
    from datetime import datetime, time, timedelta
    from zoneinfo import ZoneInfo

    from django.db import connection

    from assessments import metrics

    until = datetime.combine(through + timedelta(days=1), time.min, tzinfo=ZoneInfo("Asia/Shanghai"))
    months = metrics._months(start, through) or (start, start - timedelta(days=1))  # none over: an empty range
    span = "date_trunc(r.rule_period, (e->>0)::date)::date"
    after = (
        f"({span} + CASE r.rule_period WHEN 'month' THEN interval '1 month' WHEN 'quarter' THEN interval '3 months' "
        "ELSE interval '1 year' END)::date"
    )
    key = (
        f"CASE r.rule_period WHEN 'month' THEN to_char({span}, 'YYYY-MM') WHEN 'quarter' THEN "
        f"extract(year FROM {span})::int || '-Q' || extract(quarter FROM {span})::int "
        f"ELSE (extract(year FROM {span})::int)::text END"
    )
    missed = "(e->>1)::numeric < (e->>2)::numeric"
    statements = [
        (
            "SELECT r.organization_id, r.meeting_type, (array_agg(r.rule_period ORDER BY r.start DESC))[1], "  # noqa: S608
            "count(*), "
            f"count(*) FILTER (WHERE NOT {missed}), '[' || string_agg('{{\"span\":\"' || {key} || '\",\"start\":' "
            "|| (e->0)::text || ',\"held\":' || (e->1)::text || ',\"required\":' || (e->2)::text || '}', ',' "
            f"ORDER BY r.start, el.i) FILTER (WHERE {missed}) || ']' "
            "FROM branches_complianceresult r CROSS JOIN LATERAL jsonb_array_elements(r.spans) WITH ORDINALITY "
            "AS el(e, i) WHERE r.period = 'year' AND r.start = %s "
            "AND r.meeting_type IN ('committee_meeting', 'general_meeting', 'party_lecture') "
            f"AND {span} >= %s AND {after} <= %s AND (e->>2)::numeric <> 0 GROUP BY 1, 2",
            [start, start, through + timedelta(days=1)],
        ),
        (
            "SELECT organization_id, sum(held), sum(expected), sum(present) FROM branches_monthsummary "
            "WHERE month BETWEEN %s AND %s GROUP BY 1",
            list(months),
        ),
        (
            "SELECT organization_id, sum(duties_due), sum(duties_on_time), sum(duties_late), sum(duties_open), "
            "sum(findings_closed), sum(findings_closed_late) FROM assessments_dutymonthsummary "
            "WHERE month BETWEEN %s AND %s GROUP BY 1",
            list(months),
        ),
        (
            "SELECT organization_id, count(*), (array_agg(jsonb_build_object('id', id, 'deadline', deadline) "
            "ORDER BY deadline, id))[1:20] FROM assessments_finding WHERE deadline < %s AND created_at < %s "
            "AND (closed_at IS NULL OR closed_at >= %s) GROUP BY 1",
            [through, until, until],
        ),
        (
            "SELECT c.organization_id, count(*), count(*) FILTER (WHERE t.hours <> 0), "
            "(array_agg(c.name ORDER BY c.id) FILTER (WHERE t.hours IS NULL OR t.hours = 0))[1:10], "
            "count(*) FILTER (WHERE c.employment = 'full_time') FROM branches_cadre c LEFT JOIN "
            "(SELECT cadre_id, sum(hours) AS hours FROM branches_trainingrecord WHERE held_on BETWEEN %s AND %s "
            "GROUP BY 1) t ON t.cadre_id = c.id "
            "WHERE c.term_start <= %s AND (c.term_end IS NULL OR c.term_end >= %s) GROUP BY 1",
            [start, through, through, through],
        ),
        ("SELECT id, staff_headcount FROM branches_organization WHERE staff_headcount IS NOT NULL", []),
        (
            "SELECT organization_id, array_agg(month ORDER BY month) FROM branches_monthfact "
            "WHERE month BETWEEN %s AND %s AND term_state = 'overdue' GROUP BY 1",
            list(months),
        ),
    ]
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
            cursor.fetchall()


def scoring_figures():
    """The scoring engine: a round over the whole tree opened and scored (then scored again, nothing changed),
    against the bare aggregate SQL computing the same indicator inputs, and the engine's time per organization
    against a straightforward per-organization ORM loop (each metric asked for one organization at a time) on a
    sample of SCORING_SAMPLE organizations."""
    from datetime import date

    from django.utils import timezone

    from assessments import metrics, scoring
    from assessments import services as assessment_services
    from assessments.models import Assessment
    from branches import access, jobs
    from branches.models import Organization

    # Opening a round queues its first scoring as a job; the bench scores the round itself, timed, below (a queued
    # message would only wait in the folder broker for a worker that is not there).
    jobs.ENQUEUE[:] = [lambda task, **kwargs: True]
    today = timezone.localdate()
    start, end = date(today.year, 1, 1), date(today.year, 12, 31)
    through = min(end, today)
    system = access.system_user()
    rubric = scoring_rubric(today.year)
    root = Organization.objects.get_root_nodes().first()
    started = time.perf_counter()
    assessment_round = assessment_services.round_open(
        rubric=rubric,
        root=root,
        period_start=start,
        period_end=end,
        self_assessment_due=end,
        review_due=end,
        by=system,
    )
    opened = time.perf_counter() - started
    organizations = Assessment.objects.filter(round=assessment_round).count()
    floor = median_s(lambda: scoring_bare_sql(start, through), repeat=3)
    started = time.perf_counter()
    assessment_services.round_score(round=assessment_round, by=system, today=today)
    scored = time.perf_counter() - started
    rescored = median_s(
        lambda: assessment_services.round_score(round=assessment_round, by=system, today=today), 1, False
    )

    tree = scoring.Tree(assessment_round.definitions)
    leaves = [tree.nodes[code] for code in tree.metric_leaves()]
    sample = list(
        Assessment.objects.filter(round=assessment_round)
        .order_by("pk")
        .values_list("organization_id", flat=True)[:SCORING_SAMPLE]
    )
    started = time.perf_counter()
    for org_id in sample:
        for node in leaves:
            value, _trace = metrics.compute(node["metric"], [org_id], start, through, node["params"])[org_id]
            scoring.rule_points(node["rule"], value, scoring._d(node["max_points"]), node["rule_params"])
    loop_ms = (time.perf_counter() - started) * 1000 / max(len(sample), 1)
    engine_ms = scored * 1000 / max(organizations, 1)
    speed_up = loop_ms / engine_ms if engine_ms else float("nan")
    return [
        f"scoring_round_orgs: {organizations}",
        f"scoring_round_open_s: {opened:.2f}",
        f"scoring_bare_sql_s: {floor:.2f}",
        f"scoring_round_s: {scored:.2f} ({scored / floor:.1f}x scoring_bare_sql)",
        f"scoring_rescore_s: {rescored:.2f} ({rescored / floor:.1f}x scoring_bare_sql)",
        f"scoring_orm_loop_per_org_ms: {loop_ms:.3f} (a sample of {len(sample)})",
        f"scoring_engine_per_org_ms: {engine_ms:.3f} ({speed_up:.0f}x faster)",
    ]


def rating_figures(env, voters=400):
    """The voter's page under a meeting's load (bench/ratings.py, its own gunicorn on loopback): its lines."""
    done = subprocess.run(
        [sys.executable, "bench/ratings.py", "--voters", str(voters)],
        cwd=PROJECT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return [line for line in done.stdout.splitlines() if line.startswith("ratings_")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=10000, help="organizations to seed (default 10000)")
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per figure (default 20)")
    parser.add_argument(
        "--no-analyze", action="store_true", help="measure the just-seeded database, without VACUUM (ANALYZE) first"
    )
    parser.add_argument("--no-meetings", action="store_true", help="seed no meetings (by default a year of them)")
    parser.add_argument(
        "--reuse", action="store_true", help="skip seeding: measure the bench database as the last run left it"
    )
    args = parser.parse_args()
    with_meetings = not args.no_meetings

    url = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_URL
    os.environ["DATABASE_URL"] = url
    os.environ.pop("REDIS_URL", None)  # keep /healthz/ a pure `SELECT 1` floor (no Redis ping)
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # no INFO chatter (sign-in logs) among the figures
    env = dict(os.environ)

    if args.reuse:  # measure the database a run seeded (and did not finish measuring): once, it writes
        seconds, analyze_seconds = float("nan"), None
    else:
        recreate_database(url)
        manage("migrate", "--noinput", "-v0", env=env)
        seed_args = ["seed_demo", "--orgs", str(args.orgs), "--seed", "1", "--quiet-logins"]
        seconds = manage(*seed_args, *([] if with_meetings else ["--no-meetings"]), env=env)
        analyze_seconds = None if args.no_analyze else vacuum_analyze(url)

    floors, rows, sql, pages, job = measure(args.repeat, analyze=not args.no_analyze)
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
        if name.endswith("_ms")
        else f"{name}: {value}"  # a count, a size or seconds: no page floor applies
        for name, value in pages.items()
        if not name.startswith("issue_30_items_") or name == "issue_30_items_ms"
    ]
    lines += [f"{name}: {pages[name]}" for name in ("issue_30_items_lists", "issue_30_items_queries")]
    ratio = pages["dashboard_root_ms"] / pages["dashboard_subtree_ms"]
    lines.append(f"dashboard_root_vs_subtree: {ratio:.2f} (wanted <= 1.5)")
    lines += reminder_lines(job)
    if rows["rows_meetings"]:
        lines += summary_figures(args.repeat)
        lines += keeping_current(branch_of_shuji(), args.repeat)
        lines += scoring_figures()

    lines += rating_figures(env)

    text = "\n".join(lines) + "\n"
    print(text, end="")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
