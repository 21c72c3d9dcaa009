"""The workbook of organizations, members and cadres: template, export of a subtree, preview, apply.

The county of tests/conftest.py, exported, edited and imported again by its admin (and by others, refused).
"""

import io
import zipfile
from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation
from openpyxl import Workbook, load_workbook

from branches import services, workbook
from branches.models import (
    AuditEntry,
    Cadre,
    ImportState,
    Member,
    Organization,
    Role,
    SecurityEvent,
    WorkbookImport,
)
from tests.conftest import system

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(autouse=True)
def chinese(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    with translation.override("zh-hans"):
        yield


def read_book(content):
    """{sheet title: [rows as lists]} of a workbook's bytes, the header first."""
    book = load_workbook(io.BytesIO(content))
    return {ws.title: [list(row) for row in ws.iter_rows(values_only=True)] for ws in book.worksheets}


def write_book(sheets, name="import.xlsx"):
    """An upload from {sheet title: rows}; a str cell starting with "=" is written as a formula."""
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        ws = book.create_sheet(title)
        for row in rows:
            ws.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type=XLSX)


def exported(root):
    return read_book(workbook.export(root))


def snapshot():
    """Everything an import could change, as plain values."""
    return (
        sorted(
            Organization.objects.values_list(
                "code", "name", "kind", "sector", "founded_on", "staff_headcount", "path", "depth", "numchild"
            )
        ),
        sorted(
            Member.objects.values_list(
                "organization__code",
                "number",
                "name",
                "gender",
                "category",
                "joined_party_on",
                "joined_branch_on",
                "party_group__code",
                "status",
                "left_on",
            )
        ),
        sorted(
            Cadre.objects.values_list(
                "organization__code",
                "name",
                "member__number",
                "post",
                "employment",
                "also_unit_head",
                "term_start",
                "term_end",
            ),
            key=str,
        ),
    )


def upload_and_check(organization, upload, by):
    record = services.workbook_upload(organization=organization, upload=upload, by=by)
    return services.workbook_check(record=record, by=by)


def counts(record):
    return {sheet: tuple(c.values()) for sheet, c in record.preview["counts"].items()}


def refusals(record):
    """Every reason of the preview, as "cell message" strings, and the file-level error if any."""
    reasons = [f"{e['cell']} {e['message']}" for row in record.preview["shown"]["refused"] for e in row["errors"]]
    return reasons + ([record.preview["error"]] if record.preview.get("error") else [])


# ---------------------------------------------------------------------------------------------- template


def test_the_template_has_three_sheets_with_chinese_headers_and_an_example_row(county, people):
    book = read_book(workbook.template())
    assert list(book) == ["组织", "党员", "干部"]
    assert book["组织"][0] == ["组织代码", "组织名称", "组织类别", "上级组织代码", "领域", "成立日期", "在职职工人数"]
    assert book["党员"][0][:3] == ["党员编号", "姓名", "性别"]
    assert book["干部"][0][3:6] == ["职务", "专兼职", "一肩挑"]
    assert all(len(rows) == 2 for rows in book.values())  # headers and the example
    assert book["组织"][1][2] == "党支部"


def test_the_untouched_template_imports_nothing(county, people):
    before = snapshot()
    record = upload_and_check(county.root, SimpleUploadedFile("t.xlsx", workbook.template()), people.admin)
    assert record.state == ImportState.CHECKED
    assert all(c == (0, 0, 0, 0) for c in counts(record).values())
    services.workbook_apply(record=record, by=people.admin)
    assert snapshot() == before


# ---------------------------------------------------------------------------------------------- round trip


def test_export_then_import_changes_nothing(county, people):
    """The whole county out and back in: every row unchanged, nothing written but the import's own entry."""
    before = snapshot()
    content = workbook.export(county.root)
    book = read_book(content)
    assert len(book["组织"]) == 1 + 7 and len(book["党员"]) == 1 + 5 and len(book["干部"]) == 1 + 1
    record = upload_and_check(county.root, SimpleUploadedFile("county.xlsx", content), people.admin)
    assert record.state == ImportState.CHECKED, refusals(record)
    assert counts(record) == {"organizations": (0, 0, 7, 0), "members": (0, 0, 5, 0), "cadres": (0, 0, 1, 0)}
    services.workbook_apply(record=record, by=people.admin)
    assert snapshot() == before


def test_a_subtree_exported_and_imported_again_changes_nothing(county, people, make_user):
    town_admin = make_user("town_admin", Role.ADMIN, county.town)
    before = snapshot()
    content = workbook.export(county.town)
    assert [row[0] for row in read_book(content)["组织"][1:]] == ["T-E", "T-E-1", "T-E-1-G1", "T-E-2"]
    assert read_book(content)["组织"][1][3] == "T"  # the subtree's top keeps its parent, outside the subtree
    record = upload_and_check(county.town, SimpleUploadedFile("town.xlsx", content), town_admin)
    assert record.state == ImportState.CHECKED, refusals(record)
    services.workbook_apply(record=record, by=town_admin)
    assert snapshot() == before


# ---------------------------------------------------------------------------------------------- preview = apply


def edited_county(county):
    """The county's export with: a new township under the root with a new branch and its party group; three
    members in the new branch (one in the group); 张二 renamed; a new secretary in the new branch who is one of
    its new members; the finance branch's headcount changed."""
    book = exported(county.root)
    orgs, members, cadres = book["组织"], book["党员"], book["干部"]
    for row in orgs:
        if row[0] == "T-J-1":
            row[6] = 95
    orgs += [
        ["T-W", "中共西镇委员会", "基层党委", "T", "农村", date(2020, 1, 1), None],
        ["T-W-1", "西村支部", "党支部", "T-W", "农村", "2021-03-01", None],
        ["T-W-1-G1", "西村第一党小组", "党小组", "T-W-1", "农村", None, None],
    ]
    for row in members:
        if row[1] == "张二":
            row[1] = "张贰"
    members += [
        ["W001", "赵一", "男", "正式党员", date(2001, 7, 1), None, "T-W-1", "T-W-1-G1", "在册", None],
        ["W002", "赵二", "女", "正式党员", date(2005, 7, 1), date(2021, 3, 1), "T-W-1", None, None, None],
        ["W003", "赵三", "男", "预备党员", date(2025, 12, 1), None, "T-W-1", None, "在册", None],
    ]
    cadres += [["T-W-1", "赵一", "W001", "书记", "兼职", "是", date(2024, 1, 1), None]]
    return write_book(book, "edited.xlsx")


def test_the_preview_is_what_apply_writes(county, people):
    before_orgs = Organization.objects.count()
    record = upload_and_check(county.root, edited_county(county), people.admin)
    assert record.state == ImportState.CHECKED, refusals(record)
    assert counts(record) == {"organizations": (3, 1, 6, 0), "members": (3, 1, 4, 0), "cadres": (1, 0, 1, 0)}
    updates = {row["key"]: row["changes"] for row in record.preview["shown"]["update"]}
    assert updates["T-J-1"] == [{"column": "在职职工人数", "before": "80", "after": "95"}]
    assert {row["key"] for row in record.preview["shown"]["create"]} >= {"T-W", "T-W-1", "T-W-1-G1", "W001"}
    assert Organization.objects.count() == before_orgs  # nothing written by the check

    services.workbook_apply(record=record, by=people.admin)

    record.refresh_from_db()
    assert record.state == ImportState.APPLIED
    assert Organization.objects.count() == before_orgs + 3
    town = Organization.objects.get(code="T-W")
    branch = Organization.objects.get(code="T-W-1")
    group = Organization.objects.get(code="T-W-1-G1")
    parent = Organization.objects.get_parent
    assert parent(town) == county.root and parent(branch) == town and parent(group) == branch
    assert branch.founded_on == date(2021, 3, 1) and town.numchild == 1 and branch.numchild == 1
    assert Organization.objects.get(pk=county.root.pk).numchild == 3
    assert Organization.objects.find_problems() == ([], [], [], [], [])  # treebeard's own check of paths and counts
    zhao = Member.objects.get(number="W001")
    assert zhao.organization == branch and zhao.party_group == group and zhao.joined_branch_on == date(2001, 7, 1)
    assert Member.objects.filter(organization=branch).count() == 3
    assert Member.objects.filter(name="张贰", organization=county.east).exists()
    assert Organization.objects.get(code="T-J-1").staff_headcount == 95
    secretary = Cadre.objects.get(organization=branch)
    assert secretary.member == zhao and secretary.also_unit_head and secretary.post == "secretary"


def test_applying_is_recorded_as_one_import_with_its_file(county, people):
    record = upload_and_check(county.root, edited_county(county), people.admin)
    entries_before = AuditEntry.objects.count()
    services.workbook_apply(record=record, by=people.admin)
    entries = AuditEntry.objects.all()[: AuditEntry.objects.count() - entries_before]
    assert len(entries) == 1
    entry = AuditEntry.objects.order_by("-pk").first()
    assert entry.organization_id == county.root.pk
    assert entry.additional_data["import"] == record.pk and entry.additional_data["file"] == "edited.xlsx"
    assert entry.additional_data["members"]["create"] == 3
    assert WorkbookImport.objects.get(pk=record.pk).file.read()[:2] == b"PK"  # the file is kept with it


def test_importing_the_same_workbook_again_changes_nothing(county, people):
    content = edited_county(county).read()
    first = upload_and_check(county.root, SimpleUploadedFile("edited.xlsx", content), people.admin)
    services.workbook_apply(record=first, by=people.admin)
    after_first = snapshot()
    again = upload_and_check(county.root, SimpleUploadedFile("edited.xlsx", content), people.admin)
    assert counts(again) == {"organizations": (0, 0, 10, 0), "members": (0, 0, 8, 0), "cadres": (0, 0, 2, 0)}
    services.workbook_apply(record=again, by=people.admin)
    assert snapshot() == after_first


def test_an_import_is_applied_once(county, people):
    record = upload_and_check(county.root, edited_county(county), people.admin)
    services.workbook_apply(record=record, by=people.admin)
    with pytest.raises(ValidationError):
        services.workbook_apply(record=record, by=people.admin)


def test_a_change_after_the_check_stops_the_apply_and_nothing_is_written(county, people):
    record = upload_and_check(county.root, edited_county(county), people.admin)
    services.organization_create(
        parent=county.root,
        kind="primary_committee",
        data={"code": "T-W", "name": "抢先", "sector": "village"},
        by=system(),
    )
    before = snapshot()
    with pytest.raises(ValidationError):
        services.workbook_apply(record=record, by=people.admin)
    assert snapshot() == before
    record.refresh_from_db()
    assert record.state in (ImportState.CHECKED, ImportState.REFUSED) and record.error
