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


def test_an_apply_cut_off_with_its_worker_is_completed_by_the_next_run_once(county, people):
    record = upload_and_check(county.root, edited_county(county), people.admin)
    before = Organization.objects.count()
    # What a worker killed during the apply leaves: the import shown as being applied, nothing of it written
    # (its transaction went with its connection).
    WorkbookImport.objects.filter(pk=record.pk).update(state=ImportState.APPLYING, progress=45)

    services.workbook_apply(record=record, by=people.admin)  # the task delivered again, or the admin's button

    record.refresh_from_db()
    assert record.state == ImportState.APPLIED and record.progress == 100
    assert Organization.objects.count() == before + 3
    assert Member.objects.filter(number="W001").count() == 1


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


# ---------------------------------------------------------------------------------------------- refused input

ORG_HEADER = ["组织代码", "组织名称", "组织类别", "上级组织代码", "领域", "成立日期", "在职职工人数"]
MEMBER_HEADER = [
    "党员编号",
    "姓名",
    "性别",
    "人员类别",
    "入党日期",
    "转入本支部日期",
    "所在支部代码",
    "所在党小组代码",
    "状态",
    "离开本支部日期",
]
CADRE_HEADER = ["组织代码", "姓名", "党员编号", "职务", "专兼职", "一肩挑", "任期开始", "任期结束"]


def book_of(orgs=(), members=(), cadres=(), *, headers=None):
    headers = headers or {}
    return write_book(
        {
            "组织": [headers.get("组织", ORG_HEADER), *orgs],
            "党员": [headers.get("党员", MEMBER_HEADER), *members],
            "干部": [headers.get("干部", CADRE_HEADER), *cadres],
        }
    )


def assert_refused_and_nothing_written(organization, upload, by, *expected):
    """The check refuses with each expected text among its reasons; applying is refused; nothing changes."""
    before = snapshot()
    record = upload_and_check(organization, upload, by)
    assert record.state == ImportState.REFUSED
    reasons = refusals(record)
    for text in expected:
        assert any(text in reason for reason in reasons), (text, reasons)
    with pytest.raises(ValidationError):
        services.workbook_apply(record=record, by=by)
    assert snapshot() == before
    return reasons


def test_a_sheet_with_a_missing_and_an_extra_column_is_refused_whole(county, people):
    header = [name for name in MEMBER_HEADER if name != "性别"] + ["备注"]
    assert_refused_and_nothing_written(
        county.root,
        book_of(
            members=[["X1", "甲", "正式党员", date(2000, 1, 1), None, "T-E-1", None, None, None, "x"]],
            headers={"党员": header},
        ),
        people.admin,
        "工作表“党员”与模板不符",
        "缺少列：性别",
        "模板中没有的列：备注",
    )


def test_a_workbook_without_the_cadres_sheet_is_refused(county, people):
    upload = write_book({"组织": [ORG_HEADER], "党员": [MEMBER_HEADER]})
    assert_refused_and_nothing_written(county.root, upload, people.admin, "工作簿中没有“干部”工作表")


@pytest.mark.parametrize(
    ("org_rows", "member_rows", "cadre_rows", "expected"),
    [
        pytest.param(
            [["T-N", "新支部", "党支部", "T-E", "农村", "去年", "很多"]],
            [],
            [],
            ["F2 不是日期", "G2 不是非负整数"],
            id="wrong types",
        ),
        pytest.param(
            [["T-N", "新支部", "支部", "T-E", "农村", None, None]], [], [], ["C2 应为以下之一"], id="unknown kind"
        ),
        pytest.param(
            [["T-N", "新支部", "党支部", "NOPE", "农村", None, None]],
            [],
            [],
            ["D2 组织代码 NOPE 不存在"],
            id="unknown parent",
        ),
        pytest.param(
            [],
            [["X1", "甲", "男", "正式党员", date(2000, 1, 1), None, "NOPE", None, None, None]],
            [],
            ["G2 组织代码 NOPE 不存在"],
            id="unknown branch",
        ),
        pytest.param(
            [
                ["T-A", "甲党委", "基层党委", "T-B", "农村", None, None],
                ["T-B", "乙党委", "基层党委", "T-A", "农村", None, None],
            ],
            [],
            [],
            ["D2 上级组织代码形成循环", "D3 上级组织代码形成循环"],
            id="cycle",
        ),
        pytest.param(
            [
                ["T-N", "新支部", "党支部", "T-E", "农村", None, None],
                ["T-N", "新支部二", "党支部", "T-E", "农村", None, None],
            ],
            [],
            [],
            ["A3 该代码已在第 2 行出现"],
            id="duplicate codes",
        ),
        pytest.param(
            [["T-N", "新支部", "党支部", "T-E", "农村", None, "=1+1"]], [], [], ["G2 不接受公式"], id="formula"
        ),
        pytest.param([["T-N", "<script>x</script>", "党支部", "T-E", "农村", None, None]], [], [], ["B2"], id="markup"),
        pytest.param([["T-N", None, "党支部", "T-E", "农村", None, None]], [], [], ["B2 必填"], id="required"),
        pytest.param(
            [["T-E-1", "东村支部", "党总支", "T-E", "农村", None, None]],
            [],
            [],
            ["C2 不能通过导入更改组织类别"],
            id="kind change",
        ),
        pytest.param(
            [["T", "中共测试县委员会", "committee", "T-J", "organ", None, None]],
            [],
            [],
            ["D2 上级组织代码形成循环：T → T-J → T"],
            id="move under its own subtree",
        ),
        pytest.param(
            [
                ["T-N", "新工委", "committee", "T-J", "organ", None, None],
                ["T-J", "中共县直机关工委", "committee", "T-N", "organ", None, None],
            ],
            [],
            [],
            ["D2 上级组织代码形成循环", "D3 上级组织代码形成循环"],
            id="move under a new organization beneath it",
        ),
        pytest.param(
            [["T-E-1", "东村支部", "党支部", "T-E-2", "农村", None, None]],
            [],
            [],
            ["C2 党支部不能隶属于党支部"],
            id="move under a parent of the wrong kind",
        ),
        pytest.param(
            [["T-E", "中共东镇委员会", "基层党委", None, "农村", None, None]],
            [],
            [],
            ["D2 组织不能移出组织树"],
            id="move out of the tree",
        ),
        pytest.param(
            [["T-N", "新小组", "党小组", "T-E", "农村", None, None]],
            [],
            [],
            ["C2 党小组不能隶属于基层党委"],
            id="kind under parent",
        ),
        pytest.param(
            [["T-N", "新支部", "党支部", None, "农村", None, None]],
            [],
            [],
            ["D2 新组织须填写上级组织代码"],
            id="no parent",
        ),
        pytest.param(
            [
                ["T-N", "新党委", "基层党委", "T-A", "农村", None, None],
                ["T-A", "坏", "党支部", "NOPE", "农村", None, None],
            ],
            [],
            [],
            ["D2 其上级组织 T-A（第 3 行）未通过检查"],
            id="parent row refused",
        ),
        pytest.param(
            [],
            [["X1", "甲", "男", "正式党员", date(2000, 1, 1), None, "T-E", None, None, None]],
            [],
            ["G2 T-E 不是党支部"],
            id="member outside a branch",
        ),
        pytest.param(
            [],
            [["X1", "甲", "男", "正式党员", date(2000, 1, 1), None, "T-E-2", "T-E-1-G1", None, None]],
            [],
            ["H2 T-E-1-G1 不是本支部的党小组"],
            id="group of another branch",
        ),
        pytest.param(
            [],
            [
                [
                    "X1",
                    "甲",
                    "男",
                    "正式党员",
                    date(2000, 1, 1),
                    date(2020, 1, 1),
                    "T-E-1",
                    None,
                    "已转出",
                    date(2019, 1, 1),
                ],
                ["X2", "乙", "男", "正式党员", date(2000, 1, 1), None, "T-E-1", None, "已转出", None],
                ["X2", "乙", "男", "正式党员", date(2000, 1, 1), None, "T-E-1", None, None, None],
            ],
            [],
            ["J2", "J3", "A4 该党员编号在本支部中已在上方出现"],
            id="member dates and duplicates",
        ),
        pytest.param(
            [],
            [],
            [["T-E-1", "某人", "NOBODY", "书记", "兼职", "否", date(2024, 1, 1), date(2023, 1, 1)]],
            ["C2 T-E-1 没有编号为 NOBODY 的党员", "H2"],
            id="cadre member and term",
        ),
    ],
)
def test_each_kind_of_bad_row_is_refused_by_cell_and_nothing_is_written(
    county, people, org_rows, member_rows, cadre_rows, expected
):
    assert_refused_and_nothing_written(county.root, book_of(org_rows, member_rows, cadre_rows), people.admin, *expected)


def test_a_parent_outside_the_importers_subtree_is_refused(county, make_user):
    """The town's admin adds a branch under the organs' committee, and changes the finance branch: both refused."""
    town_admin = make_user("town_admin", Role.ADMIN, county.town)
    assert_refused_and_nothing_written(
        county.town,
        book_of(
            [
                ["T-N", "新支部", "党支部", "T-J", "机关", None, None],
                ["T-J-1", "县财政局支部", "党支部", "T-J", "机关", None, 999],
                ["T-E-2", "南村支部", "党支部", "T-J", "农村", None, None],
                ["T-J-1", "县财政局支部", "党支部", "T-E", "机关", None, None],
            ],
            [["W1", "王一", "男", "正式党员", date(2010, 7, 1), None, "T-J-1", None, None, None]],
        ),
        town_admin,
        "D2 上级组织 T-J 不在您管理的范围内",
        "A3 该组织不在您管理的范围内",
        "D4 上级组织 T-J 不在您管理的范围内",  # a move out of the importer's subtree
        "G2 组织 T-J-1 不在您管理的范围内",
    )


def test_a_move_under_a_dissolved_organization_is_refused(county, people):
    gone = services.organization_create(
        parent=county.root,
        kind="primary_committee",
        data={"code": "T-X", "name": "旧镇党委", "sector": "village"},
        by=system(),
    )
    services.organization_dissolve(organization=gone, on=date(2025, 1, 1), reason="撤并", by=system())
    assert_refused_and_nothing_written(
        county.root,
        book_of([["T-E-1", "东村支部", "党支部", "T-X", "农村", None, None]]),
        people.admin,
        "D2 上级组织 T-X 已撤销",
    )


def test_an_import_moves_organizations_through_the_move_service(county, people):
    """Parent codes changed in an export: 东村 (with its party group and members) goes to the organs' committee;
    a new committee takes the organs' committee's place and the latter goes under it (a swap the move service
    would refuse in the wrong order); 南村 goes under a new township; a new branch goes under the moved committee.
    The preview shows each move; applying makes each through the move service, with its audit entries."""
    services.organization_create(
        parent=county.organs,
        kind="committee",
        data={"code": "T-K", "name": "机关二工委", "sector": "organ"},
        by=system(),
    )
    book = exported(county.root)
    moves = {"T-E-1": "T-J", "T-K": "T", "T-J": "T-K", "T-E-2": "T-M"}
    for row in book["组织"][1:]:
        row[3] = moves.get(row[0], row[3])
    book["组织"] += [
        ["T-M", "中共北镇委员会", "基层党委", "T", "农村", None, None],
        ["T-J-9", "新机关支部", "党支部", "T-J", "机关", None, None],
    ]
    content = write_book(book, "moves.xlsx").read()
    record = upload_and_check(county.root, SimpleUploadedFile("moves.xlsx", content), people.admin)
    assert record.state == ImportState.CHECKED, refusals(record)
    assert counts(record)["organizations"] == (2, 4, 4, 0)
    changes = {row["key"]: row["changes"] for row in record.preview["shown"]["update"]}
    assert changes["T-E-1"] == [{"column": "上级组织代码", "before": "T-E", "after": "T-J"}]
    assert changes["T-J"] == [{"column": "上级组织代码", "before": "T", "after": "T-K"}]
    moves_before = AuditEntry.objects.filter(changes__has_key="parent").count()

    services.workbook_apply(record=record, by=people.admin)

    parent_of = {org.code: Organization.objects.get_parent(org) for org in Organization.objects.all()}
    assert {code: parent.code for code, parent in parent_of.items() if parent} == {
        "T-E": "T",
        "T-E-1": "T-J",
        "T-E-1-G1": "T-E-1",
        "T-E-2": "T-M",
        "T-M": "T",
        "T-K": "T",
        "T-J": "T-K",
        "T-J-1": "T-J",
        "T-J-9": "T-J",
    }
    assert Organization.objects.find_problems() == ([], [], [], [], [])  # treebeard's own check of paths and counts
    assert Member.objects.get(name="张一").organization.code == "T-E-1"  # members go with their branch
    assert AuditEntry.objects.filter(changes__has_key="parent").count() == moves_before + 4  # one per move

    again = upload_and_check(county.root, SimpleUploadedFile("moves.xlsx", content), people.admin)
    assert counts(again)["organizations"] == (0, 0, 10, 0)  # applied once: the same file changes nothing


def zip_with(entries):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"%PDF-1.7\n" + b"x" * 100, "不是 Excel 工作簿", id="a PDF named .xlsx"),
        pytest.param(zip_with({"a.txt": b"hello"}), "不是 Excel 工作簿", id="a zip without a workbook"),
        pytest.param(
            zip_with(
                {
                    "[Content_Types].xml": b"<x/>",
                    "xl/workbook.xml": b"<x/>",
                    "xl/worksheets/sheet1.xml": b"\0" * (3 << 20),
                }
            ),
            "可能是压缩炸弹",
            id="a zip bomb",
        ),
        pytest.param(b"", "文件为空", id="empty"),
    ],
)
def test_a_file_that_is_not_a_safe_workbook_is_refused_before_it_is_stored(county, people, settings, content, expected):
    settings.WORKBOOK_MAX_UNPACKED_BYTES = 2 << 20
    with pytest.raises(ValidationError) as refused:
        services.workbook_upload(
            organization=county.root, upload=SimpleUploadedFile("data.xlsx", content), by=people.admin
        )
    assert expected in refused.value.message_dict["file"][0]
    assert not WorkbookImport.objects.exists()
    assert SecurityEvent.objects.filter(kind="upload_refused").count() == 1


def test_a_file_over_the_size_limit_is_refused(county, people, settings):
    settings.WORKBOOK_MAX_BYTES = 1000
    with pytest.raises(ValidationError) as refused:
        services.workbook_upload(organization=county.root, upload=edited_county(county), by=people.admin)
    assert "工作簿上限为" in refused.value.message_dict["file"][0]
    assert not WorkbookImport.objects.exists()


# ---------------------------------------------------------------------------------------------- who may


def test_only_an_administrator_of_the_subtree_imports_into_it(county, people):
    for actor in (people.secretary, people.reviewer, people.town_reviewer, people.assessor, people.nobody):
        with pytest.raises(PermissionDenied):
            services.workbook_upload(organization=county.east, upload=edited_county(county), by=actor)
    record = services.workbook_upload(organization=county.root, upload=edited_county(county), by=people.admin)
    for actor in (people.secretary, people.reviewer):
        with pytest.raises(PermissionDenied):
            services.workbook_check(record=record, by=actor)
    services.workbook_check(record=record, by=people.admin)
    with pytest.raises(PermissionDenied):
        services.workbook_apply(record=record, by=people.reviewer)
    assert not Organization.objects.filter(code="T-W").exists()


def test_pages_outside_ones_subtree_answer_404(county, people, signed_in, make_user):
    record = services.workbook_upload(organization=county.root, upload=edited_county(county), by=people.admin)
    secretary = signed_in(people.secretary)
    assert secretary.get(reverse("branches:workbook_import", args=[county.east.pk])).status_code == 404
    assert secretary.get(reverse("branches:workbook_export", args=[county.finance.pk])).status_code == 404
    assert secretary.get(reverse("branches:workbook_import_detail", args=[record.pk])).status_code == 404
    assert secretary.post(reverse("branches:workbook_import_apply", args=[record.pk])).status_code == 404
    assert secretary.get(reverse("branches:workbook_import_file", args=[record.pk])).status_code == 404
    assert secretary.get(reverse("branches:workbook_template")).status_code == 404
    town_reviewer = signed_in(people.town_reviewer)
    assert town_reviewer.get(reverse("branches:workbook_export", args=[county.organs.pk])).status_code == 404
    assert town_reviewer.get(reverse("branches:workbook_export", args=[county.town.pk])).status_code == 200
    town_admin = signed_in(make_user("town_admin", Role.ADMIN, county.town))
    assert town_admin.get(reverse("branches:workbook_import", args=[county.organs.pk])).status_code == 404
    assert town_admin.get(reverse("branches:workbook_import_detail", args=[record.pk])).status_code == 404


def test_the_export_holds_only_the_subtree(county, people, signed_in):
    response = signed_in(people.town_reviewer).get(reverse("branches:workbook_export", args=[county.town.pk]))
    book = read_book(response.content)
    assert {row[0] for row in book["组织"][1:]} == {"T-E", "T-E-1", "T-E-1-G1", "T-E-2"}
    assert {row[1] for row in book["党员"][1:]} == {"张一", "张二", "张三", "李一"}
    assert book["干部"][1:] == []


# ---------------------------------------------------------------------------------------------- pages and jobs


def test_an_admin_uploads_sees_the_preview_and_applies(county, people, signed_in):
    client = signed_in(people.admin)
    page = client.get(reverse("branches:organization", args=[county.root.pk]))
    assert reverse("branches:workbook_import", args=[county.root.pk]) in page.content.decode()
    response = client.post(reverse("branches:workbook_import", args=[county.root.pk]), {"file": edited_county(county)})
    record = WorkbookImport.objects.get()
    assert response.status_code == 302 and response.url == reverse("branches:workbook_import_detail", args=[record.pk])
    preview = client.get(response.url).content.decode()
    assert "确认导入" in preview and "新增" in preview and "T-W-1" in preview
    assert not Organization.objects.filter(code="T-W").exists()
    client.post(reverse("branches:workbook_import_apply", args=[record.pk]))
    assert Organization.objects.filter(code="T-W").exists()
    assert "已导入" in client.get(response.url).content.decode()


def test_a_refused_upload_shows_its_reason_on_the_page(county, people, signed_in):
    client = signed_in(people.admin)
    response = client.post(
        reverse("branches:workbook_import", args=[county.root.pk]),
        {"file": SimpleUploadedFile("notes.xlsx", b"just text")},
    )
    assert response.status_code == 200
    assert "不是 Excel 工作簿" in response.content.decode()
    refused = book_of([["T-N", "新支部", "党支部", "NOPE", "农村", None, None]])
    response = client.post(reverse("branches:workbook_import", args=[county.root.pk]), {"file": refused}, follow=True)
    text = response.content.decode()
    assert "组织代码 NOPE 不存在" in text and "D2" in text and "确认导入" not in text


def test_a_large_workbook_is_checked_and_applied_by_a_job_with_progress(county, people, signed_in, settings):
    from portal.celery import app

    settings.WORKBOOK_INLINE_MAX_BYTES = 0
    app.conf.task_always_eager = True
    try:
        client = signed_in(people.admin)
        response = client.post(
            reverse("branches:workbook_import", args=[county.root.pk]), {"file": edited_county(county)}
        )
        record = WorkbookImport.objects.get()
        assert record.state == ImportState.CHECKED and record.progress == 100 and record.rows_total == 20
        client.post(reverse("branches:workbook_import_apply", args=[record.pk]))
    finally:
        app.conf.task_always_eager = False
    record.refresh_from_db()
    assert record.state == ImportState.APPLIED and record.progress == 100
    assert Member.objects.filter(number="W003").exists()
    assert response.status_code == 302


def test_a_member_who_left_before_a_meeting_is_no_longer_expected_at_it(county, people):
    """张二 left 东村 on 1 May 2026 (recorded by the import) after a meeting of 10 May listed him: his row goes."""
    from datetime import datetime

    from django.utils import timezone

    from branches.models import Attendance, Meeting

    members = list(Member.objects.filter(organization=county.east, status="active"))
    meeting, _warnings = services.meeting_save(
        organization=county.east,
        data={
            "meeting_type": "theme_day",
            "held_at": timezone.make_aware(datetime(2026, 5, 10, 9)),
            "place": "村部",
            "host": "张一",
            "topic": "学习",
        },
        attendance={m.pk: (True, "") for m in members if m.joined_branch_on <= date(2026, 5, 10)},
        by=system(),
    )
    book = exported(county.root)
    for row in book["党员"]:
        if row[1] == "张二":
            row[8], row[9] = "已转出", date(2026, 5, 1)
    record = upload_and_check(county.root, write_book(book), people.admin)
    assert counts(record)["members"] == (0, 1, 4, 0)
    services.workbook_apply(record=record, by=people.admin)
    meeting = Meeting.objects.get(pk=meeting.pk)
    assert not Attendance.objects.filter(meeting=meeting, member__name="张二").exists()
    assert meeting.expected_count == 2
