"""Reads for the organization department's dashboards: the figures of a subtree, one function per figure group.

Each function takes the subtree's node, the filters (`sector`, `kind`: the organizations counted) and what it needs
of the period, and returns plain data, in a fixed number of queries whatever the subtree's size: every query joins
the organization's path by its prefix. Nothing here judges a meeting: compliance is read from the kept results
(`branches.results`), members and organizations from their rows, terms from the committee terms.

The dashboard reads nothing else, so that a later step can answer a function from per-node roll-up rows (kept by
the services and the nightly job) without the page changing.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Case, Count, DateField, Exists, F, Max, Q, Sum, Value, When
from django.db.models.functions import Collate, Substr

from branches import access, periods, results, selectors, standings
from branches.compliance import IN_PROGRESS, MET, NOT_MET
from branches.models import (
    Cadre,
    CommitteeTerm,
    ComplianceResult,
    Employment,
    MeetingType,
    Organization,
    OrganizationKind,
    OrganizationStatus,
    Period,
)

NOT_OWED, NOT_YET = "not_owed", "not_yet"


def _filtered(rows, prefix, sector, kind):
    if sector:
        rows = rows.filter(**{f"{prefix}sector": sector})
    if kind:
        rows = rows.filter(**{f"{prefix}kind": kind})
    return rows


# ------------------------------------------------------------------------------------------------ the tree


def top_organizations(user):
    """The outermost organizations the user oversees (reviews or assesses), outermost first (one query)."""
    if access.is_everywhere(user):
        rows = Organization.objects.filter(depth=1)
    else:
        paths = access.root_paths(user, access.OVERSEE)
        if not paths:
            return []
        rows = Organization.objects.filter(path__in=paths)
    return list(rows.order_by("depth", "path"))


def sub_organizations(node, span):
    """The node's direct sub-organizations (party groups aside) that lived some day of the span, in tree order: a
    queryset to page through (the dashboard's rows to drill down into)."""
    return (
        Organization.objects.filter(path__startswith=node.path, depth=node.depth + 1)
        .exclude(kind=OrganizationKind.PARTY_GROUP)
        .filter(Q(founded_on__isnull=True) | Q(founded_on__lte=span.end))
        .filter(Q(dissolved_on__isnull=True) | Q(dissolved_on__gte=span.start))
        .only("pk", "path", "depth", "name", "code", "kind", "sector", "status")
        .order_by(_children_order())
    )


def _children_order():
    """Tree order, compared byte by byte on PostgreSQL (the path's alphabet is ASCII, so the order is the same): the
    planner then finds the children through the (depth, path) index and sorts the few it found, instead of walking
    the path index through the whole subtree to pick them out (3 ms against 20–27 ms for the root at 100,000)."""
    if connection.vendor == "postgresql":
        return Collate("path", "C").asc()
    return F("path").asc()


def reaches(node, size):
    """A condition (for a query's filter or annotation): does the node's subtree (itself included, every
    organization whatever its state) hold `size` organizations or more? It reads no more than `size` index entries."""
    size = max(size, 1)
    return Exists(Organization.objects.filter(path__startswith=node.path).order_by().values("pk")[size - 1 : size])


def subtree_reaches(node, size) -> bool:
    """`reaches` alone: one query."""
    return Organization.objects.filter(pk=node.pk).filter(reaches(node, size)).exists()


def subtrees_of_at_least(size) -> list:
    """The organizations whose subtree (as `reaches` counts it) holds `size` organizations or more,
    outermost first: the tree's depth (one query), then every organization's path cut at each depth and grouped
    (one query, a grouped count per depth joined by UNION ALL), then those organizations (one query)."""
    deepest = Organization.objects.aggregate(deepest=Max("depth"))["deepest"] or 0
    step = Organization.steplen
    counts = [
        Organization.objects.filter(depth__gte=depth)
        .annotate(prefix=Substr("path", 1, depth * step))
        .values("prefix")
        .annotate(n=Count("pk"))
        .filter(n__gte=size)
        .values_list("prefix", flat=True)
        .order_by()
        for depth in range(1, deepest + 1)
    ]
    if not counts:
        return []
    prefixes = list(counts[0].union(*counts[1:], all=True))
    return list(Organization.objects.filter(path__in=prefixes).order_by("depth", "path"))


@dataclass
class OrganizationCounts:
    by_kind: list  # [(OrganizationKind, how many)], in the kinds' order, those present only
    members: selectors.MemberCounts

    @property
    def organizations(self):
        return sum(n for _kind, n in self.by_kind)

    @property
    def branches(self):
        return next((n for kind, n in self.by_kind if kind == OrganizationKind.BRANCH), 0)


def organization_counts(node, *, sector="", kind="") -> OrganizationCounts:
    """The active organizations of the subtree (the node itself included) by kind, and the active members of its
    branches, today: two queries (`selectors.subtree_kind_totals`, `selectors.member_counts`). Members are
    counted by their branch's sector; the kind filter leaves them alone (members belong to branches)."""
    totals = selectors.subtree_kind_totals(node, include_self=True, sector=sector, kind=kind)
    by_kind = [(k, totals[k.value]) for k in OrganizationKind if totals.get(k.value)]
    return OrganizationCounts(by_kind, selectors.member_counts(node, sector=sector))


# ------------------------------------------------------------------------------------------------ compliance


@dataclass
class TypeCompliance:
    meeting_type: MeetingType
    met: int
    in_progress: int
    not_met: int

    @property
    def judged(self):
        return self.met + self.in_progress + self.not_met


def compliance_by_type(node, span, today, *, sector="", kind="") -> list[TypeCompliance] | None:
    """Per meeting type, how many organizations of the subtree meet its rule over the view (`span`), have not met it,
    or are still in progress, as the reviewer's table judges their cells on `today`: one aggregate over the kept
    results of the view (`results.view_condition`), the state of each row read from its first span not met, as
    `results.Ranking` reads it. None when the span's year is not kept."""
    if not results.covers(span):
        return None
    day = standings.state_day(span, today)
    rows = ComplianceResult.objects.filter(
        results.view_condition(span),
        first_judged__lte=max(today, span.start),
        organization__path__startswith=node.path,
    )
    rows = _filtered(rows, "organization__", sector, kind)
    counted = {
        row["meeting_type"]: row
        for row in rows.values("meeting_type")
        .annotate(
            judged=Count("pk"),
            not_met=Count("pk", filter=Q(unmet_end__lt=day)),
            in_progress=Count("pk", filter=Q(unmet_start__lte=day, unmet_end__gte=day)),
        )
        .order_by()
    }
    found = []
    for meeting_type in MeetingType:
        row = counted.get(meeting_type.value)
        if row:
            met = row["judged"] - row["not_met"] - row["in_progress"]
            found.append(TypeCompliance(meeting_type, met, row["in_progress"], row["not_met"]))
    return found


@dataclass
class HeatCell:
    """One sub-organization in one month: how many of its subtree's organizations had a rule's span ending in the
    month (`judged`), and how many of them missed one (`not_met`)."""

    month: periods.Span
    judged: int = 0
    not_met: int = 0
    state: str = NOT_OWED


@dataclass
class Heatmap:
    months: list  # [Span], the months of the period
    cells: dict = field(default_factory=dict)  # {row organization id: [HeatCell] in month order}


def compliance_heatmap(node, rows, span, today, *, sector="", kind="") -> Heatmap | None:
    """Meeting compliance of each row (the node's sub-organizations, or the node alone) × each month of the period:
    one aggregate over the kept results, grouped by the row's path prefix and the month each rule span ends in.

    A month's cell counts the rule spans that end in it: a monthly rule's month, a quarterly rule's quarter in its
    last month, a yearly rule's year in December. Not met once the month is over and some organization missed one;
    in progress while the month runs; met when none was missed; not owed when no organization of the row owed a
    span ending then; not yet for a month still to come. None when the span's year is not kept."""
    if not results.covers(span):
        return None
    months = periods.spans_within(Period.MONTH, span)
    heatmap = Heatmap(months)
    if not rows:
        return heatmap
    length = len(rows[0].path)
    by_prefix = {row.path: row.pk for row in rows}
    year = periods.span_of(Period.YEAR, span.start)
    wanted = Q(rule_period=Period.MONTH, period=Period.MONTH, start__gte=span.start, start__lte=span.end)
    ends = [When(period=Period.MONTH, then=F("start"))]
    for quarter in periods.spans_within(Period.QUARTER, year):
        if span.start <= quarter.end <= span.end:
            wanted |= Q(rule_period=Period.QUARTER, period=Period.QUARTER, start=quarter.start)
            ends.append(When(period=Period.QUARTER, start=quarter.start, then=Value(quarter.end.replace(day=1))))
    if span.start <= year.end <= span.end:
        wanted |= Q(rule_period=Period.YEAR, period=Period.YEAR, start=year.start)
        ends.append(When(period=Period.YEAR, then=Value(year.end.replace(day=1))))
    found = _filtered(
        ComplianceResult.objects.filter(wanted, organization__path__startswith=node.path),
        "organization__",
        sector,
        kind,
    )
    found = (
        found.annotate(row=Substr("organization__path", 1, length), ends=Case(*ends, output_field=DateField()))
        .values("row", "ends")
        .annotate(
            judged=Count("organization", distinct=True),
            not_met=Count("organization", distinct=True, filter=Q(unmet_start__isnull=False)),
        )
        .order_by()
    )
    counts = {(by_prefix.get(item["row"]), _as_date(item["ends"])): item for item in found}
    for row in rows:
        cells = []
        for month in months:
            item = counts.get((row.pk, month.start)) or {"judged": 0, "not_met": 0}
            cell = HeatCell(month, item["judged"], item["not_met"])
            cell.state = cell_state(cell, today)
            cells.append(cell)
        heatmap.cells[row.pk] = cells
    return heatmap


def _as_date(value):
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def cell_state(cell, today):
    """A heatmap cell's state on `today` (see `compliance_heatmap`)."""
    if cell.month.start > today:
        return NOT_YET
    if not cell.judged:
        return NOT_OWED
    if cell.not_met:
        return NOT_MET if cell.month.end < today else IN_PROGRESS
    return MET


# ------------------------------------------------------------------------------------------------ committees


@dataclass
class TermDue:
    organization_id: int
    name: str
    kind: str
    election_due: date
    overdue: bool

    @property
    def kind_label(self):
        return OrganizationKind(self.kind).label


@dataclass
class TermsDue:
    overdue: int
    soon: int
    shown: list  # [TermDue], the election due soonest first

    @property
    def total(self):
        return self.overdue + self.soon


def committee_terms_due(node, today, *, within_days, sector="", kind="", shown=20) -> TermsDue:
    """The committees of the subtree's active organizations whose running term's election is overdue, or due within
    `within_days` days: how many of each (one query), and the first `shown` of them, soonest first (one query)."""
    terms = CommitteeTerm.objects.filter(
        ended_on__isnull=True,
        organization__status=OrganizationStatus.ACTIVE,
        organization__path__startswith=node.path,
        expected_election_on__lte=today + timedelta(days=within_days),
    )
    terms = _filtered(terms, "organization__", sector, kind)
    counts = terms.aggregate(
        overdue=Count("pk", filter=Q(expected_election_on__lt=today)),
        soon=Count("pk", filter=Q(expected_election_on__gte=today)),
    )
    rows = terms.order_by("expected_election_on", "organization__path").values_list(
        "organization_id", "organization__name", "organization__kind", "expected_election_on"
    )[:shown]
    return TermsDue(counts["overdue"], counts["soon"], [TermDue(*row, overdue=row[3] < today) for row in rows])


@dataclass
class Staffing:
    """Full-time party-affairs staff against the staff headcount, over the organizations that recorded one."""

    full_time: int
    headcount: int
    organizations: int

    @property
    def share(self) -> Decimal | None:
        return Decimal(self.full_time) / Decimal(self.headcount) if self.headcount else None


def staffing(node, today, *, sector="", kind="") -> Staffing:
    """The subtree's active organizations with a staff headcount: their headcounts added up (one query), and their
    full-time cadres serving today (one query), as the `staffing_ratio` metric counts them for one organization."""
    units = _filtered(
        Organization.objects.filter(
            path__startswith=node.path, status=OrganizationStatus.ACTIVE, staff_headcount__isnull=False
        ),
        "",
        sector,
        kind,
    )
    totals = units.aggregate(headcount=Sum("staff_headcount"), organizations=Count("pk"))
    full_time = (
        Cadre.objects.filter(organization__in=units.values("pk"), employment=Employment.FULL_TIME)
        .filter(term_start__lte=today)
        .filter(Q(term_end__isnull=True) | Q(term_end__gte=today))
        .count()
    )
    return Staffing(full_time, totals["headcount"] or 0, totals["organizations"])


# The kinds a dashboard is read for, whose subtrees the daily figures follow (a branch's own page shows its records).
COMMITTEE_KINDS = (OrganizationKind.COMMITTEE, OrganizationKind.PRIMARY_COMMITTEE, OrganizationKind.GENERAL_BRANCH)


def per_ancestor(rows, *, path="organization__path", depth="organization__depth"):
    """{ancestor's path: how many of `rows` lie in its subtree}, for every ancestor of every row (the row's own
    organization included): one grouped query per level of the tree, each row counted once at each level."""
    deepest = rows.aggregate(deepest=Max(depth))["deepest"] or 0
    counts = {}
    for level in range(1, deepest + 1):
        prefixes = (
            rows.filter(**{f"{depth}__gte": level})
            .annotate(ancestor=Substr(path, 1, level * Organization.steplen))
            .values("ancestor")
            .annotate(n=Count("pk"))
            .values_list("ancestor", "n")
        )
        counts.update(prefixes)
    return counts


def committees_by_path():
    """{path: id} of the active committees (COMMITTEE_KINDS): one query."""
    rows = Organization.objects.filter(kind__in=COMMITTEE_KINDS, status=OrganizationStatus.ACTIVE)
    return dict(rows.values_list("path", "pk"))
