"""The scoring engine with hand-checkable numbers.

The pure parts (rules, aggregations, formulas, grades, ranks, quotas, roll-ups) are checked on plain definitions;
a round over a small drawn tree checks the engine end to end (queries, traces, re-runs, a run killed midway).
"""

import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from assessments import metrics, scoring, services
from assessments.models import (
    Assessment,
    AssessmentState,
    DutyMonthSummary,
    Finding,
    GradeBand,
    Indicator,
    Inspection,
    Rubric,
    RubricState,
    Score,
    ScoreSheet,
)
from branches import services as branch_services
from branches.models import ComplianceResult, MonthSummary, OrganizationKind, Role, Sector
from tests.assessments.conftest import figures, finals
from tests.conftest import system

D = Decimal


def two(number):
    return Decimal(number).quantize(Decimal("0.01"))


# ----------------------------------------------------------------------------------------------------- rules


def test_proportional_rule_gives_the_share_of_the_maximum():
    """11 of 12 months met, 10 points: 11/12 × 10 = 9.1666… → 9.17 shown; full points at 90% when full_at=0.9."""
    assert two(scoring.rule_points("proportional", D(11) / D(12), D(10))) == D("9.17")
    assert scoring.rule_points("proportional", D("0.9"), D(10), {"full_at": "0.9"}) == D(10)
    assert scoring.rule_points("proportional", D("0.45"), D(10), {"full_at": "0.9"}) == D(5)
    assert scoring.rule_points("proportional", None, D(10), {}, "full") == D(10)
    assert scoring.rule_points("proportional", None, D(10), {"if_none": "zero"}, "full") == D(0)


def test_steps_rule_gives_the_points_of_the_highest_threshold_reached():
    """Steps 90% → 10, 80% → 6, 60% → 3: 0.95 → 10, 0.80 → 6 (at the threshold), 0.79 → 3, 0.5 → 0."""
    steps = {"steps": [[0.6, 3], [0.9, 10], [0.8, 6]]}
    assert [scoring.rule_points("steps", D(v), D(10), steps) for v in ("0.95", "0.80", "0.79", "0.5")] == [10, 6, 3, 0]


def test_steps_as_rubric_files_write_them_score_the_same(db):
    """A rubric file writes a step as {"from": 0.8, "points": 6}: the engine reads it as the pair [0.8, 6], so a
    published rubric with steps (the demo's 五个好 attendance) can open a round."""
    from assessments import demo

    steps = {"steps": [{"from": 0.6, "points": 3}, {"from": 0.9, "points": 10}, {"from": 0.8, "points": 6}]}
    assert [scoring.rule_points("steps", D(v), D(10), steps) for v in ("0.95", "0.80", "0.79", "0.5")] == [10, 6, 3, 0]
    assert scoring.validate_rule("steps", steps, D(10)) == []
    assert scoring.validate_rule("steps", {"steps": [{"from": 0.6, "points": 30}]}, D(10)) != []
    demo.build_rubrics(year=2026)
    five_goods = Rubric.objects.get(code="five-goods", year=2026, state=RubricState.PUBLISHED)
    assert scoring.check(scoring.definitions_of(five_goods)) == []


def test_per_occurrence_rule_takes_off_each_time_down_to_its_floor():
    """10 points, 2 off each time, floor 3: 0 → 10, 1 → 8, 3 → 4, 4 → 3 (not 2), 9 → 3."""
    params = {"per": 2, "floor": 3}
    assert [scoring.rule_points("per_occurrence", D(n), D(10), params) for n in (0, 1, 3, 4, 9)] == [10, 8, 4, 3, 3]
    assert scoring.rule_points("per_occurrence", D(9), D(10), {"per": 2}) == 0


def test_rule_and_metric_parameters_are_checked_with_chinese_messages():
    with translation.override("zh-hans"):
        assert metrics.validate("meetings_met", {}) == ["指标“meetings_met”需要参数“meeting_type”。"]
        assert "未知指标" in metrics.validate("no_such_metric", {})[0]
        assert metrics.validate("meetings_met", {"meeting_type": "committee_meeting"}) == []
        assert len(metrics.validate("staffing_ratio", {"share": 3, "other": 1})) == 2
        assert scoring.validate_rule("steps", {"steps": "90"}) == ["阶梯计分需要 [阈值, 分值] 对的列表。"]
        assert scoring.validate_rule("per_occurrence", {}, D(10)) == ["按次扣分需要“per”，即每次扣的分数。"]


# ------------------------------------------------------------------------------------------ aggregations


def definitions(indicators, bands=(), total="100", bonus_may_exceed=False):
    items = []
    for position, (code, parent, kind, max_points, extra) in enumerate(indicators):
        items.append(
            {
                "code": code,
                "parent": parent,
                "position": position,
                "title": code,
                "kind": kind,
                "max_points": str(max_points),
                "aggregation": extra.get("aggregation", "capped_sum"),
                "weight": str(extra.get("weight", 1)),
                "formula": extra.get("formula", ""),
                "metric": extra.get("metric", ""),
                "params": extra.get("params", {}),
                "rule": extra.get("rule", ""),
                "rule_params": extra.get("rule_params", {}),
            }
        )
    return {
        "rubric": {"total_points": total, "bonus_may_exceed": bonus_may_exceed},
        "indicators": items,
        "bands": [
            {"name": name, "min_points": str(points), "max_share": mx, "min_share": mn, "children_share": ch}
            for name, points, mx, mn, ch in bands
        ],
    }


def test_capped_sum_caps_at_the_area_maximum_then_adds_the_bonus_and_takes_the_deduction():
    """Area A (max 20): a 12 + b 15 = 27 → capped 20; + bonus 3 (cap 5, approved 3) − deduction 4 = 19.
    Area B (max 80): c 70. Total 19 + 70 = 89."""
    tree = scoring.Tree(
        definitions(
            [
                ("A", None, "group", 20, {}),
                ("a", "A", "manual", 15, {}),
                ("b", "A", "manual", 15, {}),
                ("plus", "A", "bonus", 5, {}),
                ("minus", "A", "deduction", 10, {}),
                ("B", None, "group", 80, {}),
                ("c", "B", "manual", 80, {}),
            ]
        )
    )
    points, total = tree.aggregate({"a": D(12), "b": D(15), "plus": D(3), "minus": D(4), "c": D(70)})
    assert points["A"] == 19 and total == 89


def test_a_deduction_never_takes_an_area_below_zero_and_a_bonus_never_above_its_maximum():
    """Area (max 10): a 2 − deduction 6 = −4 → 0. Area (max 10): a 9 + bonus 5 = 14 → 10 (no exceeding);
    with bonus_may_exceed: 14."""
    rows = [("A", None, "group", 10, {}), ("a", "A", "manual", 10, {}), ("d", "A", "deduction", 10, {})]
    assert scoring.Tree(definitions(rows)).aggregate({"a": D(2), "d": D(6)})[0]["A"] == 0
    rows = [("A", None, "group", 10, {}), ("a", "A", "manual", 10, {}), ("p", "A", "bonus", 5, {})]
    assert scoring.Tree(definitions(rows)).aggregate({"a": D(9), "p": D(5)})[0]["A"] == 10
    points, total = scoring.Tree(definitions(rows, total="10", bonus_may_exceed=True)).aggregate({"a": D(9), "p": D(5)})
    assert points["A"] == 14 and total == 14


def test_weighted_average_weighs_each_part_as_a_share_of_its_maximum():
    """Area (max 30, weighted average): a 8 of 10 (weight 1), b 10 of 20 (weight 3):
    (1 × 0.8 + 3 × 0.5) / 4 = 0.575 → 0.575 × 30 = 17.25."""
    tree = scoring.Tree(
        definitions(
            [
                ("A", None, "group", 30, {"aggregation": "weighted_average"}),
                ("a", "A", "manual", 10, {"weight": 1}),
                ("b", "A", "manual", 20, {"weight": 3}),
            ]
        )
    )
    assert tree.aggregate({"a": D(8), "b": D(10)})[0]["A"] == D("17.25")


def test_formula_combines_parts_by_their_codes():
    """(base − deductions) × 70% + review × 30%: base 90 of 100, deductions 10 (a deduction area: 4 + 6),
    review 80 of 100 → (90 − 10) × 0.7 + 80 × 0.3 = 56 + 24 = 80."""
    tree = scoring.Tree(
        definitions(
            [
                (
                    "total",
                    None,
                    "group",
                    100,
                    {"aggregation": "formula", "formula": "(base - deductions) * 70% + review * 30%"},
                ),
                ("base", "total", "manual", 100, {}),
                ("deductions", "total", "group", 20, {}),
                ("d1", "deductions", "deduction", 10, {}),
                ("d2", "deductions", "deduction", 10, {}),
                ("review", "total", "manual", 100, {}),
            ]
        )
    )
    points, total = tree.aggregate({"base": D(90), "d1": D(4), "d2": D(6), "review": D(80)})
    assert points["deductions"] == 10 and points["total"] == 80 and total == 80


@pytest.mark.parametrize(
    "formula",
    [
        "__import__('os').system('true')",
        "base.__class__",
        "base ** 99999",
        "open('x')",
        "[base]",
        "base if review else 1",
        "other + 1",
        "'1' + base",
        "(" * 300 + "1" + ")" * 300,
        "",
    ],
)
def test_a_hostile_or_malformed_formula_is_refused_never_run(formula):
    with pytest.raises(scoring.FormulaError):
        scoring.parse_formula(formula, {"base", "review"})


# ------------------------------------------------------------------------------------ ranks, grades, quotas


BANDS_FIVE_STAR = [
    {"name": "五星", "min_points": D(90), "max_share": D("0.3"), "min_share": None, "children_share": None},
    {"name": "四星", "min_points": D(80), "max_share": None, "min_share": None, "children_share": None},
    {"name": "三星", "min_points": D(0), "max_share": None, "min_share": None, "children_share": None},
]


def graded(totals, bands, vetoed=()):
    entries = [scoring.Entry(key, D(total), key in vetoed) for key, total in totals.items()]
    scoring.grade_peers(entries, bands)
    return {e.key: (e.rank, bands[e.band]["name"]) for e in entries}, {e.key: e for e in entries}


def test_equal_totals_share_a_rank_and_the_next_rank_skips():
    """95, 92, 92, 80 → ranks 1, 2, 2, 4."""
    ranks, _ = graded({"a": 95, "b": 92, "c": 92, "d": 80}, BANDS_FIVE_STAR[1:])
    assert [ranks[k][0] for k in "abcd"] == [1, 2, 2, 4]


def test_a_tie_straddling_the_quota_boundary_drops_whole():
    """Ten peers, 五星 ≥ 90 capped at 30% → 3 seats. Totals 99, 95, 93, 93, 91, then five below 90.
    99 and 95 take two seats; 93 and 93 tie for the third: both cannot fit, so both (and 91 below them) drop to
    四星. Tied organizations always share a grade."""
    totals = {"a": 99, "b": 95, "c": 93, "d": 93, "e": 91, "f": 85, "g": 84, "h": 70, "i": 60, "j": 50}
    ranks, entries = graded(totals, BANDS_FIVE_STAR)
    assert [ranks[k][1] for k in "abcde"] == ["五星", "五星", "四星", "四星", "四星"]
    assert entries["c"].why == ["quota:五星"] and ranks["c"][0] == ranks["d"][0] == 3


def test_a_tie_that_fits_the_quota_keeps_the_band():
    """Ten peers, 3 seats: 99, 93, 93 fill them exactly; 91 drops."""
    totals = {"a": 99, "b": 93, "c": 93, "d": 91, "e": 85, "f": 84, "g": 70, "h": 60, "i": 50, "j": 40}
    ranks, _ = graded(totals, BANDS_FIVE_STAR)
    assert [ranks[k][1] for k in "abcd"] == ["五星", "五星", "五星", "四星"]


def test_min_share_moves_the_lowest_ranked_down_until_it_is_met():
    """好 ≥ 90, 一般 ≥ 60, 相对后进 ≥ 0 with at least 10%. Twenty peers all at 60 or more: ⌈0.1 × 20⌉ = 2 must
    be 相对后进. The two lowest (61 and 60) move down and are 末位; nobody else does."""
    bands = [
        {"name": "好", "min_points": D(90), "max_share": None, "min_share": None, "children_share": None},
        {"name": "一般", "min_points": D(60), "max_share": None, "min_share": None, "children_share": None},
        {"name": "相对后进", "min_points": D(0), "max_share": None, "min_share": D("0.1"), "children_share": None},
    ]
    totals = {f"o{i}": 80 - i for i in range(20)}  # 80, 79, … 61
    totals["o19"] = 60
    ranks, entries = graded(totals, bands)
    moved = sorted(k for k, (_rank, grade) in ranks.items() if grade == "相对后进")
    assert moved == ["o18", "o19"]
    assert {k for k, e in entries.items() if e.bottom} == {"o18", "o19"}


def test_min_share_moves_a_tie_at_the_bottom_together():
    """Ten peers, at least 10% (1) 相对后进; the two lowest tie at 70: both move down."""
    bands = [
        {"name": "一般", "min_points": D(60), "max_share": None, "min_share": None, "children_share": None},
        {"name": "相对后进", "min_points": D(0), "max_share": None, "min_share": D("0.1"), "children_share": None},
    ]
    totals = {f"o{i}": 90 - i for i in range(8)} | {"x": 70, "y": 70}
    ranks, _ = graded(totals, bands)
    assert sorted(k for k, (_r, g) in ranks.items() if g == "相对后进") == ["x", "y"]


def test_a_vetoed_organization_gets_the_lowest_grade_and_ranks_after_the_others():
    """98 vetoed, 85, 70: ranks 85 → 1, 70 → 2, 98 (vetoed) → 3, graded 三星 and 末位; takes no 五星 seat."""
    ranks, entries = graded({"v": 98, "a": 85, "b": 70}, BANDS_FIVE_STAR, vetoed={"v"})
    assert ranks == {"v": (3, "三星"), "a": (1, "四星"), "b": (2, "三星")}
    assert entries["v"].bottom and entries["v"].why == ["veto"]


def test_ranking_compares_the_exact_totals_never_the_two_decimals_shown():
    """89.996 shows as 90.00 but is below 90: 四星, ranked after 90.004 (shown 90.00 too)."""
    ranks, _ = graded(
        {"a": "89.996", "b": "90.004"},
        BANDS_FIVE_STAR[1:] and [BANDS_FIVE_STAR[0] | {"max_share": None}, *BANDS_FIVE_STAR[1:]],
    )
    assert ranks == {"a": (2, "四星"), "b": (1, "五星")}


def test_a_committee_qualifies_only_when_ninety_percent_of_its_sub_organizations_meet_the_standard():
    """五好 ≥ 90 needs ≥ 90% of the sub-organizations at 90 or more (vetoed ones never count as meeting).
    Committee X (95) over ten branches, nine at 90+: 90% → qualifies, 五好. Committee Y (95) over ten, eight at
    90+ and one vetoed at 99: 80% → capped to 较好 whatever its points. A branch (no sub-organizations) is not
    concerned."""
    bands = [
        {"name": "五好", "min_points": D(90), "max_share": None, "min_share": None, "children_share": D("0.9")},
        {"name": "较好", "min_points": D(0), "max_share": None, "min_share": None, "children_share": None},
    ]
    pool = {"X": (D(95), False), "Y": (D(95), False)}
    for i in range(10):
        pool[f"X{i:03}"] = (D(90) if i < 9 else D(89), False)
        pool[f"Y{i:03}"] = (D(99), i == 8) if i >= 8 else (D(90), False)
    pool["Y009"] = (D(50), False)
    entries = {key: (key, scoring.Entry(key, pool[key][0], pool[key][1])) for key in ("X", "Y", "X000")}
    figures = scoring.rollups(entries, pool, bands)
    assert figures["X"]["bands"][0] | {} == {
        "band": "五好",
        "min_points": "90",
        "required_share": "0.9",
        "meeting": 9,
        "share": "0.900000",
        "qualifies": True,
    }
    assert figures["Y"]["bands"][0]["meeting"] == 8 and not figures["Y"]["bands"][0]["qualifies"]
    assert "X000" not in figures and figures["Y"]["vetoed"] == 1
    group = [entry for _path, entry in entries.values()]
    scoring.grade_peers(group, bands)
    assert {e.key: bands[e.band]["name"] for e in group} == {"X": "五好", "Y": "较好", "X000": "五好"}
    assert entries["Y"][1].why == ["children"]


# ------------------------------------------------------------------------------------------- the engine


def make_rubric(levels=(OrganizationKind.BRANCH,), bands=None):
    """The test rubric (100 points):
    - org 组织建设 (capped sum, 40): committee 支委会 meetings_met committee_meeting proportional 10;
      attendance 出席率 steps 90% → 10, 80% → 6, 10; duties 责任落实 duties_on_time proportional 10;
      findings 问题整改 findings_open_past_deadline per occurrence 2 off, 10
    - work 业务工作 (manual, 60); honor 表彰 (bonus, 5); veto 一票否决 (veto, manual)
    Bands: 好 ≥ 90, 较好 ≥ 80, 一般 ≥ 60, 差 ≥ 0 (unless given)."""
    rubric = Rubric.objects.create(
        code="test", title="测试细则", year=2026, state=RubricState.PUBLISHED, levels=list(levels)
    )
    org = Indicator.objects.create(rubric=rubric, code="org", title="组织建设", kind="group", max_points=40)
    computed = [
        ("committee", "meetings_met", {"meeting_type": "committee_meeting"}, "proportional", {}),
        ("attendance", "attendance_rate", {}, "steps", {"steps": [[0.9, 10], [0.8, 6]]}),
        ("duties", "duties_on_time", {}, "proportional", {}),
        ("findings", "findings_open_past_deadline", {}, "per_occurrence", {"per": 2}),
    ]
    for position, (code, metric, params, rule, rule_params) in enumerate(computed):
        Indicator.objects.create(
            rubric=rubric,
            parent=org,
            position=position,
            code=code,
            title=code,
            kind="computed",
            max_points=10,
            metric=metric,
            params=params,
            rule=rule,
            rule_params=rule_params,
        )
    Indicator.objects.create(rubric=rubric, code="work", title="业务工作", kind="manual", max_points=60, position=1)
    Indicator.objects.create(rubric=rubric, code="honor", title="表彰", kind="bonus", max_points=5, position=2)
    Indicator.objects.create(rubric=rubric, code="veto", title="一票否决", kind="veto", position=3)
    for name, points, children_share in bands or [
        ("好", 90, None),
        ("较好", 80, None),
        ("一般", 60, None),
        ("差", 0, None),
    ]:
        GradeBand.objects.create(rubric=rubric, name=name, min_points=points, children_share=children_share)
    return rubric


def organization(parent, kind, code, name, sector=Sector.VILLAGE):
    return branch_services.organization_create(
        parent=parent, kind=kind, data={"code": code, "name": name, "sector": sector}, by=system()
    )


def monthly(org, meeting_type, held_by_month, year=2026):
    """The kept compliance result of a monthly rule over the year, as `branches.results` writes it."""
    spans = [[f"{year}-{m:02}-01", held, 1, 1] for m, held in enumerate(held_by_month, start=1)]
    unmet = next((s for s in spans if s[1] < s[2]), None)
    ComplianceResult.objects.create(
        organization=org,
        meeting_type=meeting_type,
        rule_period="month",
        period="year",
        start=date(year, 1, 1),
        first_judged=date(year, 1, 1),
        unmet_start=date.fromisoformat(unmet[0]) if unmet else None,
        unmet_end=date.fromisoformat(unmet[0]).replace(day=28) if unmet else None,
        spans=spans,
    )


def finding(org, deadline, closed_at=None):
    inspection = Inspection.objects.create(organization=org, held_on=date(2026, 1, 5), title="检查")
    return Finding.objects.create(
        inspection=inspection,
        organization=org,
        description="问题",
        required_rectification="整改",
        deadline=deadline,
        closed_at=closed_at,
        state="verified" if closed_at else "open",
    )


def scored(assessment, code, **values):
    return Score.objects.update_or_create(assessment=assessment, code=code, defaults={"kind": "manual", **values})[0]


@pytest.fixture
def tree(db):
    """中共测试县委 (committee) → 东镇党委 (primary committee) → 甲村, 乙村, 丙村 (branches).

    甲: 支委会 11 of 12 months (missing 2026-05) → 11/12 × 10 = 9.166667; attendance 45/50 = 90% → 10;
        duties 3 of 4 on time → 7.5; one finding open past its deadline → 10 − 2 = 8. 组织建设 34.666667;
        业务工作 55; bonus 3 approved → 92.67 → 好, rank 1.
    乙: 支委会 12 of 12 → 10; attendance 40/50 = 80% → 6; no duty due → 10 (nothing owed: full);
        no finding open → 10. 组织建设 36; 业务工作 50 → 86 → 较好, rank 2. A bonus of 5 not approved: not counted.
    丙: 支委会 6 of 12 → 5; no attendance → 0; duties 0 of 2 → 0; three findings open past deadline → 4.
        组织建设 9; 业务工作 58 → 67, vetoed → 差, rank 3 (末位).
    """
    root = organization(None, OrganizationKind.COMMITTEE, "S", "中共测试县委", Sector.ORGAN)
    town = organization(root, OrganizationKind.PRIMARY_COMMITTEE, "S-1", "东镇党委")
    a = organization(town, OrganizationKind.BRANCH, "S-1-1", "甲村支部")
    b = organization(town, OrganizationKind.BRANCH, "S-1-2", "乙村支部")
    c = organization(town, OrganizationKind.BRANCH, "S-1-3", "丙村支部")
    monthly(a, "committee_meeting", [1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1])
    monthly(b, "committee_meeting", [1] * 12)
    monthly(c, "committee_meeting", [1, 0] * 6)
    for org, present in ((a, 45), (b, 40)):
        MonthSummary.objects.create(
            organization=org,
            month=date(2026, 3, 1),
            meeting_type="general_meeting",
            held=1,
            expected=25,
            present=present // 2,
        )
        MonthSummary.objects.create(
            organization=org,
            month=date(2026, 9, 1),
            meeting_type="general_meeting",
            held=1,
            expected=25,
            present=present - present // 2,
        )
    DutyMonthSummary.objects.create(
        organization=a, month=date(2026, 6, 1), duties_due=4, duties_on_time=3, duties_late=1
    )
    DutyMonthSummary.objects.create(organization=c, month=date(2026, 6, 1), duties_due=2, duties_open=2)
    finding(a, date(2026, 10, 1))
    finding(a, date(2026, 10, 1), closed_at=datetime(2026, 9, 30, 12, tzinfo=UTC))  # closed in time: not counted
    for _ in range(3):
        finding(c, date(2026, 8, 1))

    class Tree:
        pass

    t = Tree()
    t.root, t.town, t.a, t.b, t.c = root, town, a, b, c
    return t


def open_round(rubric, root, period=(date(2026, 1, 1), date(2026, 12, 31)), by=None):
    return services.round_open(
        rubric=rubric,
        root=root,
        period_start=period[0],
        period_end=period[1],
        self_assessment_due=date(2027, 1, 15),
        review_due=date(2027, 1, 31),
        by=by or system(),
    )


AFTER = date(2027, 1, 10)  # the day of the run: the year 2026 is over


def manual_scores(assessments, tree):
    scored(assessments[tree.a.pk], "work", assessor_score=55)
    scored(assessments[tree.a.pk], "honor", kind="bonus", assessor_score=3, approved_by=system())
    scored(assessments[tree.b.pk], "work", assessor_score=50)
    scored(assessments[tree.b.pk], "honor", kind="bonus", assessor_score=5)  # not approved
    scored(assessments[tree.c.pk], "work", assessor_score=58)
    scored(assessments[tree.c.pk], "veto", kind="veto", assessor_score=1)


def by_org(assessment_round):
    return {a.organization_id: a for a in Assessment.objects.filter(round=assessment_round)}


def test_a_round_scores_every_organization_with_the_numbers_of_the_docstring(tree):
    assessment_round = open_round(make_rubric(), tree.root)
    assessments = by_org(assessment_round)
    assert set(assessments) == {tree.a.pk, tree.b.pk, tree.c.pk}  # branches only: the rubric's level
    manual_scores(assessments, tree)

    services.round_score(round=assessment_round, by=system(), today=AFTER)

    found = by_org(assessment_round)
    a, b, c = found[tree.a.pk], found[tree.b.pk], found[tree.c.pk]
    points = finals(a)
    assert [two(points[k]) for k in ("committee", "attendance", "duties", "findings")] == [
        D("9.17"),
        D("10.00"),
        D("7.50"),
        D("8.00"),
    ]
    assert a.parts == {"org": "34.666667"}
    assert (two(a.total), a.grade, a.rank, a.peer_size, a.vetoed, a.bottom) == (D("92.67"), "好", 1, 3, False, False)
    assert (two(b.total), b.grade, b.rank, b.vetoed) == (D("86.00"), "较好", 2, False)
    assert (two(c.total), c.grade, c.rank, c.vetoed, c.bottom) == (D("67.00"), "差", 3, True, True)
    computed_codes = {"committee", "attendance", "duties", "findings"}
    assert {code: two(final) for code, final in finals(c).items() if code in computed_codes} == {
        "committee": D("5.00"),
        "attendance": D("0.00"),
        "duties": D("0.00"),
        "findings": D("4.00"),
    }


def test_each_computed_score_says_why(tree):
    """甲村's 支委会: 11 of 12 months met, missing 2026-05 → 9.17 of 10 points."""
    assessment_round = open_round(make_rubric(), tree.root)
    services.round_score(round=assessment_round, by=system(), today=AFTER)
    score = figures(round=assessment_round, organization=tree.a, code="committee")
    assert score.trace["inputs"] == {
        "meeting_type": "committee_meeting",
        "unit": "month",
        "owed": 12,
        "met": 11,
        "missing": [{"span": "2026-05", "start": "2026-05-01", "held": 0, "required": 1}],
    }
    assert score.trace["value"] == "0.916667" and score.trace["through"] == "2026-12-31"
    with translation.override("zh-hans"):
        assert (
            scoring.why(score.trace)
            == "支部委员会会议：应达标 12 个月，达标 11 个，缺 2026-05 → 得 9.17 分（满分 10.00）"
        )
        findings = figures(round=assessment_round, organization=tree.c, code="findings")
        assert scoring.why(findings.trace) == "逾期未整改问题数：3 → 得 4.00 分（满分 10.00）"
        assert len(findings.trace["inputs"]["findings"]) == 3


def test_a_round_running_counts_only_the_months_over(tree):
    """Scored on 2026-06-15, the year's round reads January–May: 甲村 met 4 of 5 (May missing) → 8 of 10."""
    assessment_round = open_round(make_rubric(), tree.root)
    services.round_score(round=assessment_round, by=system(), today=date(2026, 6, 15))
    score = figures(round=assessment_round, organization=tree.a, code="committee")
    assert (score.trace["inputs"]["owed"], score.trace["inputs"]["met"], score.final) == (5, 4, D(8))


def test_re_running_gives_identical_results_and_writes_no_score(tree):
    assessment_round = open_round(make_rubric(), tree.root)
    manual_scores(by_org(assessment_round), tree)
    services.round_score(round=assessment_round, by=system(), today=AFTER)
    before = snapshot(assessment_round)

    again = services.round_score(round=assessment_round, by=system(), today=AFTER)

    assert snapshot(assessment_round) == before
    assert (again.sheets_created, again.sheets_updated, again.assessments_changed) == (0, 0, 0)


def snapshot(assessment_round):
    assessments = Assessment.objects.filter(round=assessment_round).order_by("pk")
    return (
        list(assessments.values_list("total", "grade", "rank", "peer_size", "vetoed", "bottom", "parts", "rollup")),
        list(
            ScoreSheet.objects.filter(assessment__round=assessment_round).order_by("pk").values_list("finals", "leaves")
        ),
    )


def test_a_run_killed_midway_leaves_the_previous_results(tree, monkeypatch):
    assessment_round = open_round(make_rubric(), tree.root)
    manual_scores(by_org(assessment_round), tree)
    services.round_score(round=assessment_round, by=system(), today=AFTER)
    before = snapshot(assessment_round)
    MonthSummary.objects.filter(organization=tree.b).update(present=25)  # 乙村's attendance now 100%
    ComplianceResult.objects.filter(organization=tree.c).delete()

    write_rows = scoring.write_rows

    def killed(model, objects, fields):
        if model is Assessment:  # the score sheets are written by then
            raise RuntimeError("the database went away")
        write_rows(model, objects, fields)

    monkeypatch.setattr(scoring, "write_rows", killed)
    with pytest.raises(RuntimeError):
        services.round_score(round=assessment_round, by=system(), today=AFTER)

    assert snapshot(assessment_round) == before


def test_published_assessments_are_never_recomputed(tree):
    assessment_round = open_round(make_rubric(), tree.root)
    services.round_score(round=assessment_round, by=system(), today=AFTER)
    Assessment.objects.filter(round=assessment_round, organization=tree.a).update(state=AssessmentState.PUBLISHED)
    published = Assessment.objects.get(round=assessment_round, organization=tree.a)
    ComplianceResult.objects.filter(organization=tree.a).delete()

    run = services.round_score(round=assessment_round, by=system(), today=AFTER)

    after = Assessment.objects.get(round=assessment_round, organization=tree.a)
    assert run.skipped_published == 1 and after.total == published.total and after.computed_at == published.computed_at
    assert figures(after, "committee").final == Decimal("9.166667")


def test_a_committee_is_capped_when_too_few_sub_organizations_meet_the_standard(tree):
    """A rubric for every level, 好 ≥ 90 needing ≥ 90% of sub-organizations at 90. 东镇党委 (no meeting rows:
    支委会 nothing owed → 10; no attendance → 0; no duty → 10; no finding → 10; 业务工作 60) has 90 points, but of
    its three branches only 甲村 reaches 90 (1 of 3): capped to 较好. 甲村 has no sub-organization: 好."""
    rubric = make_rubric(levels=(), bands=[("好", 90, D("0.9")), ("较好", 80, None), ("差", 0, None)])
    assessment_round = open_round(rubric, tree.town)
    assessments = by_org(assessment_round)
    assert set(assessments) == {tree.town.pk, tree.a.pk, tree.b.pk, tree.c.pk}
    manual_scores(assessments, tree)
    scored(assessments[tree.town.pk], "work", assessor_score=60)

    services.round_score(round=assessment_round, by=system(), today=AFTER)

    found = by_org(assessment_round)
    town = found[tree.town.pk]
    assert (two(town.total), town.grade, town.rank, town.peer_size) == (D("90.00"), "较好", 1, 1)
    assert town.rollup["sub_organizations"] == 3 and town.rollup["bands"][0]["meeting"] == 1
    assert town.rollup["average_total"] == "81.888889"  # (92.666667 + 86 + 67) / 3
    assert town.grade_trace == {"reasons": ["children"]}
    assert found[tree.a.pk].grade == "好" and found[tree.a.pk].rollup == {}


def test_the_number_of_queries_does_not_grow_with_the_organizations(tree):
    """A round over 3 branches and one over 9 (each with an assessor's score on every assessment) take the same
    number of queries."""
    other = organization(tree.root, OrganizationKind.PRIMARY_COMMITTEE, "S-2", "西镇党委")
    for i in range(9):
        branch = organization(other, OrganizationKind.BRANCH, f"S-2-{i}", f"西{i}村支部")
        monthly(branch, "committee_meeting", [1] * 12)
    rubric = make_rubric()
    counts = []
    for root in (tree.town, other):
        assessment_round = open_round(rubric, root)
        for assessment in by_org(assessment_round).values():
            scored(assessment, "work", assessor_score=50)
        with CaptureQueriesContext(connection) as queries:
            services.round_score(round=assessment_round, by=system(), today=AFTER)
        counts.append([q["sql"][:90] for q in queries.captured_queries])
    assert len(counts[0]) == len(counts[1]), "\n".join(counts[0] + ["----"] + counts[1])


def test_opening_a_round_refuses_bad_input_and_writes_nothing(tree):
    rubric = make_rubric()
    draft = Rubric.objects.create(code="draft", title="草稿", year=2026)
    with translation.override("zh-hans"), pytest.raises(ValidationError) as refused:
        services.round_open(
            rubric=draft,
            root=tree.root,
            period_start=date(2026, 3, 1),
            period_end=date(2026, 12, 31),
            self_assessment_due=date(2027, 1, 31),
            review_due=date(2027, 1, 15),
            by=system(),
        )
    assert refused.value.messages == [
        "只有已发布的考核细则才能用于考核轮次。",
        "考核轮次的期间须为半年（1月1日至6月30日或7月1日至12月31日）或全年。",
        "复核截止日不能早于自评截止日。",
    ]
    open_round(rubric, tree.root)
    with translation.override("zh-hans"), pytest.raises(ValidationError) as refused:
        open_round(rubric, tree.root)
    assert refused.value.messages == ["该细则在此范围和期间的考核轮次已经开启。"]
    assert Assessment.objects.count() == 3


def test_a_round_with_an_unknown_metric_cannot_open(tree):
    rubric = make_rubric()
    Indicator.objects.filter(rubric=rubric, code="duties").update(metric="no_such_metric")
    with translation.override("zh-hans"), pytest.raises(ValidationError) as refused:
        open_round(rubric, tree.root)
    assert refused.value.messages == ["duties: 未知指标“no_such_metric”。"]


def test_only_a_reviewer_of_the_subtree_opens_or_scores_a_round(tree, make_user):
    rubric = make_rubric()
    secretary = make_user("secretary", Role.SECRETARY, tree.a)
    town_reviewer = make_user("town_reviewer", Role.REVIEWER, tree.town)
    with pytest.raises(PermissionDenied):
        open_round(rubric, tree.town, by=secretary)
    with pytest.raises(PermissionDenied):
        open_round(rubric, tree.root, by=town_reviewer)
    assessment_round = open_round(rubric, tree.town, by=town_reviewer)
    other_round = open_round(rubric, tree.root)
    with pytest.raises(PermissionDenied):
        services.round_score(round=assessment_round, by=secretary, today=AFTER)
    with pytest.raises(PermissionDenied):
        services.round_score(round=other_round, by=town_reviewer, today=AFTER)
    services.round_score(round=assessment_round, by=town_reviewer, today=AFTER)
    assert Assessment.objects.filter(round=other_round, computed_at__isnull=False).count() == 0


def test_the_command_and_the_nightly_task_score_the_open_rounds(tree):
    from django.core.management import call_command

    from portal import tasks

    assessment_round = open_round(make_rubric(), tree.root)
    out = io.StringIO()
    with translation.override("zh-hans"):
        call_command("run_scoring", "--round", str(assessment_round.pk), stdout=out)
    assert f"轮次 {assessment_round.pk}：3 个考核已计分" in out.getvalue()
    assert Assessment.objects.filter(round=assessment_round, total__isnull=False).count() == 3
    assert tasks.score_rounds(today="2027-01-10") == {str(assessment_round.pk): 3}
    with pytest.raises(CommandError):
        call_command("run_scoring", "--round", "999999", stdout=out)
