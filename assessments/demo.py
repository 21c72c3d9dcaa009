"""Demo duties and inspections for the demo county: a year's list issued to every branch,
mostly kept, some overdue; and inspections whose findings stand in every state."""

import random
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Q

from assessments import services, summaries
from assessments.models import (
    Finding,
    FindingState,
    FindingTransition,
    Inspection,
    ItemStatus,
    ResponsibilityItem,
    ResponsibilityTemplate,
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
    if demo_duties_exist(year):
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
    return {
        "issued_lists": issued.lists,
        "duties": issued.items,
        "duties_done": sum(len(pks) for pks in done.values()),
        "inspections": len(inspections),
        "findings": len(findings),
    }
