"""Roll-ups to a committee, per indicator: over its sub-organizations assessed in the period, each indicator's
average points and how many meet its standard (full points; a bonus given; no deduction), next to the roll-up of
totals (how many reach each band against the ≥ 90% rule). Shown on the committee's assessment, its printable
report and the ranking.

The tree and rubric of tests/assessments/test_scoring.py, scored over 东镇党委 with every level (the committee
case there): 甲村 支委会 9.166667, attendance 10, duties 7.5, findings 8, 业务工作 55, bonus 3 approved (92.67);
乙村 10, 6, 10, 10, 50, a bonus of 5 not approved (86); 丙村 5, 0, 0, 4, 58, vetoed (67). Over the three:
支委会 (9.166667 + 10 + 5) / 3 = 8.06, at full points 1 (乙); attendance 16 / 3 = 5.33, full 1 (甲);
duties 17.5 / 3 = 5.83, full 1 (乙); findings 22 / 3 = 7.33, full 1 (乙); 业务工作 163 / 3 = 54.33, full 0;
bonus 3 / 3 = 1.00, given 1 (甲; 乙's is not approved).
"""

import csv
import io
from decimal import Decimal
from urllib.parse import unquote

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from assessments import scoring, selectors, services
from assessments.models import Assessment
from branches.models import OrganizationKind, Role, Sector
from tests.assessments.test_scoring import (
    AFTER,
    by_org,
    make_rubric,
    manual_scores,
    open_round,
    organization,
    scored,
    tree,  # noqa: F401 (the fixture)
)
from tests.conftest import system

D = Decimal


@pytest.fixture
def committee_round(tree):  # noqa: F811
    rubric = make_rubric(levels=(), bands=[("好", 90, D("0.9")), ("较好", 80, None), ("差", 0, None)])
    assessment_round = open_round(rubric, tree.town)
    assessments = by_org(assessment_round)
    manual_scores(assessments, tree)
    scored(assessments[tree.town.pk], "work", assessor_score=60)
    services.round_score(round=assessment_round, by=system(), today=AFTER)
    return assessment_round


def town_assessment(assessment_round, tree):  # noqa: F811
    return Assessment.objects.select_related("round", "organization").get(
        round=assessment_round, organization=tree.town
    )


def test_a_committee_sees_each_indicator_over_its_sub_organizations(tree, committee_round):  # noqa: F811
    town = town_assessment(committee_round, tree)
    with CaptureQueriesContext(connection) as queries:
        found = selectors.indicator_rollups(town)
    assert len(queries) == 3
    assert len(found) == 1 and found[0].organizations == 3
    rows = {i.code: (scoring.shown(i.average), i.meeting, i.organizations) for i in found[0].indicators}
    assert rows == {
        "committee": ("8.06", 1, 3),
        "attendance": ("5.33", 1, 3),
        "duties": ("5.83", 1, 3),
        "findings": ("7.33", 1, 3),
        "work": ("54.33", 0, 3),
        "honor": ("1.00", 1, 3),
    }
    assert {i.code: i.area for i in found[0].indicators}["committee"] == "组织建设"
    # A branch has no sub-organization: nothing to roll up.
    branch = Assessment.objects.select_related("round", "organization").get(round=committee_round, organization=tree.a)
    assert selectors.indicator_rollups(branch) == []


def test_a_deduction_is_met_by_those_with_nothing_taken_off(tree):  # noqa: F811
    """A deduction of up to 10 (2 per finding open past its deadline, as findings but taken off): 甲 has one (2 off),
    乙 none, 丙 three (6 off): 1 of 3 meets it, average 8 / 3 = 2.67 taken off."""
    rubric = make_rubric(levels=())
    rubric.indicators.filter(code="findings").update(kind="deduction", rule_params={"per": -2, "floor": 0})
    assessment_round = open_round(rubric, tree.town)
    assessments = by_org(assessment_round)
    for org, points in ((tree.a, 2), (tree.c, 6)):
        scored(assessments[org.pk], "findings", kind="deduction", assessor_score=points, approved_by=system())
    services.round_score(round=assessment_round, by=system(), today=AFTER)
    found = selectors.indicator_rollups(town_assessment(assessment_round, tree))
    findings = next(i for i in found[0].indicators if i.code == "findings")
    assert (findings.meeting, findings.organizations, scoring.shown(findings.average)) == (1, 3, "2.67")


def test_the_report_and_the_ranking_show_the_roll_ups(client, tree, committee_round, make_user):  # noqa: F811
    client.force_login(make_user("reviewer", Role.REVIEWER, tree.root))
    town = town_assessment(committee_round, tree)
    for name in ("assessment_report", "assessment"):
        page = client.get(reverse(f"assessments:{name}", args=[town.pk])).content.decode()
        assert "本考核期内考核的下级组织 3 个，平均总分 81.89，一票否决 1 个。" in page, name
        assert "达到“好”（≥ 90）的 1 个，占 33.3%；要求不低于 90%" in page and "未达标" in page
        assert "分项汇总：测试细则（下级组织 3 个）" in page
        assert "8.06" in page and "1/3 · 33.3%" in page and "0/3 · 0%" in page
    page = client.get(reverse("assessments:ranking", args=[committee_round.pk])).content.decode()
    assert "3 个，平均 81.89" in page and "“好” 33.3%（需 ≥ 90%）" in page
    assert reverse("assessments:assessment_report", args=[town.pk]) + "#rollups" in page
    # A branch's pages have no roll-up.
    branch = Assessment.objects.get(round=committee_round, organization=tree.a)
    assert "data-rollups" not in client.get(reverse("assessments:assessment", args=[branch.pk])).content.decode()


# ------------------------------------------------------------------------------------------------ the export
# The ranking's workbook holds a second sheet, the committees' roll-ups: 东镇党委's totals (3 sub-organizations,
# average 81.89, 1 vetoed), its grade 好 against the ≥ 90% rule (1 of 3 at 90 or more: 33.3%, 90% required, not
# met), then each indicator as above. Branches have no sub-organization: no row.

ROLLUP_HEADER = [
    "组织代码",
    "党组织",
    "组织类别",
    "汇总项目",
    "考核细则",
    "所属项目",
    "指标编码",
    "指标类型",
    "满分",
    "等次分数线",
    "下级组织数",
    "平均得分",
    "一票否决",
    "达标数",
    "达标比例（%）",
    "要求比例（%）",
    "是否达标",
]
TOWN = ["S-1", "东镇党委", "基层党委"]
TOWN_ROLLUPS = [
    [*TOWN, "总分", None, None, None, None, None, None, 3, 81.89, 1, None, None, None, None],
    [*TOWN, "达到“好”", None, None, None, None, None, 90, 3, None, None, 1, 33.3, 90.0, "未达标"],
    [
        *TOWN,
        "committee",
        "测试细则",
        "组织建设",
        "committee",
        "按台账自动计算",
        10,
        None,
        3,
        8.06,
        None,
        1,
        33.3,
        None,
        None,
    ],
    [
        *TOWN,
        "attendance",
        "测试细则",
        "组织建设",
        "attendance",
        "按台账自动计算",
        10,
        None,
        3,
        5.33,
        None,
        1,
        33.3,
        None,
        None,
    ],
    [*TOWN, "duties", "测试细则", "组织建设", "duties", "按台账自动计算", 10, None, 3, 5.83, None, 1, 33.3, None, None],
    [
        *TOWN,
        "findings",
        "测试细则",
        "组织建设",
        "findings",
        "按台账自动计算",
        10,
        None,
        3,
        7.33,
        None,
        1,
        33.3,
        None,
        None,
    ],
    [*TOWN, "业务工作", "测试细则", None, "work", "考核组评分", 60, None, 3, 54.33, None, 0, 0.0, None, None],
    [*TOWN, "表彰", "测试细则", None, "honor", "加分", 5, None, 3, 1, None, 1, 33.3, None, None],
]


def export(client, assessment_round, **params):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("assessments:ranking_export", args=[assessment_round.pk]), params)
    assert response.status_code == 200
    return response, len(queries)


def test_the_ranking_workbook_holds_the_roll_ups_on_a_second_sheet_as_numbers(
    client,
    tree,  # noqa: F811
    committee_round,
    make_user,
):
    client.force_login(make_user("reviewer", Role.REVIEWER, tree.root))
    response, _queries = export(client, committee_round, format="xlsx")
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["排名", "下级组织汇总", "评议测评"]
    assert [row[3] for row in book["排名"].iter_rows(min_row=2, values_only=True)] == [
        "甲村支部",
        "乙村支部",
        "丙村支部",
        "东镇党委",
    ]
    rows = [list(row) for row in book["下级组织汇总"].iter_rows(values_only=True)]
    assert rows[0] == ROLLUP_HEADER
    assert rows[1:] == TOWN_ROLLUPS
    numbers = [cell for row in rows[1:] for cell in row[8:16] if cell is not None]
    assert numbers and all(isinstance(cell, int | float) for cell in numbers)  # a spreadsheet can sum them


def test_the_roll_ups_export_to_csv_in_the_same_shape_and_the_ranking_csv_is_unchanged(
    client,
    tree,  # noqa: F811
    committee_round,
    make_user,
):
    client.force_login(make_user("reviewer", Role.REVIEWER, tree.root))
    response, _queries = export(client, committee_round, format="csv", table="rollups")
    assert unquote(response["Content-Disposition"]).endswith("-下级组织汇总.csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ROLLUP_HEADER
    as_text = [["" if cell is None else str(cell) for cell in row] for row in TOWN_ROLLUPS]
    for row in as_text:  # CSV shows points with two decimals, as the pages do
        for index in (8, 9, 11):
            if row[index]:
                row[index] = f"{Decimal(row[index]):.2f}"
    assert rows[1:] == as_text
    ranking, _queries = export(client, committee_round, format="csv")
    assert list(csv.reader(io.StringIO(ranking.content.decode("utf-8-sig"))))[0][:3] == [
        "排名",
        "同类组织数",
        "组织代码",
    ]


def test_the_export_takes_the_same_queries_for_4_or_22_organizations_and_agrees_with_the_pages(
    client,
    tree,  # noqa: F811
    committee_round,
    make_user,
):
    """The larger round: the county committee over 东镇党委 (and its three villages, also assessed in the smaller round
    over the same period), 西厂党总支 with six branches, and ten branches of its own: three committees, each rolled up
    in the export exactly as its own page rolls it up."""
    reviewer = make_user("reviewer", Role.REVIEWER, tree.root)
    client.force_login(reviewer)
    _response, few = export(client, committee_round, format="xlsx")
    _response, few_csv = export(client, committee_round, format="csv", table="rollups")
    general = organization(tree.root, OrganizationKind.GENERAL_BRANCH, "S-2", "西厂党总支", Sector.STATE_ENTERPRISE)
    for i in range(6):
        organization(general, OrganizationKind.BRANCH, f"S-2-{i}", f"西厂第{i}支部", Sector.STATE_ENTERPRISE)
    for i in range(10):
        organization(tree.root, OrganizationKind.BRANCH, f"S-9-{i}", f"县直第{i}支部", Sector.ORGAN)
    larger = open_round(committee_round.rubric, tree.root)
    assessments = by_org(larger)
    assert len(assessments) == 22
    for n, assessment in enumerate(assessments.values()):
        scored(assessment, "work", assessor_score=40 + n)
    services.round_score(round=larger, by=system(), today=AFTER)

    response, many = export(client, larger, format="xlsx")
    _response, many_csv = export(client, larger, format="csv", table="rollups")
    assert (few, few_csv) == (many, many_csv)
    rows = list(load_workbook(io.BytesIO(response.content))["下级组织汇总"].iter_rows(min_row=2, values_only=True))
    assert {row[0] for row in rows} == {"S", "S-1", "S-2"}
    committees = Assessment.objects.filter(round=larger, organization__code__in=["S", "S-1", "S-2"]).select_related(
        "round", "organization"
    )
    everyone = [
        (a.pk, a.organization.path) for a in Assessment.objects.filter(round=larger).select_related("organization")
    ]
    with CaptureQueriesContext(connection) as queries:
        together = selectors.ranking_rollups(reviewer, larger, everyone)
    assert len(queries) == 1 + 3 and set(
        together
    )  # the user's roles (read once a request), then three == {a.pk for a in committees}

    def plain(groups):
        return [
            (g.round.pk, g.organizations, [(i.code, i.organizations, i.average, i.meeting) for i in g.indicators])
            for g in groups
        ]

    for committee in committees:
        assert plain(together[committee.pk]) == plain(selectors.indicator_rollups(committee)), committee.organization
    county = next(a for a in committees if a.organization.code == "S")
    # Under the county committee: the smaller round's four (东镇党委 and its villages), and this round's 21.
    assert [g.organizations for g in together[county.pk]] == [4, 21]
