"""Meeting compliance: held against required, for any set of organizations and period.

One set-based function serves the secretary's "what is owed" page, the reviewer's table,
the reminders, and later scoring and dashboards. It reads a fixed number of queries whatever
the number of organizations: the rules, the party groups, the committee posts, the meeting
counts (grouped by organization, type, group and month) and the attendance sums. Meeting counts and
attendance come from the month summaries (branches/summaries.py), never from the raw meetings;
`from_records=True` counts the raw meetings instead, the reference the summaries are tested against.

Every period is judged with the facts in force in each of its months, never with today's:

- A fact holds in a month only when it holds on every day of that month; a partial month is not
  owed. An organization (or a party group) owes month M when it existed the whole of M (founded on
  or before the 1st, dissolved, if at all, on or after the last day: `dissolved_on` is its last day).
  A committee serves in month M when at least COMMITTEE_MINIMUM cadres holding committee posts
  served on every day of M (a replacement on the same day keeps the count).
- Per month and per rule, the owed months are those in which the organization existed, and, for a
  rule `only_with_committee`, its committee served; a rule `per_party_group` is owed by each group
  for the months that group (and its branch) existed.
- A rule's span (a month, quarter or year) requires ceil(minimum × owed months / months in the span):
  the minimum when every month is owed; when none is, the span is not judged at all (not
  applicable, never failed). Meetings count in the month they were held, whether owed or not,
  up to the requirement of their span.
- The rule of a span is the version in force for it (versions start and end on period boundaries).
- A dissolved organization owes nothing now (`owed`); its past periods stay judged as they were.
"""

import functools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import translation
from django.utils.translation import pgettext_lazy

from branches import periods
from branches.models import (
    COMMITTEE_POSTS,
    Cadre,
    Meeting,
    MeetingRequirement,
    MeetingType,
    MonthSummary,
    Organization,
    OrganizationKind,
    Period,
)

COMMITTEE_MINIMUM = 3  # a committee (支委会) has at least three members
EVERYWHERE = object()  # `within` for a call that judges every active organization


# How a requirement stands, and how every page and export shows it. The rules of display live here
# and only here: the dataclasses below answer `state`, `figure` and `judged_over`, whatever computed them.
MET, IN_PROGRESS, NOT_MET = "met", "in_progress", "not_met"
STATE_LABELS = {
    MET: pgettext_lazy("compliance state", "met"),
    IN_PROGRESS: pgettext_lazy("compliance state", "in progress"),
    NOT_MET: pgettext_lazy("compliance state", "not met"),
}
STATE_CSS = {MET: "table-success", IN_PROGRESS: "table-warning", NOT_MET: "table-danger"}
PERIOD_BADGES = {
    Period.MONTH: pgettext_lazy("period badge", "M"),
    Period.QUARTER: pgettext_lazy("period badge", "Q"),
    Period.YEAR: pgettext_lazy("period badge", "Y"),
}


def _worst(states):
    """One state for several: not met if any is not met, met if all are met, else in progress."""
    states = set(states)
    if NOT_MET in states:
        return NOT_MET
    return MET if states <= {MET} else IN_PROGRESS


class Shown:
    """What a table cell, a card and an export show for a status (`state`, `figure` and `judged_over`)."""

    __slots__ = ()

    @property
    def state_label(self):
        return str(STATE_LABELS[self.state])

    @property
    def css(self):
        return STATE_CSS[self.state]

    @property
    def figure(self):
        return f"{self.numerator}/{self.denominator}"


@dataclass
class SpanCount(Shown):
    """One span of a rule (a month of a monthly rule, …): meetings held against the minimum.

    `over` says whether the span had ended on the day of judging: a span still running and not yet
    met is in progress, never failed.
    """

    span: periods.Span
    held: int
    required: int
    over: bool = True
    needs: list = field(default=None, compare=False, repr=False)  # per party group: [[group id, required]]

    @property
    def met(self):
        return self.held >= self.required

    @property
    def counted(self):
        """What the span contributes: its meetings up to the minimum (a surplus never makes up another span)."""
        return min(self.held, self.required)

    @property
    def state(self):
        if self.met:
            return MET
        return NOT_MET if self.over else IN_PROGRESS

    numerator = counted
    denominator = property(lambda self: self.required)


def judged_over(spans):
    """The badge of a cell: the kind of period (月/季/年) and the span(s) it is judged over."""
    if not spans:
        return ""
    return _badge(spans[0], spans[-1], translation.get_language())


@functools.lru_cache(maxsize=4096)  # a table shows hundreds of cells over a handful of span ranges
def _badge(first, last, _language):
    where = first.label if first == last else f"{first.label}–{last.label}"
    return f"{PERIOD_BADGES[first.kind]} {where}"


@dataclass
class RequirementStatus(Shown):
    """One organization and one rule over the spans of a view: each span judged on its own."""

    requirement: MeetingRequirement
    counts: list[SpanCount]

    @property
    def held(self):
        """Meetings that count toward the rule: each span's up to its minimum."""
        return sum(c.counted for c in self.counts)

    @property
    def required(self):
        return sum(c.required for c in self.counts)

    @property
    def fulfilled(self):
        return all(c.met for c in self.counts)

    @property
    def periods_met(self):
        return sum(1 for c in self.counts if c.met)

    @functools.cached_property  # read by every cell, badge and count of a table
    def state(self):
        return _worst(c.state for c in self.counts)

    numerator = held
    denominator = required

    @property
    def period(self):
        return self.counts[0].span.kind if self.counts else self.requirement.period

    @functools.cached_property  # read twice by a table cell and once for its column's badge
    def judged_over(self):
        return judged_over([c.span for c in self.counts])

    @property
    def deadline(self):
        return self.counts[-1].span.end if self.counts else None

    @property
    def current(self):
        return self.counts[-1] if self.counts else None


class FiguresStatus(Shown):
    """One organization and one rule over the spans of a view, as figures alone (read from the kept results): what
    a table cell, an export and the API show of a `RequirementStatus`, without its spans. `judged_over` is the badge
    of the spans counted (`judged_over`), worked out by whoever reads the figures."""

    __slots__ = ("state", "held", "required", "judged_over")

    def __init__(self, state, held, required, judged_over):
        self.state, self.held, self.required, self.judged_over = state, held, required, judged_over

    def __repr__(self):
        return f"FiguresStatus({self.state}, {self.held}/{self.required}, {self.judged_over})"

    @property
    def numerator(self):
        return self.held

    @property
    def denominator(self):
        return self.required

    @property
    def figure(self):
        return f"{self.held}/{self.required}"

    @property
    def fulfilled(self):
        return self.state == MET


@dataclass
class SummaryStatus(Shown):
    """One rule over the branches under a committee or general branch: how many meet it, of those judged.

    Built from the branches' own statuses, so the committee's row and the branches' rows never disagree.
    """

    statuses: list[RequirementStatus]

    @property
    def met(self):
        return sum(1 for s in self.statuses if s.state == MET)

    @property
    def in_progress(self):
        return sum(1 for s in self.statuses if s.state == IN_PROGRESS)

    @property
    def not_met(self):
        return sum(1 for s in self.statuses if s.state == NOT_MET)

    @property
    def judged(self):
        return len(self.statuses)

    @property
    def state(self):
        return _worst(s.state for s in self.statuses)

    numerator = met
    denominator = judged

    @property
    def judged_over(self):
        labels = sorted({s.judged_over for s in self.statuses})
        return labels[0] if len(labels) == 1 else " / ".join(labels)


@dataclass
class ComplianceRow:
    organization: Organization
    statuses: dict = field(default_factory=dict)  # meeting type -> RequirementStatus (or SummaryStatus)
    present: int = 0
    expected: int = 0
    meetings: int = 0
    branches: int | None = None  # for a summary row: how many branches it stands for

    @property
    def attendance_rate(self):
        return self.present / self.expected if self.expected else None

    def _in_state(self, state):
        return sum(1 for s in self.statuses.values() if s.state == state)

    @property
    def requirements_met(self):
        return self._in_state(MET)

    @property
    def requirements_in_progress(self):
        return self._in_state(IN_PROGRESS)

    @property
    def requirements_not_met(self):
        return self._in_state(NOT_MET)

    @property
    def requirements_total(self):
        return len(self.statuses)

    @property
    def is_summary(self):
        return self.branches is not None

    def status(self, meeting_type):
        return self.statuses.get(meeting_type)


def _rules_in_force(first_day, last_day):
    return list(
        MeetingRequirement.objects.filter(effective_from__lte=last_day)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=first_day))
        .order_by("meeting_type", "-effective_from")
    )


def _rule_for(rules, organization, meeting_type, span):
    """The version in force at the span's start (else at its end), the sector's own before the general one."""
    best = None
    for rule in rules:
        if rule.meeting_type != meeting_type or rule.organization_kind != organization.kind:
            continue
        if rule.sector not in ("", organization.sector):
            continue
        if not (rule.in_force_on(span.start) or rule.in_force_on(span.end)):
            continue
        rank = (rule.sector != "", rule.in_force_on(span.start))
        if best is None or rank > best[0]:
            best = (rank, rule)
    return best[1] if best else None


def judge(organizations, spans_for, today, attendance_span=None, within=None, from_records=False):
    """Compliance rows for the given organizations (a list).

    `spans_for(period)` returns the spans over which a requirement with that period is judged.
    `within`, when every organization lies under it, lets the queries filter by its tree path
    instead of a long list of ids. Meetings are counted from the month summaries (branches.summaries);
    `from_records` counts the raw meetings instead (the reference the summaries are checked against).
    """
    if not organizations:
        return []
    spans_by_period = {p: spans_for(p) for p in periods.GRANULARITY}
    all_spans = [s for spans in spans_by_period.values() for s in spans]
    first_day, last_day = min(s.start for s in all_spans), max(s.end for s in all_spans)
    rules = _rules_in_force(first_day, last_day)
    of_orgs = _of_orgs(organizations, within)
    groups, terms, counts, totals = load(organizations, rules, spans_by_period, of_orgs, from_records)

    attendance = {}
    if attendance_span is not None:
        attendance = _attendance(of_orgs, attendance_span, from_records)

    # Organizations of one kind and sector share their rules: make the plan once for each pair.
    # A plan lists, per meeting type, the (rule version, span, months) to count in.
    plans = {}

    def plan_for(org):
        key = (org.kind, org.sector)
        if key not in plans:
            plan = []
            for meeting_type in MeetingType.values:
                first = _rule_for(rules, org, meeting_type, anchor) or _rule_for(
                    rules, org, meeting_type, all_spans[-1]
                )
                if first is None:
                    continue
                steps = []
                for span in spans_by_period[first.period]:
                    rule = _rule_for(rules, org, meeting_type, span)
                    if rule is not None:
                        steps.append((rule, span, _months(span)))
                if steps:
                    plan.append((meeting_type, steps))
            plans[key] = plan
        return plans[key]

    anchor = min(all_spans, key=lambda s: (s.start, -periods.GRANULARITY[s.kind]))
    rows = []
    for org in organizations:
        row = ComplianceRow(org)
        if org.pk in attendance:
            row.present = attendance[org.pk]["present"] or 0
            row.expected = attendance[org.pk]["expected"] or 0
            row.meetings = attendance[org.pk]["meetings"]
        facts = Facts(org, groups.get(org.pk, []), terms.get(org.pk, []))
        org_counts, org_totals = counts.get(org.pk, {}), totals.get(org.pk, {})
        for meeting_type, steps in plan_for(org):
            span_counts = []
            last_rule = None
            for rule, span, months in steps:
                count = _count(org_counts, org_totals, rule, span, months, facts, today)
                if count is not None:
                    span_counts.append(count)
                    last_rule = rule
            if span_counts:
                row.statuses[meeting_type] = RequirementStatus(last_rule, span_counts)
        rows.append(row)
    return rows


def _of_orgs(organizations, within):
    """The filter on records (by their `organization`) for the organizations judged."""
    if within is EVERYWHERE:
        return Q()  # the caller passes every active organization: no filter beats a long list of ids
    if within is not None:
        return Q(organization__path__startswith=within.path)
    return Q(organization_id__in=[org.pk for org in organizations])


def load(organizations, rules, spans_by_period, of_orgs, from_records=False, committees=None):
    """What judging the organizations over the spans reads, in a fixed number of queries: their party groups
    and committee terms living in the spans, and their meetings counted by (type, group, month) and by (type,
    month). Returns (groups, terms, counts, totals), each keyed by organization id. Committee posts are read
    when some rule asks for a committee (or `committees` says so)."""
    all_spans = [s for spans in spans_by_period.values() for s in spans]
    first_day, last_day = min(s.start for s in all_spans), max(s.end for s in all_spans)
    groups = defaultdict(list)  # branch id -> [(group id, founded, dissolved)] of groups living in the spans
    branch_by_path = {org.path: org.pk for org in organizations if org.kind == OrganizationKind.BRANCH}
    if branch_by_path and any(r.per_party_group for r in rules):
        for group_id, path, founded, dissolved in Organization.objects.filter(
            _lived_between(first_day, last_day),
            kind=OrganizationKind.PARTY_GROUP,
            path__startswith=_common_prefix(branch_by_path),
        ).values_list("pk", "path", "founded_on", "dissolved_on"):
            parent = branch_by_path.get(path[: -Organization.steplen])
            if parent is not None:
                groups[parent].append((group_id, founded, dissolved))

    terms = defaultdict(list)  # org id -> [(term start, term end)] of committee posts in the spans
    if committees or (committees is None and any(r.only_with_committee for r in rules)):
        for org_id, term_start, term_end in (
            Cadre.objects.filter(of_orgs, post__in=COMMITTEE_POSTS, term_start__lte=last_day)
            .filter(Q(term_end__isnull=True) | Q(term_end__gte=first_day))
            .values_list("organization_id", "term_start", "term_end")
            .order_by()
        ):
            terms[org_id].append((term_start, term_end))

    counts = defaultdict(lambda: defaultdict(int))  # org -> (type, group, month start) -> meetings
    totals = defaultdict(lambda: defaultdict(int))  # org -> (type, month start) -> meetings, groups summed
    for org_id, meeting_type, group_id, month, n in _held(of_orgs, rules, spans_by_period, from_records):
        counts[org_id][(meeting_type, group_id, month)] += n
        totals[org_id][(meeting_type, month)] += n

    return groups, terms, counts, totals


def _held(of_orgs, rules, spans_by_period, from_records):
    """[(org id, meeting type, group id, month start, meetings)] that some rule will count."""
    if from_records:
        rows = (
            Meeting.objects.filter(of_orgs, _needed(rules, spans_by_period, "held_on"))
            .annotate(month=TruncMonth("held_on"))
            .values_list("organization_id", "meeting_type", "party_group_id", "month")
            .annotate(n=Count("pk"))
            .order_by()
        )
        return [(o, t, g, m.date() if hasattr(m, "date") else m, n) for o, t, g, m, n in rows]
    rows = (
        MonthSummary.objects.filter(of_orgs, _needed(rules, spans_by_period, "month"), held__gt=0)
        .values_list("organization_id", "meeting_type", "party_group", "month", "held")
        .order_by()
    )
    return [(o, t, g or None, m, n) for o, t, g, m, n in rows]  # group 0: the branch's own meetings


def _attendance(of_orgs, span, from_records):
    """{org id: {present, expected, meetings}} over the span (whole months)."""
    if from_records:
        rows = (
            Meeting.objects.filter(of_orgs, held_on__range=(span.start, span.end))
            .values("organization_id")
            .annotate(present=Sum("present_count"), expected=Sum("expected_count"), meetings=Count("pk"))
        )
    else:
        rows = (
            MonthSummary.objects.filter(of_orgs, month__range=(span.start, span.end))
            .values("organization_id")
            .annotate(present=Sum("present"), expected=Sum("expected"), meetings=Sum("held"))
        )
    return {row["organization_id"]: row for row in rows.order_by()}


def _lived_between(first_day, last_day):
    """Organizations that existed on some day from `first_day` to `last_day`."""
    return (Q(founded_on__isnull=True) | Q(founded_on__lte=last_day)) & (
        Q(dissolved_on__isnull=True) | Q(dissolved_on__gte=first_day)
    )


def existed_all_month(founded_on, dissolved_on, month):
    """Whether something founded on `founded_on` (None: always) and dissolved on `dissolved_on` (its last day;
    None: still there) existed on every day of `month` (a Span)."""
    return (founded_on is None or founded_on <= month.start) and (dissolved_on is None or dissolved_on >= month.end)


def committee_served_all_month(terms, month, minimum=COMMITTEE_MINIMUM):
    """Whether at least `minimum` of the terms `[(start, end or None)]` (end inclusive) covered every day of `month`.

    The number serving changes only on a term's first day or on the day after its last, so the month's
    lowest count is found on its first day or on one of those days inside it.
    """
    if len(terms) < minimum:
        return False
    days = {month.start}
    for start, end in terms:
        if month.start < start <= month.end:
            days.add(start)
        if end is not None and month.start <= end < month.end:
            days.add(end + timedelta(days=1))
    return all(_serving(terms, day) >= minimum for day in days)


def _serving(terms, day):
    return sum(1 for start, end in terms if start <= day and (end is None or end >= day))


class Facts:
    """One organization's facts in force month by month: its lifetime, its committee, its party groups."""

    def __init__(self, organization, groups, terms):
        self.organization = organization
        self.groups = groups  # [(group id, founded on, dissolved on)]
        self.terms = terms  # [(term start, term end)] of its committee posts
        self._committee = {}

    def exists(self, month):
        return existed_all_month(self.organization.founded_on, self.organization.dissolved_on, month)

    def committee_serves(self, month):
        if month.start not in self._committee:
            self._committee[month.start] = committee_served_all_month(self.terms, month)
        return self._committee[month.start]

    def owed_months(self, rule, months):
        """The months of a span in which the organization owes the rule (before party groups)."""
        return [
            month
            for month in months
            if self.exists(month) and (not rule.only_with_committee or self.committee_serves(month))
        ]

    def group_owed_months(self, owed, group):
        _group_id, founded, dissolved = group
        return sum(1 for month in owed if existed_all_month(founded, dissolved, month))


def share(minimum, owed_months, months_in_span):
    """What a span requires when `owed_months` of its `months_in_span` are owed: the minimum pro rata, rounded up."""
    return -(-minimum * owed_months // months_in_span)


def _needed(rules, spans_by_period, day_field):
    """Only the meetings (or month summaries) some rule will count: a quarter's view reads three months of
    monthly meetings, and the year only for the yearly ones. `day_field` is the date the rows are filtered on."""
    ranges = defaultdict(set)
    for rule in rules:
        spans = spans_by_period[rule.period]
        if spans:
            ranges[(min(s.start for s in spans), max(s.end for s in spans))].add(rule.meeting_type)
    condition = Q(pk__in=[])
    for (start, end), types in ranges.items():
        condition |= Q(meeting_type__in=sorted(types), **{f"{day_field}__range": (start, end)})
    return condition


def _months(span):
    return tuple(periods.spans_within("month", span))


def _count(counts, totals, rule, span, months, facts, today):
    """Meetings held in the span against what it requires; None when the span owes nothing.

    `counts` and `totals` are one organization's meeting counts, `facts` its facts month by month.
    """
    meeting_type, over = rule.meeting_type, span.end < today
    owed = facts.owed_months(rule, months)
    if not owed:
        return None
    if rule.per_party_group:
        # Each group counts up to its own requirement, so one busy group cannot make up for a silent one.
        held = required = 0
        needs = []
        for group in facts.groups:
            needed = share(rule.minimum, facts.group_owed_months(owed, group), len(months))
            if needed:
                group_held = sum(counts.get((meeting_type, group[0], m.start), 0) for m in months)
                held += min(group_held, needed)
                required += needed
                needs.append([group[0], needed])
        if not required:
            return None  # no party group lived a whole month of the span: no group meetings owed
        return SpanCount(span, held, required, over, needs=needs)
    required = share(rule.minimum, len(owed), len(months))
    return SpanCount(span, sum(totals.get((meeting_type, m.start), 0) for m in months), required, over)


def _common_prefix(paths_by_path):
    paths = list(paths_by_path)
    prefix = paths[0]
    for path in paths[1:]:
        while not path.startswith(prefix):
            prefix = prefix[: -Organization.steplen]
    return prefix


def owed(branch, today):
    """The branch's own status now: each requirement in its current month, quarter or year.

    A dissolved branch owes nothing now: an empty row (its past periods are judged by `for_span`)."""
    if not branch.is_active:
        return ComplianceRow(branch)

    def spans_for(period):
        return [periods.span_of(period, today)]

    return judge([branch], spans_for, today, attendance_span=periods.span_of("year", today))[0]


def for_span(organizations, span, today, within=None):
    """Each organization over a chosen span (the reviewer's table); `within`: their common ancestor, if known."""
    return judge(
        organizations,
        lambda period: periods.counting_spans(period, span, today),
        today,
        attendance_span=span,
        within=within,
    )


def summarize(parents, branch_rows):
    """A row for each committee or general branch in `parents`, standing for the branches beneath it.

    Each rule's cell counts the branches that meet it against the branches judged by it (their own
    statuses, from `for_span`); attendance adds up theirs. No query: the tree paths say who is under whom.
    """
    rows = {parent.path: ComplianceRow(parent, branches=0) for parent in parents}
    gathered = defaultdict(lambda: defaultdict(list))  # parent path -> meeting type -> branch statuses
    step = Organization.steplen
    for branch_row in branch_rows:
        path = branch_row.organization.path
        for end in range(step, len(path), step):
            row = rows.get(path[:end])
            if row is None:
                continue
            row.branches += 1
            row.present += branch_row.present
            row.expected += branch_row.expected
            row.meetings += branch_row.meetings
            for meeting_type, status in branch_row.statuses.items():
                gathered[row.organization.path][meeting_type].append(status)
    for path, row in rows.items():
        by_type = gathered.get(path, {})
        row.statuses = {t: SummaryStatus(by_type[t]) for t in MeetingType.values if t in by_type}
    return list(rows.values())


def around(organizations, today):
    """Every requirement in the period now running and in the one just ended, for the reminder job.

    `organizations` are all active organizations (selectors.active_organizations()).
    """

    def spans_for(period):
        current = periods.span_of(period, today)
        return [periods.shift(current, -1), current]

    return judge(organizations, spans_for, today, within=EVERYWHERE)
