"""Demo duties and inspections for the demo county: a year's list issued to every branch,
mostly kept, some overdue; and inspections whose findings stand in every state."""

import random
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from assessments import rubrics, services, summaries
from assessments.models import (
    AssessmentRound,
    Finding,
    FindingState,
    FindingTransition,
    Indicator,
    Inspection,
    ItemStatus,
    ResponsibilityItem,
    ResponsibilityTemplate,
    Rubric,
    RubricState,
    TemplateItem,
)
from branches import access, audit
from branches.models import AuditEntry, Organization, OrganizationKind

BEIJING = ZoneInfo("Asia/Shanghai")
BATCH = 2000  # rows per bulk insert
UPDATE_CHUNK = 10000  # ids per UPDATE (SQLite takes at most 32,766 parameters)

DUTIES = [
    ("ideological", "制定年度理论学习计划，组织党员集中学习", 1, 31),
    ("ideological", "书记每季度至少讲一次党课", 3, 31),
    ("ideological", "开展意识形态工作分析研判", 6, 30),
    ("organizational", "规范开展“三会一课”，按月登记会议记录", 12, 31),
    ("organizational", "按期做好党费收缴和使用公开", 6, 30),
    ("organizational", "做好发展党员和入党积极分子培养工作", 9, 30),
    ("organizational", "按期完成支部委员会换届或届中调整", 10, 31),
    ("work_style", "书记与每名党员开展一次谈心谈话", 11, 30),
    ("work_style", "开展一次联系服务群众志愿活动", 8, 31),
    ("integrity", "组织一次警示教育", 5, 31),
    ("integrity", "支部委员落实“一岗双责”情况报告", 12, 15),
    ("institutional", "完善支部工作制度并公开上墙", 4, 30),
    ("institutional", "建立健全党建工作台账", 7, 31),
    ("institutional", "年底书记抓党建述职", 12, 31),
]
FINDINGS = [
    ("支委会会议记录不完整，缺少表决情况", "补齐会议记录，建立会议记录审核制度"),
    ("党费收缴台账未按月登记", "按月登记党费台账并公开"),
    ("党员发展材料缺少政审意见", "补充政审材料，完善发展程序"),
    ("主题党日活动内容与业务工作结合不紧", "重新制定主题党日计划"),
    ("部分党员长期未参加组织生活", "逐一谈心谈话，督促参加组织生活"),
    ("党建工作制度未及时修订", "修订完善制度并组织学习"),
]


def demo_duties_exist(year):
    return ResponsibilityTemplate.objects.filter(title__startswith=f"{year}年度党支部").exists()


@transaction.atomic
def build(*, root, today, seed, inspector=None):
    """Issue the year's list to every branch, complete most of it, and inspect one branch in ten."""
    rng = random.Random(seed + 17)
    year = today.year
    build_rubrics(year=year)
    if demo_duties_exist(year):
        build_round(root=root, year=year)
        return {}
    template = ResponsibilityTemplate.objects.create(owner=root, year=year, title=f"{year}年度党支部抓党建工作责任清单")
    TemplateItem.objects.bulk_create(
        [
            TemplateItem(template=template, area=area, text=text, due_on=date(year, month, day), position=n)
            for n, (area, text, month, day) in enumerate(DUTIES)
        ]
    )
    issued = services.template_issue(template=template, root=root, by=access.system_user())

    # Most duties that fell due are done on time; some slip; a few later ones are done early.
    # Drawn in order of due date (the order the SQLite demo always had), then one UPDATE per completion moment
    # (a few hundred at most), not one per duty.
    done, now = defaultdict(list), datetime.combine(today, time(18, 0), tzinfo=BEIJING)
    items = ResponsibilityItem.objects.filter(responsibility_list__template=template).order_by("due_on", "pk")
    for pk, due_on in items.values_list("pk", "due_on").iterator(chunk_size=20000):
        chance = 0.82 if due_on < today else 0.3
        if rng.random() < chance:
            finished = min(
                datetime.combine(due_on - timedelta(days=rng.randint(0, 25)), time(16, 0), tzinfo=BEIJING), now
            )
            done[finished].append(pk)
    for finished, pks in done.items():
        for start in range(0, len(pks), UPDATE_CHUNK):
            ResponsibilityItem.objects.filter(pk__in=pks[start : start + UPDATE_CHUNK]).update(
                status=ItemStatus.DONE, completed_at=finished, evidence_note="已按要求完成，材料已归档。", version=2
            )

    branches = list(
        Organization.objects.filter(path__startswith=root.path, kind=OrganizationKind.BRANCH)
        .filter(Q(status="active"))
        .order_by("path")
    )
    inspected = rng.sample(branches, max(1, len(branches) // 10)) if branches else []
    states = [
        FindingState.OPEN,
        FindingState.IN_PROGRESS,
        FindingState.SUBMITTED,
        FindingState.VERIFIED,
        FindingState.VERIFIED,
        FindingState.RETURNED,
    ]
    inspections, findings, transitions = [], [], []
    for branch in inspected:
        held_on = today - timedelta(days=rng.randint(20, 200))
        inspection = Inspection(
            organization=branch,
            held_on=held_on,
            title=f"{year}年党建工作督查",
            inspector=inspector,
            summary="对照责任清单逐项检查。",
        )
        inspections.append(inspection)
        for description, required in rng.sample(FINDINGS, rng.randint(1, 3)):
            state = rng.choice(states)
            finding = Finding(
                inspection=inspection,
                organization=branch,
                severity=rng.choice(["minor", "minor", "major"]),
                description=description,
                required_rectification=required,
                deadline=held_on + timedelta(days=rng.choice((30, 45, 60, 90))),
                state=state,
                rectification_note="已按要求整改。" if state not in (FindingState.OPEN,) else "",
                closed_at=now if state == FindingState.VERIFIED else None,
            )
            findings.append(finding)
            path = {
                FindingState.OPEN: [],
                FindingState.IN_PROGRESS: ["open", "in_progress"],
                FindingState.SUBMITTED: ["open", "in_progress", "submitted"],
                FindingState.VERIFIED: ["open", "in_progress", "submitted", "verified"],
                FindingState.RETURNED: ["open", "in_progress", "submitted", "returned"],
            }[state]
            transitions += [
                FindingTransition(
                    finding=finding,
                    from_state=a,
                    to_state=b,
                    by=inspector if b in ("verified", "returned") else None,
                    note="整改不到位，请补充材料。" if b == "returned" else "",
                )
                for a, b in zip(path, path[1:], strict=False)
            ]
    # Bulk inserts (ids come back, so findings point at their inspections): one summary entry on record.
    Inspection.objects.bulk_create(inspections, batch_size=BATCH)
    Finding.objects.bulk_create(findings, batch_size=BATCH)
    FindingTransition.objects.bulk_create(transitions, batch_size=BATCH)
    counts = {"inspections": len(inspections), "findings": len(findings), "transitions": len(transitions)}
    if inspections:
        audit.record_summary(root, AuditEntry.Action.CREATE, {"inspection_rows": counts, "seed": seed})
    # The completions and findings were written in bulk: their month summaries are counted from them at once.
    summaries.rebuild(within=root)
    scored = build_round(root=root, year=year)
    return {
        "assessments": scored,
        "issued_lists": issued.lists,
        "duties": issued.items,
        "duties_done": sum(len(pks) for pks in done.values()),
        "inspections": len(inspections),
        "findings": len(findings),
    }


# ---------------------------------------------------------------------------------------------------------------
# Demo rubrics: the "五个好" rubric of the organs' work committee (seed 002: five areas, business work 50 of 100,
# ≥ 90 points eligible) and a star rating with a five-star quota. Written as rubric files and imported, so the
# demo goes through the same checks as a county's file; then published.


def _computed(code, title, points, metric, rule, params=None, rule_params=None, guidance=""):
    return {
        "code": code,
        "title": title,
        "kind": "computed",
        "max_points": points,
        "metric": metric,
        "params": params or {},
        "rule": rule,
        "rule_params": rule_params or {},
        **({"guidance": guidance} if guidance else {}),
    }


def _leaf(code, title, kind, points, guidance=""):
    return {
        "code": code,
        "title": title,
        "kind": kind,
        "max_points": points,
        **({"guidance": guidance} if guidance else {}),
    }


def _area(code, title, points, children):
    return {"code": code, "title": title, "kind": "group", "max_points": points, "children": children}


ATTENDANCE_STEPS = {
    "steps": [
        {"from": 0, "points": 0},
        {"from": 0.6, "points": 2},
        {"from": 0.8, "points": 3},
        {"from": 0.9, "points": 4},
    ]
}


def five_goods_file(year):
    """The 五个好 rubric as a rubric file (README.md, "Rubric files")."""
    return {
        "format": rubrics.FORMAT,
        "format_version": rubrics.FORMAT_VERSION,
        "code": "five-goods",
        "title": "五个好基层党组织创建考核细则",
        "year": year,
        "sectors": [],
        "levels": ["branch", "general_branch", "primary_committee"],
        "total_points": 100,
        "bonus_may_exceed": False,
        "description": (
            "百分制计分，总分达到90分以上的，有参加评选五个好基层党组织的资格；"
            "党委、机关党委和直属党总支申报的，其下属基层党组织须90%以上达到五个好标准。"
        ),
        "indicators": [
            _area(
                "ideology",
                "思想建设好",
                15,
                [
                    _computed(
                        "ideo_study",
                        "集中学习按要求开展",
                        6,
                        "meetings_met",
                        "proportional",
                        {"meeting_type": "study_session"},
                    ),
                    _computed(
                        "ideo_lecture",
                        "书记讲党课",
                        4,
                        "meetings_met",
                        "proportional",
                        {"meeting_type": "party_lecture"},
                    ),
                    _leaf("ideo_work", "意识形态工作分析研判", "manual", 5, "查阅研判记录，酌情评分"),
                ],
            ),
            _area(
                "organization",
                "组织建设好",
                15,
                [
                    _computed(
                        "org_general",
                        "支部党员大会按期召开",
                        3,
                        "meetings_met",
                        "proportional",
                        {"meeting_type": "general_meeting"},
                    ),
                    _computed(
                        "org_committee",
                        "支委会按期召开",
                        3,
                        "meetings_met",
                        "proportional",
                        {"meeting_type": "committee_meeting"},
                    ),
                    _computed(
                        "org_theme_day",
                        "主题党日按月开展",
                        2,
                        "meetings_met",
                        "proportional",
                        {"meeting_type": "theme_day"},
                    ),
                    _computed("org_attendance", "党员参会率", 4, "attendance_rate", "steps", {}, ATTENDANCE_STEPS),
                    _computed(
                        "org_term",
                        "按期换届",
                        3,
                        "committee_term_overdue",
                        "per_occurrence",
                        {},
                        {"per": 3, "floor": 0},
                    ),
                ],
            ),
            _area(
                "work_style",
                "机关作风好",
                10,
                [
                    _computed("style_duties", "责任清单事项按期完成", 5, "duties_on_time", "proportional"),
                    _leaf("style_service", "联系服务群众", "manual", 5, "查阅活动记录和群众反映"),
                ],
            ),
            _area(
                "institutions",
                "制度建设好",
                10,
                [
                    _computed("inst_rectify", "问题按期整改", 5, "rectifications_on_time", "proportional"),
                    _computed(
                        "inst_overdue",
                        "逾期未整改问题",
                        3,
                        "findings_open_past_deadline",
                        "per_occurrence",
                        {},
                        {"per": 1, "floor": 0},
                    ),
                    _leaf("inst_rules", "制度健全并公开", "manual", 2),
                ],
            ),
            _area(
                "business",
                "业务工作好",
                50,
                [
                    _leaf("bus_tasks", "完成部门业务工作任务", "manual", 30, "对照年度业务工作目标考核"),
                    _leaf("bus_ranking", "业务工作在全区同行业中的排名", "manual", 10),
                    _leaf("bus_survey", "群众民意测评", "survey", 10, "按满意率折算"),
                ],
            ),
            _leaf("bonus", "创新工作受上级表彰（加分，最多5分）", "bonus", 5, "需审核人批准；总分不超过100分"),
            _leaf("deduction", "受到通报批评（扣分，最多10分）", "deduction", 10, "每次扣2分，需审核人批准"),
            {"code": "veto", "title": "发生严重违纪违法问题（一票否决）", "kind": "veto"},
        ],
        "bands": [
            # a committee qualifies only when at least 90% of its sub-organizations reach the standard (seed 002)
            {"name": "五好党支部", "min_points": 90, "children_share": 0.9},
            {"name": "合格", "min_points": 60},
            {"name": "相对后进", "min_points": 0, "min_share": 0.05},
        ],
    }


def star_rating_file(year):
    """A star rating for branches: five stars at ≥ 90 for at most 30% of the peer group."""
    return {
        "format": rubrics.FORMAT,
        "format_version": rubrics.FORMAT_VERSION,
        "code": "star-rating",
        "title": "党支部星级评定细则",
        "year": year,
        "sectors": [],
        "levels": ["branch"],
        "total_points": 100,
        "bonus_may_exceed": False,
        "description": "五星级不超过同类党支部的30%。",
        "indicators": [
            _area(
                "life",
                "组织生活",
                30,
                [
                    _computed(
                        "life_general",
                        "支部党员大会",
                        8,
                        "meetings_met",
                        "proportional",
                        {"meeting_type": "general_meeting"},
                    ),
                    _computed(
                        "life_committee",
                        "支委会",
                        8,
                        "meetings_met",
                        "proportional",
                        {"meeting_type": "committee_meeting"},
                    ),
                    _computed(
                        "life_theme_day", "主题党日", 6, "meetings_met", "proportional", {"meeting_type": "theme_day"}
                    ),
                    _computed(
                        "life_attendance", "党员参会率", 8, "attendance_rate", "proportional", {}, {"full_at": 0.95}
                    ),
                ],
            ),
            _area(
                "duties",
                "工作落实",
                30,
                [
                    _computed("duty_on_time", "责任清单按期完成", 15, "duties_on_time", "proportional"),
                    _computed("duty_rectified", "整改按期完成", 10, "rectifications_on_time", "proportional"),
                    _computed(
                        "duty_overdue",
                        "逾期未整改问题",
                        5,
                        "findings_open_past_deadline",
                        "per_occurrence",
                        {},
                        {"per": 1, "floor": 0},
                    ),
                ],
            ),
            _area(
                "team",
                "队伍建设",
                20,
                [
                    _computed("team_trained", "党务干部参加培训", 10, "cadres_trained", "proportional"),
                    _leaf("team_develop", "发展党员工作", "manual", 10),
                ],
            ),
            _leaf("survey", "党员群众满意度", "survey", 20),
            _leaf("deduction", "工作失误扣分", "deduction", 10),
            {"code": "veto", "title": "一票否决事项", "kind": "veto"},
        ],
        "bands": [
            {"name": "五星", "min_points": 90, "max_share": 0.3},
            {"name": "四星", "min_points": 80},
            {"name": "三星", "min_points": 70},
            {"name": "二星", "min_points": 60},
            {"name": "一星", "min_points": 0},
        ],
    }


def build_rubrics(*, year, by=None):
    """Publish the demo rubrics for `year` (and last year's 五个好, which this year's was copied from). Idempotent."""
    by = by or access.system_user()
    if Rubric.objects.filter(code="five-goods", year=year).exists():
        return 0
    with transaction.atomic():
        last_year = five_goods_file(year - 1)
        last_year["indicators"][4]["children"][1]["title"] = "业务工作排名"
        last_year["indicators"][5]["max_points"] = 3
        last_year["indicators"][5]["title"] = "创新工作受上级表彰（加分，最多3分）"
        old = services.rubric_import(data=last_year, by=by, preview=False).rubric
        services.rubric_publish(rubric=old, by=by)
        # This year's: last year's copied, then changed as the file says (the diff shows what changed).
        draft = services.rubric_copy(source=old, year=year, by=by)
        wanted = {node["code"]: node for node, *_rest in rubrics.walk(five_goods_file(year)["indicators"])}
        for indicator in Indicator.objects.filter(rubric=draft, code__in=["bus_ranking", "bonus"]):
            node = wanted[indicator.code]
            services.indicator_edit(
                indicator=indicator, data={"title": node["title"], "max_points": node["max_points"]}, by=by
            )
        services.rubric_publish(rubric=draft, by=by)
        stars = services.rubric_import(data=star_rating_file(year), by=by, preview=False).rubric
        services.rubric_publish(rubric=stars, by=by)
    return Rubric.objects.filter(state__in=[RubricState.PUBLISHED, RubricState.ARCHIVED]).count()


def build_round(*, root, year, by=None):
    """This year's star-rating round over the demo county, opened and scored, so the pages show scores at once.
    Idempotent: an existing round is left as it is. Returns how many assessments the round holds."""
    by = by or access.system_user()
    rubric = Rubric.objects.filter(code="star-rating", year=year, state=RubricState.PUBLISHED).first()
    if rubric is None:
        return 0
    existing = AssessmentRound.objects.filter(rubric=rubric, root=root, period_start=date(year, 1, 1)).first()
    if existing is not None:
        return existing.assessments.count()
    try:
        opened = services.round_open(
            rubric=rubric,
            root=root,
            period_start=date(year, 1, 1),
            period_end=date(year, 12, 31),
            self_assessment_due=date(year, 12, 20),
            review_due=date(year + 1, 1, 15),
            title=f"{year}年度党支部星级评定",
            by=by,
        )
    except ValidationError:
        return 0  # no branch under the root
    services.round_score(round=opened, by=by)
    return opened.assessments.count()
