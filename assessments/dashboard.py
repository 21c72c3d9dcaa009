"""Reads for the organization department's dashboards: duties, rectifications and the latest assessment round of a
subtree, one function per figure group (see `branches.dashboard` for the shape and the promise: a fixed number of
queries whatever the subtree's size, the organization joined by its path prefix, plain data out).

Duties are read from their month summaries (`assessments.summaries`), findings past their deadline from the
findings (a deadline is not a month), grades and the bottom-ranked from the round's assessments as scoring left
them.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Avg, Count, Q, Sum

from assessments import summaries
from assessments.models import (
    Assessment,
    AssessmentRound,
    DutyMonthSummary,
    Finding,
    FindingState,
    ItemStatus,
    ResponsibilityItem,
)


def _filtered(rows, sector, kind, prefix="organization__"):
    if sector:
        rows = rows.filter(**{f"{prefix}sector": sector})
    if kind:
        rows = rows.filter(**{f"{prefix}kind": kind})
    return rows


@dataclass
class DutyFigures:
    duties_due: int
    duties_on_time: int
    duties_late: int
    duties_overdue: int  # due in the period, still open and past their due date today
    findings_opened: int
    findings_closed: int
    findings_closed_late: int
    rectifications_overdue: int  # every finding of the subtree not closed and past its deadline today


def duty_figures(node, span, today, *, sector="", kind="") -> DutyFigures:
    """The subtree's duties due in the period (on time, late, overdue today) and findings recorded and closed in it,
    from the month summaries (one query; one more over today's month when the period holds it: `summaries.overdue`'s
    rule), and its findings still open past their deadline today (one query)."""
    this_month = summaries.month_of(today)
    rows = DutyMonthSummary.objects.filter(
        organization__path__startswith=node.path, month__gte=span.start, month__lte=span.end
    )
    sums = _filtered(rows, sector, kind).aggregate(
        **{f"all_{name}": Sum(name) for name in DutyMonthSummary.FIGURES},
        overdue_before=Sum("duties_open", filter=Q(month__lt=this_month)),
    )
    overdue = sums["overdue_before"] or 0
    if span.start <= this_month <= span.end:
        items = ResponsibilityItem.objects.filter(
            organization__path__startswith=node.path,
            status=ItemStatus.OPEN,
            due_on__gte=this_month,
            due_on__lt=today,
        )
        overdue += _filtered(items, sector, kind).count()
    findings = Finding.objects.filter(organization__path__startswith=node.path, deadline__lt=today).exclude(
        state=FindingState.VERIFIED
    )
    return DutyFigures(
        duties_due=sums["all_duties_due"] or 0,
        duties_on_time=sums["all_duties_on_time"] or 0,
        duties_late=sums["all_duties_late"] or 0,
        duties_overdue=overdue,
        findings_opened=sums["all_findings_opened"] or 0,
        findings_closed=sums["all_findings_closed"] or 0,
        findings_closed_late=sums["all_findings_closed_late"] or 0,
        rectifications_overdue=_filtered(findings, sector, kind).count(),
    )


@dataclass
class RoundFigures:
    round: AssessmentRound
    grades: list  # [(grade name, how many)], highest grade first; assessments not graded yet are left out
    assessed: int  # the round's assessments in the subtree (graded or not)
    average: Decimal | None  # of the totals computed
    bottom_total: int
    bottom: list  # [Assessment] marked bottom-ranked (末位), with their organization, lowest rank last


def latest_round(node, span, *, sector="", kind="", shown=10) -> RoundFigures | None:
    """The latest assessment round (by its period, begun by the end of `span`) over a subtree holding the node, with
    the grades of the node's subtree, their count and average (one query with the round's), and the bottom-ranked
    (one query). None when no round covers the node."""
    paths = [*node.ancestor_paths(), node.path]
    found = (
        AssessmentRound.objects.filter(root__path__in=paths, period_start__lte=span.end)
        .select_related("rubric")
        .order_by("-period_end", "-period_start", "-pk")
        .first()
    )
    if found is None:
        return None
    assessments = _filtered(
        Assessment.objects.filter(round=found, organization__path__startswith=node.path), sector, kind
    )
    by_grade = {
        row["grade"]: row
        for row in assessments.values("grade")
        .annotate(n=Count("pk"), marked=Count("pk", filter=Q(bottom=True)), points=Sum("total"), scored=Count("total"))
        .order_by()
    }
    order = [
        band["name"]
        for band in sorted(found.definitions.get("bands", []), key=lambda b: -Decimal(str(b["min_points"])))
    ]
    order += sorted(name for name in by_grade if name and name not in order)
    scored = sum(row["scored"] for row in by_grade.values())
    total = sum((row["points"] or 0 for row in by_grade.values()), Decimal(0))
    bottom = (
        assessments.filter(bottom=True)
        .select_related("organization")
        .only(
            "pk",
            "total",
            "grade",
            "rank",
            "peer_size",
            "organization__name",
            "organization__kind",
            "organization__path",
        )
        .order_by("organization__kind", "rank", "organization__path")[:shown]
    )
    return RoundFigures(
        round=found,
        grades=[(name, by_grade[name]["n"] if name in by_grade else 0) for name in order],
        assessed=sum(row["n"] for row in by_grade.values()),
        average=(total / scored).quantize(Decimal("0.01")) if scored else None,
        bottom_total=sum(row["marked"] for row in by_grade.values()),
        bottom=list(bottom),
    )


@dataclass
class RoundPoint:
    round_id: int
    title: str
    period_end: date
    assessed: int
    average: Decimal | None


def rounds_trend(node, *, shown=6) -> list[RoundPoint]:
    """The node's subtree across its latest assessment rounds (over a subtree holding the node), oldest first: how
    many assessed and their average total. One query."""
    paths = [*node.ancestor_paths(), node.path]
    rows = (
        Assessment.objects.filter(round__root__path__in=paths, organization__path__startswith=node.path)
        .values("round", "round__title", "round__period_end")
        .annotate(assessed=Count("pk"), average=Avg("total"))
        .order_by("-round__period_end", "-round")[:shown]
    )
    return [
        RoundPoint(row["round"], row["round__title"], row["round__period_end"], row["assessed"], row["average"])
        for row in reversed(list(rows))
    ]
