"""Rubrics as data: every check refused with its Chinese message and nothing saved, frozen versions, copies,
new versions, the diff, and the demo rubrics."""

import copy
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from assessments import demo, rubrics, services
from assessments.models import GradeBand, Indicator, Rubric, RubricState


def small_file(year=2026):
    """A hand-checkable rubric: 思想 40 (two computed parts 25 + 15), 业务 60 (manual), a bonus, a deduction, a
    veto; grades 好 ≥ 90 (≤ 30%), 较好 ≥ 75, 一般 ≥ 60, 差 ≥ 0 (≥ 5%)."""
    return {
        "format": rubrics.FORMAT,
        "format_version": 1,
        "code": "small",
        "title": "小细则",
        "year": year,
        "total_points": 100,
        "indicators": [
            {
                "code": "ideology",
                "title": "思想建设",
                "kind": "group",
                "max_points": 40,
                "children": [
                    {
                        "code": "study",
                        "title": "学习",
                        "kind": "computed",
                        "max_points": 25,
                        "metric": "meetings_met",
                        "params": {"meeting_type": "study_session"},
                        "rule": "proportional",
                        "rule_params": {},
                    },
                    {
                        "code": "attendance",
                        "title": "参会率",
                        "kind": "computed",
                        "max_points": 15,
                        "metric": "attendance_rate",
                        "rule": "steps",
                        "rule_params": {"steps": [{"from": 0, "points": 0}, {"from": 0.8, "points": 10}]},
                    },
                ],
            },
            {"code": "business", "title": "业务工作", "kind": "manual", "max_points": 60},
            {"code": "bonus", "title": "加分", "kind": "bonus", "max_points": 5},
            {"code": "deduction", "title": "扣分", "kind": "deduction", "max_points": 10},
            {"code": "veto", "title": "一票否决", "kind": "veto"},
        ],
        "bands": [
            {"name": "好", "min_points": 90, "max_share": 0.3},
            {"name": "较好", "min_points": 75},
            {"name": "一般", "min_points": 60},
            {"name": "差", "min_points": 0, "min_share": 0.05},
        ],
    }


def draft_of(data, admin):
    return services.rubric_import(data=data, by=admin, preview=False).rubric


def node(data, *codes):
    nodes = data["indicators"]
    found = None
    for code in codes:
        found = next(n for n in nodes if n["code"] == code)
        nodes = found.get("children", [])
    return found


def messages_of(refused):
    return " ".join(refused.value.messages)


def test_the_small_rubric_publishes(people):
    rubric = draft_of(small_file(), people.admin)
    published = services.rubric_publish(rubric=rubric, by=people.admin)
    assert published.state == RubricState.PUBLISHED and published.published_by == people.admin
    assert published.published_at is not None


# Each edit of a draft (and each import) keeps the tree well formed: refused at once, with the node's path.
WELL_FORMED = [
    ("unknown metric", lambda d: node(d, "ideology", "study").update(metric="likes"), "未知指标“likes”"),
    (
        "metric parameter missing",
        lambda d: node(d, "ideology", "study").update(params={}),
        "需要参数“meeting_type”",
    ),
    (
        "unknown meeting type",
        lambda d: node(d, "ideology", "study").update(params={"meeting_type": "party"}),
        "的参数“meeting_type”须为以下之一",
    ),
    (
        "steps going down",
        lambda d: node(d, "ideology", "attendance").update(
            rule_params={"steps": [{"from": 0.8, "points": 10}, {"from": 0.5, "points": 5}]}
        ),
        "分档须从低到高",
    ),
    (
        "step above the maximum",
        lambda d: node(d, "ideology", "attendance").update(rule_params={"steps": [{"from": 0, "points": 20}]}),
        "超出 0 至最高分",
    ),
    (
        "per occurrence without per",
        lambda d: node(d, "ideology", "attendance").update(rule="per_occurrence", rule_params={"per": 0}),
        "每次扣分必须大于 0",
    ),
    (
        "negative floor",
        lambda d: node(d, "ideology", "attendance").update(rule="per_occurrence", rule_params={"per": 1, "floor": -1}),
        "最低分必须大于或等于 0",
    ),
    ("no rule", lambda d: node(d, "ideology", "study").update(rule=""), "计分规则"),
    ("manual without points", lambda d: node(d, "business").update(max_points=0), "最高分必须大于 0"),
    ("bonus without points", lambda d: node(d, "bonus").update(max_points=0), "最高分必须大于 0"),
    ("veto with points", lambda d: node(d, "veto").update(max_points=3), "一票否决项不计分"),
    ("duplicate code", lambda d: node(d, "ideology", "attendance").update(code="business"), "重复使用"),
    ("metric on a manual item", lambda d: node(d, "business").update(metric="attendance_rate"), "只有按台账"),
    (
        "formula that does not parse",
        lambda d: node(d, "ideology").update(aggregation="formula", formula="study *"),
        "公式无法解析",
    ),
    (
        "formula naming an unknown part",
        lambda d: node(d, "ideology").update(aggregation="formula", formula="study * 0.7 + review * 0.3"),
        "公式引用了 review",
    ),
    (
        "formula calling a function",
        lambda d: node(d, "ideology").update(aggregation="formula", formula="__import__('os').system('x')"),
        "公式",
    ),
    (
        "formula with a power",
        lambda d: node(d, "ideology").update(aggregation="formula", formula="study ** 2"),
        "只能使用 + - * /",
    ),
    ("same lower bound twice", lambda d: d["bands"][1].update(min_points=90), "等次会重叠"),
    ("same grade name twice", lambda d: d["bands"][1].update(name="好"), "同名"),
    ("a cap of nothing", lambda d: d["bands"][0].update(max_share=0), "上限为 0"),
]


@pytest.mark.parametrize("change, message", [c[1:] for c in WELL_FORMED], ids=[c[0] for c in WELL_FORMED])
def test_an_ill_formed_rubric_is_refused_with_its_path_and_nothing_is_saved(people, change, message):
    data = small_file()
    change(data)
    with pytest.raises(ValidationError) as refused:
        services.rubric_import(data=data, by=people.admin, preview=False)
    assert message in messages_of(refused)
    assert not Rubric.objects.exists() and not Indicator.objects.exists() and not GradeBand.objects.exists()


def test_the_path_names_the_offending_node(people):
    data = small_file()
    node(data, "ideology", "study").update(metric="likes")
    with pytest.raises(ValidationError) as refused:
        services.rubric_import(data=data, by=people.admin)
    assert "ideology › study：未知指标“likes”。" in refused.value.messages


# Publishing needs the draft complete: refused with the reason, and the draft stays a draft.
INCOMPLETE = [
    (
        "parts do not add up",
        lambda d: node(d, "ideology", "study").update(max_points=20),
        "下级指标合计 35 分，与本项目的 40 分不符",
    ),
    ("areas do not add up", lambda d: node(d, "business").update(max_points=50), "合计 90 分，与细则总分 100 分不符"),
    ("a gap below the lowest grade", lambda d: d["bands"][3].update(min_points=10), "最低等次从 10 分起"),
    ("a grade above the total", lambda d: d["bands"][0].update(min_points=110), "没有人能达到"),
    ("a cap on the lowest grade", lambda d: d["bands"][3].update(max_share=0.5), "最低等次要接纳"),
    ("a minimum on the highest grade", lambda d: d["bands"][0].update(min_share=0.1), "没有意义"),
    (
        "quotas that cannot hold together",
        lambda d: (d["bands"][1].update(max_share=0.6), d["bands"][3].update(min_share=0.2)),
        "合计 110%",
    ),
    ("no grades", lambda d: d.update(bands=[]), "细则中没有等次"),
    ("an empty area", lambda d: node(d, "ideology").update(children=[], max_points=40), "该考核项目下没有指标"),
    ("a formula area without a formula", lambda d: node(d, "ideology").update(aggregation="formula"), "请填写合成"),
]


@pytest.mark.parametrize("change, message", [c[1:] for c in INCOMPLETE], ids=[c[0] for c in INCOMPLETE])
def test_an_incomplete_draft_is_refused_at_publishing_and_stays_a_draft(people, change, message):
    data = small_file()
    change(data)
    preview = services.rubric_import(data=data, by=people.admin)
    assert any(message in warning for warning in preview.warnings)  # the preview already says so
    rubric = draft_of(data, people.admin)
    with pytest.raises(ValidationError) as refused:
        services.rubric_publish(rubric=rubric, by=people.admin)
    assert message in messages_of(refused)
    rubric.refresh_from_db()
    assert rubric.state == RubricState.DRAFT and rubric.published_at is None


def test_bonuses_deductions_and_vetoes_stand_outside_the_sums(people):
    data = small_file()
    node(data, "bonus").update(max_points=50)  # a big bonus changes no sum
    rubric = draft_of(data, people.admin)
    assert services.rubric_publish(rubric=rubric, by=people.admin).state == RubricState.PUBLISHED


def test_bonuses_may_exceed_the_total_lets_a_grade_start_above_it(people):
    data = small_file()
    data["bonus_may_exceed"] = True
    data["bands"][0]["min_points"] = 102
    rubric = draft_of(data, people.admin)
    assert services.rubric_publish(rubric=rubric, by=people.admin).state == RubricState.PUBLISHED


def test_a_formula_area_of_its_parts_publishes(people):
    """(base − deductions) × 70% + review × 30%, written with the parts' codes."""
    data = small_file()
    node(data, "ideology").update(aggregation="formula", formula="(study - attendance) * 0.7 + attendance * 0.3")
    rubric = draft_of(data, people.admin)
    assert services.rubric_publish(rubric=rubric, by=people.admin).state == RubricState.PUBLISHED


def test_only_an_admin_of_a_root_edits_rubrics(people, county, make_user):
    town_admin = make_user("town_admin", "admin", county.town)
    for user in (people.reviewer, people.assessor, people.secretary, people.nobody, town_admin):
        with pytest.raises(PermissionDenied):
            services.rubric_import(data=small_file(), by=user, preview=False)
        with pytest.raises(PermissionDenied):
            services.rubric_create(data={"code": "x", "title": "x", "year": 2026}, by=user)
    rubric = draft_of(small_file(), people.admin)
    with pytest.raises(PermissionDenied):
        services.rubric_publish(rubric=rubric, by=people.reviewer)
    with pytest.raises(PermissionDenied):
        services.indicator_edit(indicator=rubric.indicators.get(code="business"), data={"title": "改"}, by=town_admin)
    assert Rubric.objects.count() == 1 and rubric.indicators.get(code="business").title == "业务工作"


def test_a_published_version_is_frozen_and_a_new_version_is_a_draft_copy(people):
    rubric = services.rubric_publish(rubric=draft_of(small_file(), people.admin), by=people.admin)
    business = rubric.indicators.get(code="business")
    band = rubric.bands.get(name="好")
    refusals = [
        lambda: services.indicator_edit(indicator=business, data={"max_points": Decimal(50)}, by=people.admin),
        lambda: services.indicator_add(
            rubric=rubric, data={"code": "x", "title": "x", "kind": "manual"}, by=people.admin
        ),
        lambda: services.indicator_delete(indicator=business, by=people.admin),
        lambda: services.indicator_move(indicator=business, parent=None, by=people.admin),
        lambda: services.band_edit(band=band, data={"min_points": Decimal(95)}, by=people.admin),
        lambda: services.band_delete(band=band, by=people.admin),
        lambda: services.rubric_edit(rubric=rubric, data={"title": "改"}, by=people.admin),
        lambda: services.rubric_publish(rubric=rubric, by=people.admin),
        lambda: services.rubric_discard(rubric=rubric, by=people.admin),
    ]
    before = rubrics.snapshot(rubric)
    for refusal in refusals:
        with pytest.raises(ValidationError) as refused:
            refusal()
        assert "不能再修改" in messages_of(refused) or "已发布" in messages_of(refused)
    assert not rubrics.diff(before, rubrics.snapshot(rubric))

    draft = services.rubric_new_version(rubric=rubric, by=people.admin)
    assert (draft.state, draft.version, draft.based_on, draft.code, draft.year) == ("draft", 2, rubric, "small", 2026)
    assert not rubrics.diff(rubrics.snapshot(rubric), rubrics.snapshot(draft))
    with pytest.raises(ValidationError):  # one draft of a rubric and year at a time
        services.rubric_new_version(rubric=rubric, by=people.admin)

    services.indicator_edit(indicator=draft.indicators.get(code="business"), data={"title": "业务"}, by=people.admin)
    services.rubric_publish(rubric=draft, by=people.admin)
    rubric.refresh_from_db()
    assert rubric.state == RubricState.ARCHIVED  # one version in force at a time
    assert rubric.indicators.get(code="business").title == "业务工作"


def test_copy_from_last_year_sets_based_on_and_keeps_the_source(people):
    last = services.rubric_publish(rubric=draft_of(small_file(2025), people.admin), by=people.admin)
    copied = services.rubric_copy(source=last, year=2026, by=people.admin)
    assert (copied.year, copied.version, copied.state, copied.based_on_id) == (2026, 1, "draft", last.pk)
    assert copied.indicators.count() == last.indicators.count() == 7
    assert copied.bands.count() == 4
    assert copied.indicators.get(code="study").parent.code == "ideology"
    other = services.rubric_copy(source=last, year=2026, code="small-organs", title="机关细则", by=people.admin)
    assert (other.code, other.title, other.version) == ("small-organs", "机关细则", 1)


def test_editing_a_draft_checks_the_whole_tree(people):
    rubric = draft_of(small_file(), people.admin)
    ideology = rubric.indicators.get(code="ideology")
    services.indicator_edit(
        indicator=ideology, data={"aggregation": "formula", "formula": "study + attendance"}, by=people.admin
    )
    study = rubric.indicators.get(code="study")
    with pytest.raises(ValidationError) as refused:  # the formula names it
        services.indicator_delete(indicator=study, by=people.admin)
    assert "公式引用了 study" in messages_of(refused)
    with pytest.raises(ValidationError) as refused:  # renaming it would break the formula too
        services.indicator_edit(indicator=study, data={"code": "learning"}, by=people.admin)
    assert rubric.indicators.filter(code="study").exists()
    with pytest.raises(ValidationError) as refused:
        services.indicator_add(
            rubric=rubric,
            parent=study,
            data={"code": "x", "title": "x", "kind": "manual", "max_points": 1},
            by=people.admin,
        )
    assert "只有考核项目" in messages_of(refused)
    with pytest.raises(ValidationError) as refused:
        services.indicator_move(indicator=ideology, parent=study, by=people.admin)
    assert rubric.indicators.get(code="ideology").parent is None
    with pytest.raises(ValidationError) as refused:
        services.band_add(rubric=rubric, data={"name": "优", "min_points": Decimal(90)}, by=people.admin)
    assert refused.value.message_dict["min_points"]  # beside the field of the band being added
    assert rubric.bands.count() == 4


def test_add_move_reorder_and_delete_on_a_draft(people):
    rubric = draft_of(small_file(), people.admin)
    area = services.indicator_add(
        rubric=rubric,
        data={"code": "style", "title": "作风", "kind": "group", "max_points": Decimal(10)},
        by=people.admin,
    )
    assert area.position == 5
    services.indicator_move(indicator=rubric.indicators.get(code="business"), parent=area, by=people.admin)
    top = list(rubric.indicators.filter(parent=None).order_by("position").values_list("code", flat=True))
    assert top == ["ideology", "bonus", "deduction", "veto", "style"]
    services.indicator_shift(indicator=rubric.indicators.get(code="style"), step=-1, by=people.admin)
    top = list(rubric.indicators.filter(parent=None).order_by("position").values_list("code", flat=True))
    assert top == ["ideology", "bonus", "deduction", "style", "veto"]
    with pytest.raises(ValidationError):
        services.indicator_reorder(rubric=rubric, parent=None, order=[1, 2], by=people.admin)
    services.indicator_delete(indicator=rubric.indicators.get(code="style"), by=people.admin)
    assert not rubric.indicators.filter(code__in=["style", "business"]).exists()


def test_diff_names_what_changed(people):
    old = services.rubric_publish(rubric=draft_of(small_file(), people.admin), by=people.admin)
    new = services.rubric_new_version(rubric=old, by=people.admin)
    services.indicator_edit(
        indicator=new.indicators.get(code="business"), data={"max_points": Decimal(55)}, by=people.admin
    )
    services.indicator_delete(indicator=new.indicators.get(code="bonus"), by=people.admin)
    services.indicator_add(
        rubric=new,
        data={"code": "survey", "title": "测评", "kind": "survey", "max_points": Decimal(5)},
        by=people.admin,
    )
    services.band_edit(band=new.bands.get(name="好"), data={"max_share": Decimal("0.2")}, by=people.admin)
    services.band_delete(band=new.bands.get(name="一般"), by=people.admin)

    change = rubrics.diff(rubrics.snapshot(old), rubrics.snapshot(new))

    assert [path for path, _node in change.added] == ["survey"]
    assert [path for path, _node in change.removed] == ["bonus"]
    changed = {path: fields for path, _node, fields in change.changed}
    assert ("max_points", Decimal("60.00"), Decimal("55.00")) in changed["business"]
    assert [band["name"] for band in change.bands_removed] == ["一般"]
    assert change.bands_changed == [("好", [("max_share", Decimal("0.3000"), Decimal("0.2000"))])]


def test_the_demo_rubrics_are_published_and_complete(db):
    demo.build_rubrics(year=2026)
    assert demo.build_rubrics(year=2026) == 0  # seeding again adds nothing
    five = Rubric.objects.get(code="five-goods", year=2026, state=RubricState.PUBLISHED)
    stars = Rubric.objects.get(code="star-rating", year=2026, state=RubricState.PUBLISHED)
    for rubric in (five, stars):
        assert rubrics.problems(rubrics.snapshot(rubric), complete=True) == []
    areas = {i.title: i.max_points for i in five.indicators.filter(parent=None, kind="group")}
    assert list(areas) == ["思想建设好", "组织建设好", "机关作风好", "制度建设好", "业务工作好"]
    assert areas["业务工作好"] == 50 and sum(areas.values()) == 100
    assert set(five.indicators.values_list("kind", flat=True)) == {
        "group",
        "computed",
        "manual",
        "survey",
        "bonus",
        "deduction",
        "veto",
    }
    assert five.bands.get(name="五好党支部").min_points == 90
    assert five.bands.get(name="相对后进").min_share == Decimal("0.05")
    assert five.based_on.year == 2025 and five.based_on.state == RubricState.PUBLISHED
    assert list(stars.bands.values_list("name", "min_points", "max_share")) == [
        ("五星", 90, Decimal("0.3")),
        ("四星", 80, None),
        ("三星", 70, None),
        ("二星", 60, None),
        ("一星", 0, None),
    ]


def test_a_copy_of_a_rubric_tree_is_independent(people):
    data = small_file()
    saved = copy.deepcopy(data)
    draft_of(data, people.admin)
    assert data == saved  # the import does not change what it was given
