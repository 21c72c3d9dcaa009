"""The dashboard of a large subtree read from the snapshot a job keeps: the snapshot holds exactly the live figures
(through JSON and back), the page reads it in a few queries whatever the tree's size, a missing one is computed by
a job while the page says so and refreshes itself, an old one is shown with its time and computed anew, and nothing
crosses a scope or a filter. The county of `test_dashboard` serves, its threshold lowered so that it counts as large.
"""

import io
import json
from datetime import datetime, time, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from branches import dashboard as branch_figures
from branches import periods, selectors, services
from branches.models import Organization, Period, Role
from portal import dashboard_codec, tasks
from portal import selectors as portal_selectors
from portal import services as portal_services
from portal.models import DashboardSnapshot, DashboardSnapshotRun
from tests import snapshots
from tests.conftest import system
from tests.portal.test_dashboard import QUERIES, _heat_cells, build_tree, elements, get, under, url_of

LARGE = 5  # the county holds 6 organizations, each general branch 3 (and its extra branches)

# What the page shows, element by element: every figure carries one of these attributes.
FIGURES = ("data_count", "data_table", "data_state", "data_row", "data_term", "data_grade_count", "data_assessment")


@pytest.fixture
def tree(db):
    return snapshots.build_once("dashboard_tree", build_tree)


@pytest.fixture
def users(tree, make_user):
    return {
        "reviewer": make_user("county_reviewer", Role.REVIEWER, tree.root),
        "organs_reviewer": make_user("organs_reviewer", Role.REVIEWER, tree.organs),
        "assessor": make_user("county_assessor", Role.ASSESSOR, tree.root),
        "secretary": make_user("one_secretary", Role.SECRETARY, tree.one),
        "nobody": make_user("no_role"),
    }


@pytest.fixture
def large(settings):
    settings.DASHBOARD_SNAPSHOT_MIN_ORGS = LARGE
    return LARGE


class Calls(list):
    """The tasks queued, as (name, arguments)."""


@pytest.fixture
def jobs(monkeypatch):
    """The job queue, taking every task (its calls listed) unless told it is away."""
    calls = Calls()
    state = {"away": False}

    def enqueue(task, **kwargs):
        if state["away"]:
            return False
        calls.append((task.name, kwargs))
        return True

    monkeypatch.setattr("portal.views_dashboard.jobs.enqueue", enqueue)
    calls.away = lambda: state.update(away=True)
    return calls


def year_of(tree):
    return periods.span_of(Period.YEAR, datetime(tree.year, 1, 1).date())


def snapshot(tree, organization=None, span=None, **filters):
    return portal_services.dashboard_snapshot_compute(
        by=system(), organization=organization or tree.root, span=span or year_of(tree), **filters
    )


def shown(page):
    """Every figure of a page, as (attributes, text) in page order, and the charts' numbers."""
    found = [item for key in FIGURES for item in elements(page, **{key: None})]
    charts = page[page.index('id="dashboard-data"') :].split("</script>")[0] if "dashboard-data" in page else ""
    return found, charts


def live_figures(organization, span, **filters):
    rows = portal_selectors.dashboard_snapshot_rows(organization, span)
    today = timezone.localdate()
    return portal_selectors.dashboard_of(organization, span, today, rows=rows, live=True, **filters)


# ----------------------------------------------------------------------------------------------- the snapshot


@pytest.mark.parametrize(
    "filters", [{}, {"sector": "school"}, {"kind": "branch"}, {"sector": "organ", "kind": "general_branch"}]
)
def test_a_snapshot_of_the_county_holds_its_live_figures(tree, large, filters):
    span = year_of(tree)
    snapshot(tree, **filters)
    kept = DashboardSnapshot.objects.get(organization=tree.root, period=str(tree.year), **filters)
    live = live_figures(tree.root, span, **filters)

    whole = dashboard_codec.to_json(live)
    cells = dashboard_codec.cells_apart(whole)
    assert json.loads(json.dumps(kept.figures)) == kept.figures == whole  # the other figures, the cells kept apart
    assert kept.cells == cells and set(cells) == {str(tree.organs.pk), str(tree.schools.pk)}
    read = dashboard_codec.from_json(kept.figures, computed_at=kept.computed_at, cells=kept.cells)
    for group in ("organizations", "compliance", "heatmap", "terms", "staffing", "duties", "round"):
        assert getattr(read, group) == getattr(live, group), group
    assert read.heatmap.cells.keys() == {tree.organs.pk, tree.schools.pk}
    bottom = lambda figures: [  # noqa: E731
        (a.organization.name, a.organization.get_kind_display(), a.total, a.grade, a.rank, a.peer_size)
        for a in figures.round.bottom
    ]
    assert bottom(read) == bottom(live) and (bottom(live) or filters)
    assert str(read.round.round) == str(live.round.round)
    assert read.round.average == live.round.average and read.staffing.share == live.staffing.share
    for name in ("staffing_min_share", "staffing_max_share", "term_warning_days"):
        assert getattr(read.setting, name) == getattr(live.setting, name)
    assert read.computed_at == kept.computed_at and live.computed_at is None


def test_the_page_of_a_large_subtree_shows_its_snapshot_as_the_live_page_would(tree, users, client, settings):
    url = url_of(tree.root, period=tree.year)
    live_page = get(client, users["reviewer"], url)
    assert "data-snapshot" not in live_page

    settings.DASHBOARD_SNAPSHOT_MIN_ORGS = LARGE
    snapshot(tree)
    page = get(client, users["reviewer"], url)

    assert shown(page) == shown(live_page)
    at = timezone.localtime(DashboardSnapshot.objects.get().computed_at)
    assert f"数据更新于 {at:%H:%M}（每15分钟更新）" in " ".join(text for _a, text in elements(page, data_snapshot=None))
    compliance = reverse("branches:compliance", args=[tree.root.pk]) + f"?period={tree.year}"
    assert elements(page, data_records=None, href=compliance)


@pytest.mark.parametrize("extra", [0, 34], ids=["6 organizations", "40 organizations"])
def test_a_snapshot_is_read_in_fewer_queries_whatever_the_size_of_the_tree(
    db, make_user, client, django_assert_num_queries, settings, extra
):
    settings.DASHBOARD_SNAPSHOT_MIN_ORGS = LARGE
    built = build_tree(extra_branches=extra)
    snapshot(built)
    client.force_login(make_user("reviewer", "reviewer", built.root))
    with django_assert_num_queries(SNAPSHOT_QUERIES):
        response = client.get(url_of(built.root, period=built.year))
    assert response.status_code == 200
    page = response.content.decode()
    assert "data-snapshot" in page and len(elements(page, data_month=None)) == 24
    assert SNAPSHOT_QUERIES < QUERIES


SNAPSHOT_QUERIES = 11  # the page's own (session, user, scope, breadcrumb, the rows' page), the snapshot (with the
# rounds' trend): one, the daily trend: one, and the integrity signals tile (the nightly job's rows, never kept in a
# snapshot): its last run, one (not computed yet here; once computed, one more counts the signals)


def test_a_snapshot_serves_the_page_of_the_heatmap_rows_shown(db, make_user, client, settings):
    """The snapshot keeps every sub-organization's row; the page shows one page of them, and a row founded since
    the snapshot shows as owing nothing."""
    settings.DASHBOARD_SNAPSHOT_MIN_ORGS = LARGE
    built = build_tree()
    snapshot(built)
    late = services.organization_create(
        parent=built.root,
        kind="general_branch",
        data={"code": "K-C", "name": "新党总支", "sector": "organ"},
        by=system(),
    )
    page = get(client, make_user("reviewer", "reviewer", built.root), url_of(built.root, period=built.year))
    assert [int(a["data-row"]) for a, _t in elements(page, data_row=None)] == [
        built.organs.pk,
        built.schools.pk,
        late.pk,
    ]
    assert {a["data-state"] for a, _t in _heat_cells(page, late)} == {"not_owed"}


@pytest.mark.postgres
def test_a_page_of_a_snapshot_takes_only_its_own_rows_cells_from_the_server(db, settings):
    """A root's snapshot keeps every child's cells (hundreds of kilobytes at a province's root): a page asks for its
    rows' cells only, and gets each row's cells as the snapshot counted them."""
    settings.DASHBOARD_SNAPSHOT_MIN_ORGS = LARGE
    built = build_tree()
    snapshot(built)
    span = year_of(built)
    kept = DashboardSnapshot.objects.get(organization=built.root, period=str(built.year), sector="", kind="")
    assert set(kept.cells) == {str(built.organs.pk), str(built.schools.pk)}

    _large, figures, cells, _at = portal_selectors._kept_figures(built.root, span, "", "", rows=[built.schools])
    assert "cells" not in figures["heatmap"] and cells == {str(built.schools.pk): kept.cells[str(built.schools.pk)]}
    read = portal_selectors.dashboard_of(built.root, span, timezone.localdate(), rows=[built.schools])
    assert list(read.heatmap.cells) == [built.schools.pk]
    assert read.heatmap.cells[built.schools.pk] == live_figures(built.root, span).heatmap.cells[built.schools.pk]


# ----------------------------------------------------------------------------------------------- missing or old


def test_a_missing_snapshot_is_computed_by_a_job_while_the_page_says_so(tree, users, client, settings, jobs):
    settings.DASHBOARD_SNAPSHOT_MIN_ORGS = LARGE
    url = url_of(tree.root, period=f"{tree.year}-Q2", sector="school")
    page = get(client, users["reviewer"], url)

    assert elements(page, data_dashboard_pending=None, data_refresh_seconds="15")
    assert "正在计算…" in page and "portal/refresh.js" in page
    assert not elements(page, data_count=None)
    key = {"organization_id": tree.root.pk, "period": f"{tree.year}-Q2", "sector": "school", "kind": ""}
    assert jobs == [("portal.refresh_dashboard", key)]

    get(client, users["reviewer"], url)  # the page refreshing itself does not queue it again
    assert len(jobs) == 1

    tasks.refresh_dashboard(**key)
    page = get(client, users["reviewer"], url)
    assert not elements(page, data_dashboard_pending=None) and elements(page, data_snapshot=None)
    settings.DASHBOARD_SNAPSHOT_MIN_ORGS = 10_000
    DashboardSnapshot.objects.all().delete()
    assert shown(page) == shown(get(client, users["reviewer"], url))


def test_without_a_queue_the_page_computes_its_snapshot_itself(tree, users, client, large, jobs):
    jobs.away()
    page = get(client, users["reviewer"], url_of(tree.root, period=f"{tree.year}-11"))
    assert not elements(page, data_dashboard_pending=None)
    assert elements(page, data_snapshot=None) and elements(page, data_count="organizations")
    assert DashboardSnapshot.objects.get(period=f"{tree.year}-11").figures is not None


def test_an_old_snapshot_is_shown_with_its_time_and_computed_anew(tree, users, client, large, jobs):
    snapshot(tree)
    old = timezone.now() - timedelta(hours=2)
    DashboardSnapshot.objects.update(computed_at=old)
    page = get(client, users["reviewer"], url_of(tree.root, period=tree.year))

    note = text_of_snapshot(page)
    assert f"数据更新于 {timezone.localtime(old):%Y-%m-%d %H:%M}" in note and "最新数据正在计算" in note
    assert elements(page, data_stale=None) and elements(page, data_count="organizations")
    assert jobs == [
        (
            "portal.refresh_dashboard",
            {"organization_id": tree.root.pk, "period": str(tree.year), "sector": "", "kind": ""},
        )
    ]


def text_of_snapshot(page):
    found = elements(page, data_snapshot=None)
    assert len(found) == 1
    return found[0][1]


def test_a_refreshed_snapshot_shows_a_meeting_logged_since(tree, users, client, large):
    """二支部 held no theme day in March: its general branch's March cell is red until the snapshot is computed
    again after the meeting is logged."""
    url = url_of(tree.organs, period=tree.year)
    assert under(tree.organs).count() == 3 < LARGE
    portal_services.dashboard_snapshot_compute(by=system(), organization=tree.root, span=year_of(tree))

    def march(page):
        return {a["data-month"]: a["data-state"] for a, _t in _heat_cells(page, tree.organs)}[f"{tree.year}-03"]

    page = get(client, users["reviewer"], url_of(tree.root, period=tree.year))
    assert march(page) == "not_met"

    day = datetime(tree.year, 3, 20).date()
    services.meeting_save(
        organization=tree.two,
        data={
            "meeting_type": "theme_day",
            "held_at": timezone.make_aware(datetime.combine(day, time(9))),
            "place": "村部",
            "host": "书记",
            "topic": "学习",
        },
        attendance={member.pk: (True, "") for member in selectors.expected_on(tree.two, day, "theme_day", None)},
        by=system(),
    )
    assert march(get(client, users["reviewer"], url_of(tree.root, period=tree.year))) == "not_met"  # as kept
    # the general branch's own subtree is small: counted live, met already
    assert march_of_own(get(client, users["reviewer"], url), tree) == "met"

    tasks.refresh_dashboard(organization_id=tree.root.pk, period=str(tree.year))
    assert march(get(client, users["reviewer"], url_of(tree.root, period=tree.year))) == "met"


def march_of_own(page, tree):
    return {a["data-month"]: a["data-state"] for a, _t in _heat_cells(page, tree.two)}[f"{tree.year}-03"]


# ----------------------------------------------------------------------------------------------- scope and filters


def test_a_snapshot_is_read_only_after_the_scope_is_checked(tree, users, client, settings):
    settings.DASHBOARD_SNAPSHOT_MIN_ORGS = 3
    for organization in (tree.root, tree.organs, tree.schools):
        snapshot(tree, organization)
    client.force_login(users["organs_reviewer"])
    assert client.get(url_of(tree.root, period=tree.year)).status_code == 404
    assert client.get(url_of(tree.schools, period=tree.year)).status_code == 404
    page = get(client, users["organs_reviewer"], url_of(tree.organs, period=tree.year))
    assert elements(page, data_snapshot=None)
    assert int(elements(page, data_count="organizations")[0][1]) == 3
    for who in ("secretary", "nobody"):
        client.force_login(users[who])
        assert client.get(url_of(tree.root, period=tree.year)).status_code == 404


def test_a_snapshot_serves_only_its_own_period_and_filters(tree, users, client, large, jobs):
    snapshot(tree)
    for query in ({"sector": "school"}, {"kind": "branch"}, {"period": f"{tree.year}-Q1"}):
        page = get(client, users["reviewer"], url_of(tree.root, **{"period": tree.year, **query}))
        assert elements(page, data_dashboard_pending=None), query
    assert [kwargs["sector"] or kwargs["kind"] or kwargs["period"] for _n, kwargs in jobs] == [
        "school",
        "branch",
        f"{tree.year}-Q1",
    ]


def test_an_assessor_reads_the_same_snapshot_with_the_links_of_an_assessor(tree, users, client, large):
    snapshot(tree)
    reviewer = get(client, users["reviewer"], url_of(tree.root, period=tree.year))
    assessor = get(client, users["assessor"], url_of(tree.root, period=tree.year))
    assert elements(reviewer, data_records=None) and not elements(assessor, data_records=None)
    counts = lambda page: elements(page, data_count=None)  # noqa: E731
    assert [text for _a, text in counts(assessor)] == [text for _a, text in counts(reviewer)]


# ----------------------------------------------------------------------------------------------- the job


def test_the_job_keeps_the_running_year_quarter_and_month_of_every_large_subtree(tree, large):
    day = datetime(tree.year, 11, 15).date()
    DashboardSnapshot.objects.create(organization=tree.organs, period="2020", figures={"version": 1})
    run = portal_services.dashboards_refresh(by=system(), today=day)

    kept = set(DashboardSnapshot.objects.values_list("organization_id", "period", "sector", "kind"))
    assert kept == {(tree.root.pk, key, "", "") for key in (str(tree.year), f"{tree.year}-Q4", f"{tree.year}-11")}
    assert (run.organizations, run.snapshots, run.error) == (1, 3, "") and run.finished_at
    again = portal_services.dashboards_refresh(by=system(), today=day, min_orgs=3)  # and 机关第一党总支 (3)
    assert (again.organizations, again.snapshots) == (2, 6)
    assert DashboardSnapshot.objects.count() == 6


def test_only_the_system_runs_the_job(tree, users, large):
    with pytest.raises(PermissionDenied):
        portal_services.dashboards_refresh(by=users["reviewer"])
    with pytest.raises(PermissionDenied):
        portal_services.dashboard_snapshot_request(
            by=users["organs_reviewer"], organization=tree.root, span=year_of(tree)
        )
    assert not DashboardSnapshot.objects.exists() and not DashboardSnapshotRun.objects.exists()


def test_the_subtrees_large_enough_are_counted_from_their_paths(db):
    built = build_tree(extra_branches=2)
    sizes = {org.pk: under(org).count() for org in Organization.objects.all()}
    for size in (1, 2, 3, 4, 5, 8, 9):
        found = [org.pk for org in branch_figures.subtrees_of_at_least(size)]
        assert sorted(found) == sorted(pk for pk, n in sizes.items() if n >= size), size
        for org in Organization.objects.all():
            assert branch_figures.subtree_reaches(org, size) == (sizes[org.pk] >= size)
    assert branch_figures.subtrees_of_at_least(8) == [built.root] and not branch_figures.subtrees_of_at_least(9)


def test_the_job_runs_every_15_minutes_and_the_jobs_page_lists_its_runs(tree, large, client, make_user):
    task = PeriodicTask.objects.get(task="portal.refresh_dashboards")
    assert (task.interval.every, task.interval.period, task.enabled) == (15, "minutes", True)
    tasks.refresh_dashboards(today=f"{tree.year}-11-15")
    client.force_login(make_user("tree_admin", "admin", tree.root))
    page = client.get("/jobs/").content.decode()
    rows = elements(page, data_table="snapshot-runs")
    assert rows and "3" in rows[0][1]
    schedule = next(row for row in portal_selectors.schedule_rows() if row.task.pk == task.pk)
    assert schedule.runs == 1 and schedule.last_run == DashboardSnapshotRun.objects.get().started_at


def test_the_command_runs_the_same_job(tree, large):
    out = io.StringIO()
    call_command("refresh_dashboards", "--today", f"{tree.year}-06-30", "--min-orgs", "3", stdout=out)
    assert "6" in out.getvalue() and "2" in out.getvalue()
    assert set(DashboardSnapshot.objects.values_list("period", flat=True)) == {
        str(tree.year),
        f"{tree.year}-Q2",
        f"{tree.year}-06",
    }
    assert DashboardSnapshotRun.objects.get().snapshots == 6


def test_a_snapshot_of_an_unknown_sector_or_kind_is_refused_and_nothing_written(tree, users):
    for filters in ({"sector": "nowhere"}, {"kind": "club"}):
        with pytest.raises(ValidationError):
            portal_services.dashboard_snapshot_request(
                by=users["reviewer"], organization=tree.root, span=year_of(tree), **filters
            )
        with pytest.raises(ValidationError):
            snapshot(tree, **filters)
    assert not DashboardSnapshot.objects.exists()
