"""The report of a large subtree's dashboard, built by a job: asked for from the dashboard, it is queued and its page
shows the progress (refreshing itself) until the download is there, the file reading back with the dashboard's
figures; an identical request takes the report already made or being made; a failed build says so and leaves no
file; another reader's report is a 404, page and file; a small subtree's report is still sent at once, and without
a queue a large one is built in the request. The county of `test_dashboard` serves, its threshold lowered so that
it counts as large (`test_dashboard_snapshots`)."""

import io
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django_celery_beat.models import PeriodicTask
from openpyxl import load_workbook
from pypdf import PdfReader

from branches import periods
from branches.models import Role
from portal import reports, services, tasks
from portal.models import DashboardReport, DashboardSnapshot, ReportStage
from tests import snapshots
from tests.portal.test_dashboard import build_tree, elements, get, number, press_report, url_of
from tests.portal.test_dashboard_snapshots import LARGE, live_figures, snapshot, year_of

PAGE_QUERIES = 5  # the session, its user and roles, the report with its organization, the menu's unread count


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


@pytest.fixture
def jobs(monkeypatch):
    """The job queue, taking every task (its calls listed) unless told it is away (`jobs.away()`)."""

    class Calls(list):
        away = False

    calls = Calls()

    def enqueue(task, **kwargs):
        if calls.away:
            return False
        calls.append((task.name, kwargs))
        return True

    monkeypatch.setattr("portal.jobs.enqueue", enqueue)
    return calls


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def ask(client, user, organization, **query):
    """Click a report button of the dashboard: the response."""
    client.force_login(user)
    return press_report(client, organization, **query)


def report_of(response):
    assert response.status_code == 302, response.status_code
    pk = int(response.url.rstrip("/").split("/")[-1])
    assert response.url == reverse("dashboard_report_job", args=[pk])
    return DashboardReport.objects.get(pk=pk)


def page_of(client, user, report):
    return get(client, user, reverse("dashboard_report_job", args=[report.pk]))


def download(client, report):
    response = client.get(reverse("dashboard_report_download", args=[report.pk]))
    assert response.status_code == 200, response.status_code
    return b"".join(response.streaming_content)


def files_in(media):
    return sorted(path.name for path in (media / "reports").rglob("*") if path.is_file()) if media.exists() else []


def progress_of(page):
    [(attrs, text)] = elements(page, role="progressbar")
    return attrs["aria-valuenow"], text


# ----------------------------------------------------------------------------------------------- through the job


def test_a_large_subtrees_workbook_is_queued_shows_its_progress_and_downloads_with_the_dashboards_figures(
    tree, users, client, large, jobs, media, monkeypatch, django_assert_num_queries
):
    snapshot(tree)
    reviewer = users["reviewer"]
    report = report_of(ask(client, reviewer, tree.root, period=tree.year))
    assert jobs == [("portal.build_dashboard_report", {"report_id": report.pk})]
    assert (report.state, report.format, report.period, report.requested_by) == (
        "queued",
        "xlsx",
        str(tree.year),
        reviewer,
    )

    client.force_login(reviewer)
    with django_assert_num_queries(PAGE_QUERIES):
        page = client.get(reverse("dashboard_report_job", args=[report.pk])).content.decode()
    assert elements(page, data_report_state="queued") and "排队中" in page
    assert progress_of(page) == ("0", "0%")
    assert "等待后台任务" in page and elements(page, data_refresh_seconds="5") and "portal/refresh.js" in page
    assert not elements(page, data_download=None)
    assert client.get(reverse("dashboard_report_download", args=[report.pk])).status_code == 404

    # Half-way through, the page says how far the job is.
    seen = {}
    write = reports.write

    def watched(*args, **kwargs):
        seen["page"] = page_of(client, reviewer, report)
        return write(*args, **kwargs)

    monkeypatch.setattr(reports, "write", watched)
    tasks.build_dashboard_report(report_id=report.pk)
    assert progress_of(seen["page"]) == ("45", "45%")
    assert elements(seen["page"], data_report_state="running") and "表格已生成，正在写入文件" in seen["page"]

    page = page_of(client, reviewer, report)
    assert elements(page, data_report_state="done") and progress_of(page) == ("100", "100%")
    assert not elements(page, data_refresh_seconds=None) and "portal/refresh.js" not in page
    [(link, _text)] = elements(page, data_download=None)
    assert link["href"] == reverse("dashboard_report_download", args=[report.pk])
    [(back, _text)] = elements(page, data_back=None)
    assert back["href"] == url_of(tree.root, period=tree.year)

    response = client.get(link["href"])
    assert response["Content-Disposition"].startswith("attachment") and ".xlsx" in response["Content-Disposition"]
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    dashboard = get(client, reviewer, url_of(tree.root, period=tree.year))
    glance = {row[0]: row[1] for row in book.worksheets[0].iter_rows(min_row=2, values_only=True) if row[0]}
    assert glance["党组织（现有）"] == number(dashboard, data_count="organizations")
    assert glance["党员"] == number(dashboard, data_count="members")
    heat = list(book.worksheets[2].iter_rows(values_only=True))
    assert [row[1] for row in heat[1:3]] == [tree.organs.name, tree.schools.name]
    duties = {row[0]: row[1] for row in book.worksheets[4].iter_rows(min_row=2, values_only=True)}
    assert duties["未完成且已逾期"] == number(dashboard, data_count="duties-overdue") == 2


def test_a_large_subtrees_pdf_is_built_by_the_job_from_its_snapshot(
    tree, users, client, large, jobs, media, monkeypatch
):
    """…with its progress written stage by stage, the pages laid out (most of a PDF's time) a stage of its own."""
    snapshot(tree)
    report = report_of(ask(client, users["reviewer"], tree.root, period=tree.year, format="pdf"))
    seen = []
    real_stage = services._report_stage

    def stage(report, progress, name):
        seen.append((progress, str(name), str(ReportStage(name).label)))
        return real_stage(report, progress, name)

    monkeypatch.setattr(services, "_report_stage", stage)
    tasks.build_dashboard_report(report_id=report.pk)
    assert [(progress, name) for progress, name, _label in seen] == [
        (30, "figures"),
        (45, "tables"),
        (75, "laid_out"),
        (90, "written"),
    ]
    with translation.override("zh-hans"):
        assert str(ReportStage.LAID_OUT.label) == "版面已排好，正在写入 PDF"
    report.refresh_from_db()
    kept = DashboardSnapshot.objects.get(organization=tree.root, period=str(tree.year))
    assert report.format == "pdf" and report.snapshot_at == kept.computed_at
    reader = PdfReader(io.BytesIO(download(client, report)))
    text = "".join(p.extract_text() for p in reader.pages).replace("\n", "").replace(" ", "")
    assert tree.root.name in text and tree.organs.name in text and tree.schools.name in text
    assert "换届" in text and "考核" in text
    assert "看板报告" in page_of(client, users["reviewer"], report)


def test_the_job_computes_a_missing_snapshot_before_the_report(tree, users, client, large, jobs, media):
    report = report_of(ask(client, users["reviewer"], tree.root, period=f"{tree.year}-Q2", sector="school"))
    assert not DashboardSnapshot.objects.filter(computed_at__isnull=False).exists()
    tasks.build_dashboard_report(report_id=report.pk)
    report.refresh_from_db()
    kept = DashboardSnapshot.objects.get(period=f"{tree.year}-Q2", sector="school")
    assert report.state == "done" and report.snapshot_at == kept.computed_at
    glance = load_workbook(io.BytesIO(download(client, report))).worksheets[0]
    live = live_figures(tree.root, periods.parse(f"{tree.year}-Q2"), sector="school")
    assert {row[0]: row[1] for row in glance.iter_rows(min_row=2, values_only=True)}["党组织（现有）"] == (
        live.organizations.organizations
    )


# ----------------------------------------------------------------------------------------------- made once


def test_an_identical_request_takes_the_report_being_made_or_made_from_the_same_snapshot(
    tree, users, client, large, jobs, media
):
    snapshot(tree)
    first = report_of(ask(client, users["reviewer"], tree.root, period=tree.year))
    again = report_of(ask(client, users["assessor"], tree.root, period=tree.year))  # another reader: the same file
    assert again.pk == first.pk and len(jobs) == 1

    tasks.build_dashboard_report(report_id=first.pk)
    assert report_of(ask(client, users["reviewer"], tree.root, period=tree.year)).pk == first.pk
    assert len(jobs) == 1 and DashboardReport.objects.count() == 1

    pdf = report_of(ask(client, users["reviewer"], tree.root, period=tree.year, format="pdf"))
    other_period = report_of(ask(client, users["reviewer"], tree.root, period=f"{tree.year}-Q1"))
    assert len({first.pk, pdf.pk, other_period.pk}) == 3 and len(jobs) == 3

    snapshot(tree)  # newer figures: a new report
    newer = report_of(ask(client, users["reviewer"], tree.root, period=tree.year))
    assert newer.pk != first.pk and newer.state == "queued" and len(jobs) == 4


def test_a_report_queued_long_ago_is_taken_for_lost_and_asked_for_anew(tree, users, client, large, jobs, media):
    snapshot(tree)
    lost = report_of(ask(client, users["reviewer"], tree.root, period=tree.year))
    DashboardReport.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(hours=1))
    assert report_of(ask(client, users["reviewer"], tree.root, period=tree.year)).pk != lost.pk
    assert len(jobs) == 2


def test_the_job_run_twice_builds_the_report_once(tree, users, client, large, jobs, media):
    snapshot(tree)
    report = report_of(ask(client, users["reviewer"], tree.root, period=tree.year))
    tasks.build_dashboard_report(report_id=report.pk)
    built = DashboardReport.objects.get(pk=report.pk)
    tasks.build_dashboard_report(report_id=report.pk)  # a retry, or a second worker
    assert DashboardReport.objects.get(pk=report.pk).file.name == built.file.name
    assert len(files_in(media)) == 1


# ----------------------------------------------------------------------------------------------- failure


def test_a_failed_build_says_so_and_offers_no_file(tree, users, client, large, jobs, media, monkeypatch):
    snapshot(tree)
    report = report_of(ask(client, users["reviewer"], tree.root, period=tree.year, format="pdf"))

    def broken(report_tables, target, fmt, **kwargs):
        target.write(b"%PDF-1.7 half")
        raise RuntimeError("fonts missing")

    monkeypatch.setattr(reports, "write", broken)
    tasks.build_dashboard_report(report_id=report.pk)

    page = page_of(client, users["reviewer"], report)
    assert elements(page, data_report_state="failed") and "生成失败" in page
    [(_attrs, error)] = elements(page, data_report_error=None)
    assert "报告未能生成" in error and "表格已生成，正在写入文件" in error and "fonts" not in error
    assert not elements(page, data_download=None) and not elements(page, data_refresh_seconds=None)
    assert client.get(reverse("dashboard_report_download", args=[report.pk])).status_code == 404
    assert files_in(media) == []
    # Asked for again, it is made anew (a failed report is never taken).
    assert report_of(ask(client, users["reviewer"], tree.root, period=tree.year, format="pdf")).pk != report.pk


# ----------------------------------------------------------------------------------------------- who may see it


def test_another_readers_report_is_a_404_page_and_file(tree, users, client, settings, jobs, media, make_user):
    settings.DASHBOARD_SNAPSHOT_MIN_ORGS = 3  # the general branches count as large too
    schools_reviewer = make_user("schools_reviewer", Role.REVIEWER, tree.schools)
    root = report_of(ask(client, users["reviewer"], tree.root, period=tree.year))
    organs = report_of(ask(client, users["organs_reviewer"], tree.organs, period=tree.year))
    for report in (root, organs):
        tasks.build_dashboard_report(report_id=report.pk)

    page_of(client, users["reviewer"], organs)  # the county's reviewer oversees the organs' general branch
    assert download(client, organs)
    for user, report in (
        (users["organs_reviewer"], root),
        (schools_reviewer, organs),
        (users["secretary"], organs),
        (users["nobody"], organs),
    ):
        client.force_login(user)
        for name in ("dashboard_report_job", "dashboard_report_download"):
            assert client.get(reverse(name, args=[report.pk])).status_code == 404, (user.username, name)
    client.logout()
    assert client.get(reverse("dashboard_report_download", args=[root.pk])).status_code == 302  # to sign in


def test_only_a_reader_who_oversees_the_organization_asks_for_its_report(tree, users, large):
    for user in (users["organs_reviewer"], users["secretary"], users["nobody"]):
        with pytest.raises(PermissionDenied):
            services.dashboard_report_request(by=user, organization=tree.root, span=year_of(tree), format="xlsx")
    for refused in ({"format": "docx"}, {"format": "xlsx", "sector": "nowhere"}, {"format": "pdf", "kind": "x"}):
        with pytest.raises(ValidationError):
            services.dashboard_report_request(
                by=users["reviewer"], organization=tree.root, span=year_of(tree), **refused
            )
    assert not DashboardReport.objects.exists()
    report, new = services.dashboard_report_request(
        by=users["reviewer"], organization=tree.root, span=year_of(tree), format="xlsx"
    )
    assert new and report.state == "queued"
    with pytest.raises(PermissionDenied):
        services.dashboard_report_build(by=users["organs_reviewer"], report=report)
    report.refresh_from_db()
    assert (report.state, report.progress, report.file.name) == ("queued", 0, "")


def test_a_link_to_a_large_subtrees_report_starts_nothing_until_its_button_is_pressed(
    tree, users, client, large, jobs, media
):
    """The dashboard's report buttons are a form (POST, with its CSRF token). A link to the report — followed by
    mistake, or planted on another site — only shows what would be made and the button; pressing it queues the
    job. A POST without the token (another site's form) is refused and queues nothing."""
    snapshot(tree)
    reviewer = users["reviewer"]
    page = get(client, reviewer, url_of(tree.root, period=tree.year))
    [(buttons, _text)] = elements(page, data_report_buttons=None)
    assert buttons["method"] == "post" and 'name="csrfmiddlewaretoken"' in page
    assert {attrs["value"] for attrs, _text in elements(page, data_report=None)} == {"xlsx", "pdf"}

    url = reverse("dashboard_report", args=[tree.root.pk])
    shown = client.get(url, {"period": str(tree.year), "format": "pdf"})
    assert shown.status_code == 200 and jobs == [] and not DashboardReport.objects.exists()
    text = shown.content.decode()
    [(form, _text)] = elements(text, data_report_ask=None)
    assert form["method"] == "post" and 'name="format" value="pdf"' in text and "后台" in text

    forged = Client(enforce_csrf_checks=True)
    forged.force_login(reviewer)
    assert forged.post(f"{url}?period={tree.year}", {"format": "pdf"}).status_code == 403
    assert jobs == [] and not DashboardReport.objects.exists()

    report = report_of(ask(client, reviewer, tree.root, period=tree.year, format="pdf"))
    assert report.format == "pdf" and jobs == [("portal.build_dashboard_report", {"report_id": report.pk})]


# ----------------------------------------------------------------------------------------------- small, no queue


def test_a_small_subtrees_report_is_still_sent_at_once(tree, users, client, large, jobs, media):
    response = ask(client, users["reviewer"], tree.organs, period=tree.year)  # 3 organizations: below LARGE
    assert response.status_code == 200 and response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    assert len(book.sheetnames) == 7
    assert jobs == [] and not DashboardReport.objects.exists()


def test_without_a_queue_a_large_subtrees_report_is_built_in_the_request(tree, users, client, large, jobs, media):
    jobs.away = True
    report = report_of(ask(client, users["reviewer"], tree.root, period=tree.year))
    assert report.state == "done" and report.progress == 100 and jobs == []
    assert elements(page_of(client, users["reviewer"], report), data_download=None)
    book = load_workbook(io.BytesIO(download(client, report)))
    assert len(book.sheetnames) == 7


# ----------------------------------------------------------------------------------------------- kept a few days


def test_old_reports_and_their_files_are_removed_nightly(tree, users, client, large, jobs, media, settings):
    jobs.away = True
    old = report_of(ask(client, users["reviewer"], tree.root, period=tree.year))
    recent = report_of(ask(client, users["reviewer"], tree.root, period=tree.year, format="pdf"))
    assert len(files_in(media)) == 2
    DashboardReport.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=settings.DASHBOARD_REPORT_DAYS, hours=1)
    )
    assert tasks.prune_dashboard_reports() == {"deleted": 1}
    assert list(DashboardReport.objects.values_list("pk", flat=True)) == [recent.pk]
    assert files_in(media) == [recent.file.name.rsplit("/", 1)[-1]]
    assert client.get(reverse("dashboard_report_download", args=[old.pk])).status_code == 404
    (media / recent.file.name).unlink()  # a file gone from the folder by hand: no server error either
    assert client.get(reverse("dashboard_report_download", args=[recent.pk])).status_code == 404
    schedule = PeriodicTask.objects.get(task="portal.prune_dashboard_reports")
    assert schedule.enabled and schedule.crontab.hour == "3"


def test_in_production_the_file_is_sent_by_nginx_from_the_private_folder(
    tree, users, client, large, jobs, media, settings
):
    jobs.away = True
    report = report_of(ask(client, users["reviewer"], tree.root, period=tree.year))
    settings.PROTECTED_MEDIA_REDIRECT = "/protected-media/"
    response = client.get(reverse("dashboard_report_download", args=[report.pk]))
    assert response["X-Accel-Redirect"] == f"/protected-media/{report.file.name}"
    assert report.file.name.startswith(f"reports/{tree.root.pk}/") and response.content == b""
    assert response["Content-Disposition"].startswith("attachment")
