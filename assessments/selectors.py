"""Reads for duties and findings: the secretary's to-do, the inspector's queue, the three lists."""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Count, Exists, F, OuterRef, Q
from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext as _

from assessments import rubrics
from assessments.models import (
    Aggregation,
    Assessment,
    AssessmentRound,
    AssessmentState,
    AssessmentStep,
    Finding,
    FindingState,
    IndicatorKind,
    ItemStatus,
    LeafFigures,
    ResponsibilityItem,
    RoundState,
    Rubric,
    RubricState,
    ScoreSheet,
    ScoringRule,
)
from assessments.models.inspections import AWAITING_ORGANIZATION
from assessments.models.rounds import AWAITING_ORGANIZATION as AWAITING_SELF_ASSESSMENT
from assessments.models.rounds import AWAITING_REVIEW
from branches import access, compliance


@dataclass
class TodoEntry:
    kind: str  # "meeting", "duty" or "rectification"
    title: str
    due: date
    url: str
    overdue: bool
    detail: str = ""


def todo_for(user, branch, today):
    """Everything waiting on the branch, nearest deadline first: duties, rectifications and meetings."""
    entries = []
    for item in ResponsibilityItem.objects.filter(organization=branch, status=ItemStatus.OPEN).order_by("due_on"):
        entries.append(
            TodoEntry(
                "duty",
                item.text,
                item.due_on,
                reverse("assessments:item", args=[item.pk]),
                item.due_on < today,
                item.get_area_display(),
            )
        )
    # A rectification submitted waits on the inspectors (their queue), not on the branch.
    for finding in Finding.objects.filter(organization=branch, state__in=AWAITING_ORGANIZATION):
        entries.append(
            TodoEntry(
                "rectification",
                finding.description,
                finding.deadline,
                reverse("assessments:finding", args=[finding.pk]),
                finding.deadline < today,
                finding.get_state_display(),
            )
        )
    for status in compliance.owed(branch, today).statuses.values():
        if not status.fulfilled:
            entries.append(
                TodoEntry(
                    "meeting",
                    status.requirement.get_meeting_type_display(),
                    status.deadline,
                    reverse("branches:meeting_add", args=[branch.pk]) + f"?type={status.requirement.meeting_type}",
                    False,
                    f"{status.held}/{status.required}",
                )
            )
    return sorted(entries, key=lambda e: (e.due, e.kind))


SOON_DAYS = 14  # a duty due within this many days is "due soon" on the branch's home


@dataclass
class Waiting:
    """What the branch's home shows of its duties and rectifications: counts and the nearest few."""

    overdue_duties: int
    soon_duties: int
    rectifications: int
    overdue_rectifications: int
    nearest: list  # TodoEntry, nearest deadline first

    @property
    def total(self):
        return self.overdue_duties + self.soon_duties + self.rectifications


def waiting_on(branch, today, *, shown=5):
    """The branch's overdue and soon-due duties and the rectifications waiting on it (two queries)."""
    soon = today + timedelta(days=SOON_DAYS)
    duties = list(
        ResponsibilityItem.objects.filter(organization=branch, status=ItemStatus.OPEN, due_on__lte=soon)
        .order_by("due_on", "pk")
        .values_list("pk", "text", "due_on")
    )
    findings = list(
        Finding.objects.filter(organization=branch, state__in=AWAITING_ORGANIZATION)
        .order_by("deadline", "pk")
        .values_list("pk", "description", "deadline")
    )
    rows = sorted(
        [("duty", "assessments:item", *row) for row in duties]
        + [("rectification", "assessments:finding", *row) for row in findings],
        key=lambda row: (row[4], row[0]),
    )
    return Waiting(
        overdue_duties=sum(1 for _pk, _text, due in duties if due < today),
        soon_duties=sum(1 for _pk, _text, due in duties if due >= today),
        rectifications=len(findings),
        overdue_rectifications=sum(1 for _pk, _text, due in findings if due < today),
        nearest=[
            TodoEntry(kind, text, due, reverse(url_name, args=[pk]), due < today)
            for kind, url_name, pk, text, due in rows[:shown]
        ],
    )


def findings_in(user, root, action=access.VIEW):
    return access.scoped(user, Finding.objects.filter(organization__path__startswith=root.path), action).select_related(
        "organization", "inspection", "responsible_cadre"
    )


def inspector_queue(user, root):
    """Findings awaiting the inspector: submitted first, then the rest still open, nearest deadline first."""
    findings = findings_in(user, root, access.REVIEW) | findings_in(user, root, access.ASSESS)
    return findings.exclude(state=FindingState.VERIFIED).order_by("-state", "deadline", "pk")


THREE_LISTS = ("problems", "duties", "rectifications")


def three_lists(user, root, which, *, sector="", kind="", area="", status="", overdue=False, today):
    """问题清单 (findings), 责任清单 (duties) or 整改清单 (rectifications under way or done) of the subtree."""
    if which == "duties":
        rows = access.scoped(user, ResponsibilityItem.objects.filter(organization__path__startswith=root.path))
        if area:
            rows = rows.filter(area=area)
        if status:
            rows = rows.filter(status=status)
        if overdue:
            rows = rows.filter(status=ItemStatus.OPEN, due_on__lt=today)
        rows = rows.select_related("organization").order_by("due_on", "organization__path", "pk")
    else:
        rows = findings_in(user, root)
        if which == "rectifications":
            rows = rows.exclude(state=FindingState.OPEN)
        if status:
            rows = rows.filter(state=status)
        if overdue:
            rows = rows.exclude(state=FindingState.VERIFIED).filter(deadline__lt=today)
        rows = rows.order_by("deadline", "organization__path", "pk")
    if sector:
        rows = rows.filter(organization__sector=sector)
    if kind:
        rows = rows.filter(organization__kind=kind)
    return rows


def three_list_counts(user, root, today):
    """Totals and overdue counts of the three lists, in two queries."""
    items = access.scoped(user, ResponsibilityItem.objects.filter(organization__path__startswith=root.path)).aggregate(
        total=Count("pk"),
        open=Count("pk", filter=Q(status=ItemStatus.OPEN)),
        overdue=Count("pk", filter=Q(status=ItemStatus.OPEN, due_on__lt=today)),
    )
    findings = findings_in(user, root).aggregate(
        total=Count("pk"),
        rectifying=Count("pk", filter=~Q(state=FindingState.OPEN)),
        unresolved=Count("pk", filter=~Q(state=FindingState.VERIFIED)),
        overdue=Count("pk", filter=~Q(state=FindingState.VERIFIED) & Q(deadline__lt=today)),
    )
    return {"duties": items, "findings": findings}


# Reads for the scheduled jobs: whole-tree, set-based, a fixed number of queries.


def open_duties():
    return ResponsibilityItem.objects.filter(status=ItemStatus.OPEN)


def findings_overdue(today):
    """Findings not verified and past their deadline today: the dashboard's 整改逾期."""
    return Finding.objects.filter(deadline__lt=today).exclude(state=FindingState.VERIFIED)


def findings_awaiting_organization():
    """Findings whose rectification waits on their organization (open, under way or sent back); one submitted
    waits on the inspectors, so nobody reminds the organization of it."""
    return Finding.objects.filter(state__in=AWAITING_ORGANIZATION)


def duties_due_between(first_day, last_day):
    """Open duties falling due in the range: (id, organization id, path, text, due date)."""
    return list(
        open_duties()
        .filter(due_on__range=(first_day, last_day))
        .values_list("pk", "organization_id", "organization__path", "text", "due_on")
        .order_by("due_on", "pk")
    )


def findings_due_between(first_day, last_day):
    """Findings awaiting their organization whose rectification deadline falls in the range: (id, organization
    id, path, description, deadline)."""
    return list(
        findings_awaiting_organization()
        .filter(deadline__range=(first_day, last_day))
        .values_list("pk", "organization_id", "organization__path", "description", "deadline")
        .order_by("deadline", "pk")
    )


def assessments_awaiting_organization():
    """Assessments of open rounds still waiting on their organization's self-assessment."""
    return Assessment.objects.filter(state__in=AWAITING_SELF_ASSESSMENT, round__state=RoundState.OPEN)


def reviews_awaiting(round_id, under_path):
    """What an assessor's review reminder is about: the round's assessments submitted or under review in the
    subtree at `under_path` (the assessor's), while the round is open. Both may be expressions (OuterRef)."""
    return Assessment.objects.filter(
        state__in=AWAITING_REVIEW,
        round__state=RoundState.OPEN,
        round_id=round_id,
        organization__path__startswith=under_path,
    )


def self_assessments_due_between(first_day, last_day):
    """Assessments waiting on their organization whose self-assessment falls due in the range: (id, organization
    id, path, round title, due date)."""
    rows = (
        assessments_awaiting_organization()
        .filter(round__self_assessment_due__range=(first_day, last_day))
        .values_list(
            "pk",
            "organization_id",
            "organization__path",
            "round__title",
            "round__rubric__title",
            "round__self_assessment_due",
        )
        .order_by("round__self_assessment_due", "pk")
    )
    return [(pk, org, path, title or rubric, due) for pk, org, path, title, rubric, due in rows]


def reviews_due_between(first_day, last_day):
    """Open rounds whose review falls due in the range, with the paths of their assessments awaiting review:
    [(round id, title, due date, sorted paths)]; one query."""
    rows = (
        Assessment.objects.filter(
            state__in=AWAITING_REVIEW, round__state=RoundState.OPEN, round__review_due__range=(first_day, last_day)
        )
        .values_list("round_id", "round__title", "round__rubric__title", "round__review_due", "organization__path")
        .order_by("round_id", "organization__path")
    )
    found = {}
    for round_id, title, rubric, due, path in rows.iterator(chunk_size=20000):
        found.setdefault(round_id, (round_id, title or rubric, due, []))[3].append(path)
    return list(found.values())


# Rubrics (考核细则): rules of the whole tree. Reviewers, assessors and admins read the published and archived
# versions (rounds are opened and scored with them); drafts are seen, like every edit, by admins of a root only.


def reads_rubrics(user):
    return any(access.has_any(user, action) for action in (access.REVIEW, access.ASSESS, access.ADMINISTER))


def rubrics_for(user, *, year=None, code="", state="", search=""):
    """The rubrics the user may read, filtered; newest year first, then code and version."""
    if not reads_rubrics(user):
        return Rubric.objects.none()
    rows = Rubric.objects.all()
    if not access.administers_rules(user):
        rows = rows.exclude(state=RubricState.DRAFT)
    if year:
        rows = rows.filter(year=year)
    if code:
        rows = rows.filter(code=code)
    if state:
        rows = rows.filter(state=state)
    if search:
        rows = rows.filter(Q(title__icontains=search) | Q(code__icontains=search) | Q(description__icontains=search))
    return rows.annotate(indicator_count=Count("indicators")).order_by("-year", "code", "-version")


def rubric_or_404(user, pk):
    rubric = rubrics_for(user).filter(pk=pk).first()
    if rubric is None:
        raise Http404
    return rubric


def rubric_versions(user, rubric):
    """Every version of the rubric's code the user may read, across years."""
    return rubrics_for(user, code=rubric.code)


def previous_version(user, rubric):
    """What this version is compared with: the one it was copied from, else the version before it in its year."""
    if rubric.based_on_id:
        based_on = rubrics_for(user).filter(pk=rubric.based_on_id).first()
        if based_on is not None:
            return based_on
    return rubrics_for(user, code=rubric.code, year=rubric.year).filter(version__lt=rubric.version).first()


@dataclass
class TreeRow:
    node: dict
    depth: int
    first: bool
    last: bool

    @property
    def kind_label(self):
        return IndicatorKind(self.node["kind"]).label if self.node["kind"] in IndicatorKind.values else ""

    @property
    def how(self):
        """How its points come about, in a few words."""
        node = self.node
        if node["kind"] == IndicatorKind.GROUP:
            label = Aggregation(node["aggregation"]).label if node["aggregation"] in Aggregation.values else ""
            return f"{label} {node['formula']}".strip()
        if node["kind"] == IndicatorKind.COMPUTED:
            rule = ScoringRule(node["rule"]).label if node["rule"] in ScoringRule.values else ""
            params = rubrics.params_label(node["params"])
            return f"{rubrics.metric_label(node['metric'])} {params} · {rule}".strip()
        return ""

    @property
    def is_group(self):
        return self.node["kind"] == IndicatorKind.GROUP

    @property
    def indent_class(self):
        return f"ps-{min(5, self.depth * 2)}"  # inline styles are not allowed by the content security policy


def tree_rows(tree):
    """The indicators in reading order, each with its depth and whether it can move up or down among its siblings."""

    def rows(nodes, depth):
        for index, node in enumerate(nodes):
            yield TreeRow(node, depth, index == 0, index == len(nodes) - 1)
            yield from rows(node["children"], depth + 1)

    return list(rows(tree["indicators"], 0))


@dataclass
class PreviewLine:
    """One indicator of a rubric's preview: its place in the tree, the points it would give and why."""

    row: TreeRow
    points: Decimal | None
    why: str


@dataclass
class RubricPreview:
    lines: list
    total: Decimal | None = None
    band: str = ""
    vetoed: bool = False
    problems: list = None  # what keeps the definitions from being scored (then nothing else is filled)
    outside: list = None  # why a round of this rubric would not assess the organization


def rubric_preview(rubric, organization, *, period_start, period_end, today):
    """What `rubric` (a draft too) would give `organization` over the period, read to today: the scoring engine
    run for this organization alone, nothing written (`scoring.preview`)."""
    from assessments import scoring

    definitions = scoring.definitions_of(rubric)
    tree_rows_ = tree_rows(rubrics.snapshot(rubric))
    problems = scoring.check(definitions)
    if problems:
        return RubricPreview([PreviewLine(row, None, "") for row in tree_rows_], problems=problems, outside=[])
    found = scoring.preview(
        definitions, [organization.pk], period_start=period_start, period_end=period_end, through=today
    )[organization.pk]
    not_scored = {
        IndicatorKind.MANUAL: _("Scored by an assessor in a round: counted 0 here."),
        IndicatorKind.SURVEY: _("Taken from the survey results of a round: counted 0 here."),
        IndicatorKind.BONUS: _("Counts once approved in a round: 0 here."),
        IndicatorKind.DEDUCTION: _("Counts once approved in a round: 0 here."),
        IndicatorKind.VETO: _("Marked by an assessor in a round."),
    }
    lines = []
    for row in tree_rows_:
        code, kind = row.node["code"], row.node["kind"]
        leaf = found.leaves.get(code)
        if kind == IndicatorKind.GROUP:
            why = row.how
        elif leaf is not None and leaf[3]:
            why = scoring.why(leaf[3])
        else:
            why = str(not_scored.get(kind, ""))
        points = None if kind == IndicatorKind.VETO else found.points.get(code)
        lines.append(PreviewLine(row, points, why))
    outside = []
    if rubric.levels and organization.kind not in rubric.levels:
        outside.append(
            _("Its level (%(kind)s) is not one the rubric assesses.") % {"kind": organization.get_kind_display()}
        )
    if rubric.sectors and organization.sector not in rubric.sectors:
        outside.append(
            _("Its sector (%(sector)s) is not one the rubric assesses.") % {"sector": organization.get_sector_display()}
        )
    return RubricPreview(lines, found.total, found.band, found.vetoed, [], outside)


# ------------------------------------------------------------------------------------------ assessment rounds
# A round is seen by whoever sees one of its assessments; each sees the assessments in their own scope only (a
# secretary their branch's). The ranking and the survey results are for those who review or assess.


def _either(user, actions, via):
    """Rows whose organization lies where the user holds any of `actions`."""
    if access.is_everywhere(user):
        return Q()
    condition = Q(pk__in=[])
    for action in actions:
        condition |= access.organization_q(user, action, via)
    return condition


JUDGES = (access.REVIEW, access.ASSESS)


def judges_in(user):
    return access.is_everywhere(user) or any(access.has_any(user, action) for action in JUDGES)


def rounds_for(user):
    """The rounds with an assessment the user sees, newest first, with progress counted over what they see."""
    if not access.has_any(user, access.VIEW):
        return AssessmentRound.objects.none()
    everywhere = access.is_everywhere(user)
    seen = Q() if everywhere else access.organization_q(user, access.VIEW, "assessments__organization")

    def counted(condition):
        return Count("assessments", filter=condition) if condition else Count("assessments")

    counts = {
        "seen_count": counted(seen),
        **{f"{state}_count": counted(seen & Q(assessments__state=state)) for state in AssessmentState.values},
    }
    return (
        AssessmentRound.objects.filter(Exists(access.scoped(user, Assessment.objects.filter(round=OuterRef("pk")))))
        .select_related("rubric", "root")
        .annotate(**counts)
        .order_by("-period_start", "-pk")
    )


def round_or_404(user, pk):
    found = rounds_for(user).filter(pk=pk).first()
    if found is None:
        raise Http404
    return found


@dataclass
class Progress:
    """How far a round has come, over the assessments the user sees."""

    total: int
    counts: dict

    def of(self, state):
        return self.counts.get(state, 0)

    @property
    def self_assessed(self):
        """Self-assessed at least once (every state past "open")."""
        return self.total - self.of(AssessmentState.OPEN)

    @property
    def submitted(self):
        return sum(self.of(s) for s in (AssessmentState.SUBMITTED, AssessmentState.UNDER_REVIEW))

    @property
    def reviewed(self):
        return self.of(AssessmentState.APPROVED) + self.of(AssessmentState.PUBLISHED)

    @property
    def published(self):
        return self.of(AssessmentState.PUBLISHED)

    def share(self, number):
        return round(100 * number / self.total) if self.total else 0


def progress_of(assessment_round):
    """The round's progress from its annotated counts (rounds_for)."""
    counts = {state: getattr(assessment_round, f"{state}_count", 0) for state in AssessmentState.values}
    return Progress(assessment_round.seen_count, counts)


def approvals_being_scored(assessment_round):
    """How many approvals of the round wait for the run that scores it again (one query on a partial index)."""
    return AssessmentStep.objects.filter(assessment__round=assessment_round, figures_pending=True).count()


def round_assessments(user, assessment_round, *, state="", search=""):
    rows = access.scoped(user, Assessment.objects.filter(round=assessment_round)).select_related("organization")
    if state:
        rows = rows.filter(state=state)
    if search:
        rows = rows.filter(Q(organization__name__icontains=search) | Q(organization__code__icontains=search))
    return rows.order_by("organization__path")


def assessment_or_404(user, pk, action=access.VIEW):
    return access.get_scoped_or_404(
        user, Assessment.objects.select_related("round", "round__rubric", "round__root", "organization"), action, pk=pk
    )


def ranking(user, assessment_round, *, kind=""):
    """The ranked assessments the user reviews or assesses (peer group by organization kind), best first."""
    rows = Assessment.objects.filter(round=assessment_round).filter(_either(user, JUDGES, "organization"))
    if kind:
        rows = rows.filter(organization__kind=kind)
    return (
        rows.select_related("organization")
        .only(
            "pk",
            "state",
            "total",
            "grade",
            "rank",
            "peer_size",
            "vetoed",
            "bottom",
            "rollup",
            "organization__name",
            "organization__code",
            "organization__kind",
            "organization__path",
        )
        .order_by("organization__kind", F("rank").asc(nulls_last=True), "organization__path")
    )


def grade_counts(user, assessment_round, *, kind=""):
    """{grade: how many} over the ranking the user sees (one aggregate query)."""
    rows = Assessment.objects.filter(round=assessment_round).filter(_either(user, JUDGES, "organization"))
    if kind:
        rows = rows.filter(organization__kind=kind)
    return dict(rows.values_list("grade").annotate(n=Count("pk")).order_by())


RECORDS_OF_METRIC = {
    "meetings_met": "branches:meetings",
    "attendance_rate": "branches:meetings",
    "duties_on_time": "assessments:todo",
    "rectifications_on_time": "assessments:todo",
    "findings_open_past_deadline": "assessments:todo",
    "cadres_trained": "branches:organization",
    "staffing_ratio": "branches:organization",
    "committee_term_overdue": "branches:organization",
}


@dataclass
class ScoreLine:
    """One indicator of an assessment as its page shows it."""

    leaf: object
    score: object  # Score (what people entered) or None
    figures: object  # LeafFigures: what the engine made of it
    why: str
    records: str  # a link to the records it came from, or ""
    missing: list  # [(label, link)] of the spans a meeting requirement was not met
    points: Decimal  # what it counts now (before the round is scored again)

    @property
    def code(self):
        return self.leaf.code


def _counted(leaf, score, figures):
    """What a leaf counts now, as the engine would count it from the stored figures and marks."""
    maximum = leaf.max_points
    if leaf.kind == IndicatorKind.VETO:
        return Decimal(0)
    adjusted = score.adjusted if score is not None else None
    assessor = score.assessor_score if score is not None else None
    if leaf.kind in (IndicatorKind.BONUS, IndicatorKind.DEDUCTION):
        amount = adjusted if adjusted is not None else assessor
        return min(max(amount or 0, Decimal(0)), maximum) if score is not None and score.approved_by_id else Decimal(0)
    if leaf.computed:
        value = adjusted if adjusted is not None else figures.computed
    else:
        value = adjusted if adjusted is not None else assessor
    return min(max(value or Decimal(0), Decimal(0)), maximum)


def score_lines(assessment):
    """Every indicator of the assessment with its score, its "why", the records behind it, and what it counts now;
    and the provisional total these give (the round's scoring gives the official one). Three queries."""
    from assessments import scoring, workflow

    tree = workflow.tree_of(assessment)
    scores = {score.code: score for score in assessment.scores.select_related("evidence_file", "approved_by")}
    figures_of = scoring.figures_of(ScoreSheet.objects.filter(assessment=assessment).first(), tree)
    org = assessment.organization_id
    lines = []
    for leaf in workflow.leaves_of(assessment, tree):
        score = scores.get(leaf.code)
        figures = figures_of.get(leaf.code) or LeafFigures()
        trace = figures.trace
        node = tree.nodes[leaf.code]
        url_name = RECORDS_OF_METRIC.get(node.get("metric") or "")
        records = reverse(url_name, args=[org]) if url_name else ""
        meeting_type = (trace.get("inputs") or {}).get("meeting_type") or (node.get("params") or {}).get("meeting_type")
        if records and meeting_type and url_name == "branches:meetings":
            records += f"?meeting_type={meeting_type}"
        missing = [
            (
                item["span"],
                f"{reverse('branches:meetings', args=[org])}?meeting_type={meeting_type}&period={item['span']}",
            )
            for item in (trace.get("inputs") or {}).get("missing", [])
        ]
        why = scoring.why(trace)
        lines.append(ScoreLine(leaf, score, figures, why, records, missing, _counted(leaf, score, figures)))
    _points, total = tree.aggregate({line.code: line.points for line in lines})
    return lines, total


# ------------------------------------------------------------------------------------------ roll-ups per indicator


@dataclass
class IndicatorRollup:
    """One indicator over the sub-organizations of a committee assessed with the same rubric: their average points
    and how many meet the indicator's standard (its full points; for a deduction, nothing taken off; for a bonus,
    any bonus given)."""

    code: str
    title: str
    area: str
    kind: str
    max_points: Decimal
    organizations: int
    average: Decimal
    meeting: int

    @property
    def share(self):
        return Decimal(self.meeting) / Decimal(self.organizations) if self.organizations else Decimal(0)

    @property
    def kind_label(self):
        return IndicatorKind(self.kind).label if self.kind in IndicatorKind.values else self.kind


@dataclass
class RubricRollup:
    """The roll-ups of one rubric's indicators (one round) under a committee."""

    round: AssessmentRound
    organizations: int
    indicators: list


def _rubric_leaves(rounds):
    """The indicators a roll-up counts in the rounds' rubrics (vetoes aside: the roll-up of totals counts the vetoed):
    {(round id, code): (node, maximum, its area's node)}, and each one's standard [(round id, code, the points that
    meet it, whether any points above 0 do)]: full points; for a bonus, any given; for a deduction, any taken off,
    so that those without one meet it."""
    from assessments import scoring

    leaves, standard = {}, []
    for round_id, assessment_round in rounds.items():
        tree = scoring.Tree(assessment_round.definitions)
        for code in tree.leaves():
            node = tree.nodes[code]
            if node["kind"] == IndicatorKind.VETO:
                continue
            leaves[round_id, code] = (node, tree.max[code], tree.nodes.get(node.get("parent") or "", {}))
            any_points = node["kind"] in (IndicatorKind.BONUS, IndicatorKind.DEDUCTION)
            standard.append((round_id, code, str(tree.max[code]), any_points))
    return leaves, standard


SIX_PLACES = Decimal("0.000001")


def _leaf_sums(assessments, standard, *, by_parent=False):
    """[(round id, code, sum of final points, how many meet the standard)] over the score sheets of `assessments`
    (a queryset; annotated with `parent` and each row led by it `by_parent`), for the indicators of `standard`
    (`_rubric_leaves`). One query: each sheet's finals taken apart in SQL."""
    from django.db import connection

    if not standard:
        return []
    inner, params = (
        assessments.values("pk", "round_id", *(["parent"] if by_parent else [])).order_by().query.sql_with_params()
    )
    if connection.vendor == "postgresql":
        each, number = "jsonb_each_text(s.{finals}) AS f", "CAST({} AS numeric)"
    else:
        each, number = "json_each(s.{finals}) AS f", "CAST({} AS REAL)"
    points = number.format("f.value")
    sheet = ScoreSheet._meta
    leading = "u.parent, " if by_parent else ""
    sql = (  # identifiers are the model's own; values travel as parameters
        f"WITH u(id, round_id{', parent' if by_parent else ''}) AS ({inner}), "  # noqa: S608
        f"std(round_id, code, at_least, any_points) AS (VALUES {', '.join(['(%s, %s, %s, %s)'] * len(standard))}) "
        f"SELECT {leading}u.round_id, f.key, SUM({points}), SUM(CASE WHEN (std.any_points AND {points} > 0) OR "
        f"(NOT std.any_points AND {points} >= {number.format('std.at_least')}) THEN 1 ELSE 0 END) "
        f"FROM u JOIN {sheet.db_table} s ON s.{sheet.pk.column} = u.id "
        f"CROSS JOIN {each.format(finals=sheet.get_field('finals').column)} CROSS JOIN std "
        f"WHERE std.round_id = u.round_id AND std.code = f.key GROUP BY {leading}u.round_id, f.key"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *(value for row in standard for value in row)])
        rows = cursor.fetchall()
    # Each final point is exact to six places, and so is their sum (SQLite adds them as floating point).
    return [(*row[:-2], Decimal(str(row[-2] or 0)).quantize(SIX_PLACES), row[-1]) for row in rows]


def _rubric_rollups(rounds, counts, figures, leaves):
    """[RubricRollup], one per round of the sub-organizations, from how many each round assessed {round id: n}
    and the figures of each indicator {(round id, code): (sum of final points, how many marked)}."""
    found = []
    for round_id in sorted(counts, key=lambda pk: (rounds[pk].rubric.code, pk)):
        size = counts[round_id]
        rows = []
        for (leaf_round, code), (node, maximum, area) in leaves.items():
            if leaf_round != round_id:
                continue
            total, marked = figures.get((round_id, code), (Decimal(0), 0))
            meeting = size - marked if node["kind"] == IndicatorKind.DEDUCTION else marked
            rows.append(
                IndicatorRollup(
                    code=code,
                    title=node.get("title") or code,
                    area=area.get("title", ""),
                    kind=node["kind"],
                    max_points=maximum,
                    organizations=size,
                    average=Decimal(total) / size,
                    meeting=meeting,
                )
            )
        found.append(RubricRollup(rounds[round_id], size, rows))
    return found


def _assessed_in_period(assessment_round):
    """Assessments with a total over the round's period, in this round or another (each has its own rubric)."""
    return Assessment.objects.filter(
        round__period_start=assessment_round.period_start,
        round__period_end=assessment_round.period_end,
        total__isnull=False,
    )


def _rounds_with_rubrics(round_ids):
    return {r.pk: r for r in AssessmentRound.objects.filter(pk__in=round_ids).select_related("rubric")}


def indicator_rollups(assessment):
    """Per indicator, over the sub-organizations (any depth) of the assessment's organization assessed over the
    same period — in this round or another round over that period, grouped by round since each has its own rubric:
    how many, their average points (an indicator without a score counts 0), how many meet its standard. Set-based:
    three queries whatever the number of sub-organizations; [] for an organization without any."""
    under = _assessed_in_period(assessment.round).filter(
        organization__path__startswith=assessment.organization.path,
        organization__depth__gt=assessment.organization.depth,
    )
    counts = dict(under.values_list("round_id").annotate(n=Count("pk")).order_by())
    if not counts:
        return []
    rounds = _rounds_with_rubrics(counts)
    leaves, standard = _rubric_leaves(rounds)
    figures = {(round_id, code): (total, marked) for round_id, code, total, marked in _leaf_sums(under, standard)}
    return _rubric_rollups(rounds, counts, figures, leaves)


def ranking_rollups(user, assessment_round, committees):
    """`indicator_rollups` of many assessments of the ranking at once (its export): {assessment id: [RubricRollup]}
    for `committees` [(assessment id, organization path)], only those with sub-organizations assessed.

    The sub-organizations' assessments and score sheets are summed in SQL by their parent's path, and each sum is
    added in Python to the committees whose path it starts with: three queries whatever the number of committees and
    sub-organizations. Only what the user judges is read, which holds every sub-organization of what they see."""
    from collections import Counter, defaultdict

    from django.db.models.functions import Length, Substr

    from branches.models import Organization

    by_path = {path: pk for pk, path in committees}
    if not by_path:
        return {}
    step = Organization.steplen
    root = assessment_round.root
    under = (
        _assessed_in_period(assessment_round)
        .filter(organization__path__startswith=root.path, organization__depth__gt=root.depth)
        .filter(_either(user, JUDGES, "organization"))
    )
    above = {}

    def committees_above(parent):
        """The committees at `parent` and above it (an assessed sub-organization counts for each)."""
        if parent not in above:
            prefixes = (parent[:end] for end in range(step, len(parent) + 1, step))
            above[parent] = [by_path[prefix] for prefix in prefixes if prefix in by_path]
        return above[parent]

    def parent_of(path):
        return Substr(path, 1, Length(path) - step)

    counts = defaultdict(Counter)
    for parent, round_id, n in (
        under.annotate(parent=parent_of("organization__path"))
        .values_list("parent", "round_id")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        for pk in committees_above(parent):
            counts[pk][round_id] += n
    if not counts:
        return {}
    rounds = _rounds_with_rubrics({round_id for found in counts.values() for round_id in found})
    leaves, standard = _rubric_leaves(rounds)
    figures = defaultdict(dict)
    with_parent = under.annotate(parent=parent_of("organization__path"))
    for parent, round_id, code, total, marked in _leaf_sums(with_parent, standard, by_parent=True):
        for pk in committees_above(parent):
            summed, counted = figures[pk].get((round_id, code), (Decimal(0), 0))
            figures[pk][round_id, code] = (summed + (total or Decimal(0)), counted + marked)
    return {pk: _rubric_rollups(rounds, found, figures[pk], leaves) for pk, found in counts.items()}
