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

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assessments import scoring, selectors, services
from assessments.models import Assessment
from branches.models import Role
from tests.assessments.test_scoring import (
    AFTER,
    by_org,
    make_rubric,
    manual_scores,
    open_round,
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
