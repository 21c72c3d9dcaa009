"""`manage.py check_integrity`: records pointing at missing files, files no record points at, and kept figures out
of step with the records, each planted behind the services' back and then reported (in Chinese, exit code 1).

Drawn on the county of tests/conftest.py; 东村支部 (under 中共东镇委员会) files a scan, logs a meeting last month and
gets a duty; 县财政局支部 (outside the town) a scan of its own.
"""

from datetime import datetime, time, timedelta
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from assessments import services as duty_services
from assessments.models import DutyMonthSummary
from branches import integrity, results, selectors, services, summaries
from branches.models import Attachment, ComplianceResult, MonthSummary, SummaryRun, WorkbookImport
from tests.conftest import system
from tests.portal.test_hardening import PNG, upload


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def last_month():
    return (timezone.localdate().replace(day=1) - timedelta(days=1)).replace(day=1)


@pytest.fixture
def filed(county, media, last_month):
    """东村's scan and a meeting with its photo, 县财政局's scan, and a duty of 东村's own list."""
    east_scan = services.attachment_add(
        organization=county.east, title="扫描件", upload=upload("a.png", PNG), by=system()
    )
    day = last_month + timedelta(days=4)
    expected = selectors.expected_on(county.east, day, "theme_day", None)
    meeting, _warnings = services.meeting_save(
        organization=county.east,
        data={
            "meeting_type": "theme_day",
            "held_at": timezone.make_aware(datetime.combine(day, time(9))),
            "place": "村部",
            "host": "张一",
            "topic": "学习",
        },
        attendance={member.pk: (True, "") for member in expected},
        by=system(),
        files=[upload("签到表.png", PNG)],
    )
    finance_scan = services.attachment_add(
        organization=county.finance, title="扫描件", upload=upload("b.png", PNG), by=system()
    )
    duty_services.item_add(
        organization=county.east,
        year=last_month.year,
        data={"area": "ideological", "text": "开展专题学习", "due_on": last_month + timedelta(days=10)},
        by=system(),
    )
    return east_scan, meeting, finance_scan


def check(*args):
    """Run the command: (exit code, what it printed)."""
    out = StringIO()
    try:
        call_command("check_integrity", *args, stdout=out)
    except CommandError as error:
        return error.returncode, out.getvalue() + str(error)
    return 0, out.getvalue()


def test_a_tree_in_order_reports_nothing_and_exits_with_0(filed):
    code, printed = check()
    assert code == 0, printed
    assert "记录指向的文件缺失：0" in printed and "无记录指向的文件：0" in printed
    assert "与台账不符的汇总和结果：0 行" in printed
    assert "全部党组织未发现问题" in printed


def test_a_deleted_file_is_reported_with_its_record(filed, media):
    east_scan, _meeting, _finance = filed
    (media / east_scan.file.name).unlink()
    code, printed = check()
    assert code == 1
    assert "记录指向的文件缺失：1" in printed
    assert f"附件 #{east_scan.pk}，文件：{east_scan.file.name}" in printed
    assert "发现 1 个问题" in printed


def test_the_file_of_any_model_is_checked_not_only_attachments(filed, media, county):
    """Found through the app registry: a workbook import's file is checked as an attachment's is."""
    record = WorkbookImport(organization=county.town, original_name="组织.xlsx", size=3, uploaded_by=system())
    record.file.save("upload.xlsx", ContentFile(b"zip"), save=True)
    assert check()[0] == 0
    (media / record.file.name).unlink()
    code, printed = check()
    assert code == 1 and f"Excel 导入 #{record.pk}，文件：{record.file.name}" in printed
    assert {(m.model, m.pk) for m in integrity.missing_files()} == {(WorkbookImport, record.pk)}


def test_a_stray_file_no_record_points_at_is_reported(filed, media, county):
    stray = media / "attachments" / str(county.east.pk) / "stray.png"
    stray.write_bytes(PNG)
    (media / "leftover.txt").write_bytes(b"x")
    code, printed = check()
    assert code == 1
    assert "无记录指向的文件：2" in printed
    assert f"  attachments/{county.east.pk}/stray.png" in printed and "  leftover.txt" in printed
    assert stray.exists()  # reported, not removed


def test_a_summary_row_altered_behind_the_services_back_is_reported_and_left_as_it_is(filed, county, last_month):
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {MonthSummary._meta.db_table} SET present = present - 1 WHERE organization_id = %s",  # noqa: S608
            [county.east.pk],
        )
    altered = summaries.stored()
    code, printed = check()
    assert code == 1
    assert "与台账不符的汇总和结果：1 行" in printed and "  会议月度汇总：1 行" in printed
    assert summaries.stored() == altered  # the check changed nothing
    assert not SummaryRun.objects.exists()


def test_kept_results_and_duty_summaries_out_of_step_are_reported_by_kind(filed, county, last_month):
    year = last_month.year
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {ComplianceResult._meta.db_table} WHERE organization_id = %s", [county.south.pk])  # noqa: S608
        cursor.execute(f"UPDATE {DutyMonthSummary._meta.db_table} SET duties_due = duties_due + 5")  # noqa: S608
    deleted = len(results.recomputed(year, within=county.south).results)
    code, printed = check()
    assert code == 1
    assert f"  {year}年落实情况结果：{deleted} 行" in printed
    assert "  责任事项与督查问题月度汇总：1 行" in printed


def test_fix_summaries_rebuilds_what_was_found_and_the_next_check_is_clean(filed, county):
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {MonthSummary._meta.db_table} SET held = held + 2")  # noqa: S608
    code, printed = check("--fix-summaries")
    assert code == 1  # found, even if fixed
    assert "已按台账重算：更正 1 行" in printed
    assert SummaryRun.objects.get().drift == 1
    assert check()[0] == 0


def test_a_subtree_is_checked_alone(filed, county, media):
    _east, _meeting, finance_scan = filed
    (media / finance_scan.file.name).unlink()  # outside the town
    (media / "leftover.txt").write_bytes(b"x")  # no organization's
    code, printed = check("--org", "T-E")
    assert code == 0, printed
    assert "只在检查全部组织时查找" in printed and "中共东镇委员会（T-E）及其下级组织未发现问题" in printed
    code, printed = check("--org", "T-J")
    assert code == 1 and f"附件 #{finance_scan.pk}" in printed


def test_an_unknown_code_is_refused(db):
    with pytest.raises(CommandError, match="没有代码为 NOPE 的组织"):
        call_command("check_integrity", "--org", "NOPE")


def test_the_check_reads_records_in_chunks_whatever_their_number(county, media, django_assert_max_num_queries):
    """Each file field is read in one query and the files asked of the storage: no query per record."""
    for number in range(30):
        Attachment.objects.create(
            organization=county.east,
            title=f"扫描件{number}",
            file=f"attachments/{county.east.pk}/{number}.png",
            original_name="a.png",
            content_type="image/png",
            extension="png",
            size=3,
        )
    with django_assert_max_num_queries(len(integrity.file_fields())):
        missing = integrity.missing_files()
    assert len(missing) == 30
