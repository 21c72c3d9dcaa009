"""The scoring engine: every computed indicator of every organization of a round at once, then totals, grades,
ranks and roll-ups. `services.round_score` runs it in one transaction; a failure leaves the previous results.

How a round is scored (`score_round`):

1. Each distinct (metric, parameters) of the rubric runs once over all the round's organizations
   (`assessments.metrics`: aggregate queries over the period summaries), so the number of queries is the same for
   ten organizations or a hundred thousand; a round over a third of all organizations or more reads them over every
   organization (cheaper than joining each summary row to the round first). Published assessments are never
   recomputed (nor written).
2. Each leaf gets its points:
   - computed (and survey with a metric): the metric's value mapped by the indicator's rule —
     `proportional`: value ÷ `full_at` (default 1) × maximum, at most the maximum;
     `steps`: `{"steps": [[threshold, points], …]}` (each step may also be `{"from": …, "points": …}`, as rubric
     files write it), the points of the highest threshold the value reaches (0 below all), at most the maximum;
     `per_occurrence`: `{"per": p, "floor": f}`, maximum − p × count, never below the floor (default 0). No value
     (nothing owed, no survey): full points or 0 as the metric says (`if_none`, overridable in the rule's
     parameters). An assessor's adjustment (with its reason) replaces the computed points.
   - manual (and survey without a metric): the adjusted points, else the assessor's, else 0 (a self-assessment
     is shown beside it, never counted).
   - bonus and deduction: counted only once approved (`approved_by`), each at most its maximum (the bonus cap).
   - veto: applies when its metric value reaches `at_least` (default 1) or an assessor marks it (points > 0);
     it adds no points and forces the lowest grade.
3. Areas aggregate their children: `capped_sum` (the scored children summed and capped at the area's maximum),
   `weighted_average` (Σ weight × points ÷ maximum, over Σ weight, times the area's maximum), `formula` (an
   arithmetic expression of the children's codes with + − × ÷, numbers and percentages such as 70%, parsed with
   `ast`, never evaluated as code). Then bonuses are added and deductions taken off; an area never goes below 0 and
   never above its maximum unless the rubric lets bonuses exceed the total. An area whose children are all
   bonuses (or all deductions) is itself a bonus (deduction) of its parent, capped at its own maximum; in a formula
   each child gives its points (a deduction area gives what it takes off, as a positive number). The total is the
   capped sum of the top-level areas at the rubric's total points.
4. Rounding: every number is kept as an exact Decimal while computing and stored to 6 decimal places; ranks
   compare the stored totals (never the 2-decimal display: 89.996 and 90.004 are different, and the first is not
   ≥ 90); points are shown with 2 decimals.
5. Ranks within the peer group (same round, same organization kind, published assessments included with their
   stored totals): competition ranking — equal totals share a rank and the next rank skips (1, 2, 2, 4).
   Vetoed organizations rank after every organization not vetoed, among themselves by points.
6. Grades: the highest band whose `min_points` the total reaches (below every band: the lowest band); vetoed:
   the lowest band whatever the points. Then, in this order:
   a. the roll-up rule (`GradeBand.children_share`): an organization with sub-organizations assessed over the same
      period (any depth under it, in this round or another round over the same period) gets that band or a higher
      one only when at least that share of them are not vetoed and reach the band's `min_points`; otherwise it is
      capped to the band below. Organizations without sub-organizations are not concerned.
   b. quotas (`max_share`), from the highest band down: at most ⌊share × peer group size⌋ organizations keep the
      band, taken in rank order; a group of tied organizations stays only if all of it fits, otherwise the whole
      tied group (and everyone ranked below it) drops to the next band, where that band's quota applies in turn.
      Tied organizations always get the same grade.
   c. `min_share` (相对后进), from the lowest band up: at least ⌈share × peer group size⌉ organizations must be in
      that band or a lower one; the lowest-ranked above it are moved down into it, a whole tied group at a time
      (so the share may be exceeded rather than splitting a tie).
7. 末位 (bottom): the organizations graded in a band that has a `min_share`, and the vetoed ones; where no band has
   a `min_share`, the organizations sharing the last rank of a peer group of two or more.
8. Roll-ups: each organization with sub-organizations assessed over the period gets their count, their average
   total and, for each band with a `children_share`, how many reach it and whether it qualifies.

How it stays fast over 100,000 organizations: the metrics answer as aggregates (`metrics.PerOrganization`), and a
trace's inputs are built only when written; a leaf's outcome is computed once per metric value (every
organization with that value and no assessor's marks shares it), an area's points once per set of its children's
points; roll-ups are running sums over the organizations in path order. What a run computes goes into one score
sheet per assessment (`ScoreSheet`: each leaf's final points, and for a leaf with a metric its value, computed
points and inputs; the rest of its trace is the frozen definitions', rebuilt by `trace`), not a row per leaf: a
province's round writes 50,000 rows, not half a million. On PostgreSQL the sheets go in by COPY (each written from
the shared outcomes and the organization's inputs as JSON text): on a round's first run straight into their table,
later into a temporary one, from which one statement inserts the missing and updates only those that differ; only
the scores an assessor marked are read back. Elsewhere the stored sheets are read and compared here, then written
in bulk. `Score` rows hold only what people entered.
"""

import ast
import bisect
import gc
import re
from collections import defaultdict, namedtuple
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, DivisionByZero, InvalidOperation

from django.db import connection, models
from django.db.models import Q
from django.utils.translation import gettext as _

from assessments import metrics
from assessments.models import (
    Assessment,
    AssessmentState,
    IndicatorKind,
    LeafFigures,
    Score,
    ScoreSheet,
    ScoringRule,
)
from branches import copying
from branches.models import MeetingType, Organization

ZERO = Decimal(0)
ONE = Decimal(1)
STORED = Decimal("0.000001")
SHOWN = Decimal("0.01")
BATCH = 2000

SCORED = "score"
BONUS = IndicatorKind.BONUS.value
DEDUCTION = IndicatorKind.DEDUCTION.value
VETO = IndicatorKind.VETO.value
WITH_METRIC = {IndicatorKind.COMPUTED.value, IndicatorKind.SURVEY.value, VETO}


def stored(number):
    if number is None:
        return None
    return (number if isinstance(number, Decimal) else Decimal(number)).quantize(STORED, rounding=ROUND_HALF_UP)


def shown(number):
    return "" if number is None else str(Decimal(number).quantize(SHOWN, rounding=ROUND_HALF_UP))


def _d(value, default=ZERO):
    if value is None or value == "":
        return default
    return Decimal(str(value))


# ---------------------------------------------------------------------------------------------- definitions


def definitions_of(rubric):
    """The frozen copy of a rubric an assessment round scores against (plain JSON)."""
    indicators = list(rubric.indicators.select_related("parent").order_by("parent_id", "position", "pk"))
    return {
        "rubric": {
            "id": rubric.pk,
            "code": rubric.code,
            "title": rubric.title,
            "year": rubric.year,
            "version": rubric.version,
            "total_points": str(rubric.total_points),
            "bonus_may_exceed": rubric.bonus_may_exceed,
        },
        "indicators": [
            {
                "code": item.code,
                "parent": item.parent.code if item.parent_id else None,
                "position": item.position,
                "title": item.title,
                "kind": item.kind,
                "max_points": str(item.max_points),
                "aggregation": item.aggregation,
                "weight": str(item.weight),
                "formula": item.formula,
                "metric": item.metric,
                "params": item.params or {},
                "rule": item.rule,
                "rule_params": item.rule_params or {},
            }
            for item in indicators
        ],
        "bands": [
            {
                "name": band.name,
                "min_points": str(band.min_points),
                "max_share": None if band.max_share is None else str(band.max_share),
                "min_share": None if band.min_share is None else str(band.min_share),
                "children_share": None if band.children_share is None else str(band.children_share),
            }
            for band in rubric.bands.order_by("-min_points")
        ],
    }


# ----------------------------------------------------------------------------------------------- formulas


class FormulaError(ValueError):
    pass


PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*[%％]")
_OPERATORS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.USub, ast.UAdd)
_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Load, *_OPERATORS)


def parse_formula(text, names):
    """The parsed formula, or FormulaError with a Chinese message: only + − × ÷, parentheses, numbers (70% is
    0.70) and the names given (the area's children's codes)."""
    source = PERCENT.sub(r"(\1/100)", (text or "").replace("×", "*").replace("÷", "/").replace("−", "-"))
    if not source.strip():
        raise FormulaError(_("The formula is empty."))
    if len(source) > 400:
        raise FormulaError(_("The formula is too long."))
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise FormulaError(_("The formula “%(formula)s” cannot be read.") % {"formula": text}) from None
    for node in ast.walk(tree):
        if not isinstance(node, _NODES):
            raise FormulaError(
                _("The formula “%(formula)s” may use only + - * /, parentheses, numbers and the codes of its parts.")
                % {"formula": text}
            )
        if isinstance(node, ast.Constant) and (isinstance(node.value, bool) or not isinstance(node.value, int | float)):
            raise FormulaError(_("The formula “%(formula)s” may hold only numbers.") % {"formula": text})
        if isinstance(node, ast.Name) and node.id not in names:
            raise FormulaError(
                _("The formula names “%(name)s”, which is not one of its parts (%(parts)s).")
                % {"name": node.id, "parts": "、".join(sorted(names)) or "—"}
            )
    return tree


def evaluate_formula(tree, values):
    """The formula's value over `values` {code: Decimal}; a division by zero gives 0."""

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant):
            return Decimal(str(node.value))
        if isinstance(node, ast.Name):
            return values.get(node.id, ZERO)
        if isinstance(node, ast.UnaryOp):
            operand = walk(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        left, right = walk(node.left), walk(node.right)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        return left / right if right else ZERO

    try:
        return walk(tree)
    except (InvalidOperation, DivisionByZero):
        return ZERO


# -------------------------------------------------------------------------------------------------- rules


def rule_points(rule, value, max_points, rule_params=None, if_none="zero"):
    """The points a metric value earns under a rule, between 0 and `max_points` (never rounded)."""
    params = rule_params or {}
    if value is None:
        return max_points if params.get("if_none", if_none) == "full" else ZERO
    value = Decimal(value)
    if rule == ScoringRule.STEPS:
        steps = sorted(((_d(t), _d(p)) for t, p in step_pairs(params.get("steps", []))), reverse=True)
        points = next((p for t, p in steps if value >= t), ZERO)
    elif rule == ScoringRule.PER_OCCURRENCE:
        points = max(max_points - _d(params.get("per"), ONE) * value, _d(params.get("floor")))
    else:  # proportional
        full_at = _d(params.get("full_at"), ONE)
        points = min(ONE, value / full_at) * max_points if full_at > 0 else max_points
    return min(max(points, ZERO), max_points)


def _is_step(step):
    return isinstance(step, dict) and set(step) == {"from", "points"}


def step_pairs(steps):
    """[(threshold, points)] of threshold steps written as pairs or, as rubric files write them, as
    {"from": threshold, "points": points}."""
    return [(step["from"], step["points"]) if _is_step(step) else step for step in steps]


def validate_rule(rule, rule_params, max_points=None):
    """What is wrong with a rule and its parameters, as Chinese messages."""
    params = rule_params or {}
    if not isinstance(params, dict):
        return [_("The rule's parameters must be a set of named values.")]
    errors = []
    if rule not in ScoringRule.values:
        return [_("Unknown scoring rule “%(rule)s”.") % {"rule": rule}]
    if params.get("if_none") not in (None, "full", "zero"):
        errors.append(_("“if_none” must be “full” or “zero”."))
    numbers = []
    if rule == ScoringRule.STEPS:
        steps = params.get("steps")
        if (
            not isinstance(steps, list)
            or not steps
            or not all((isinstance(s, list | tuple) and len(s) == 2) or _is_step(s) for s in steps)
        ):
            return [*errors, _("Threshold steps need a list of [threshold, points] pairs.")]
        steps = step_pairs(steps)
        numbers = [value for step in steps for value in step]
        readable = all(metrics._decimal(n) is not None for n in numbers)
        if max_points is not None and readable and any(_d(points) > _d(max_points) for _t, points in steps):
            errors.append(_("A step gives more points than the indicator's maximum."))
    elif rule == ScoringRule.PER_OCCURRENCE:
        if "per" not in params:
            errors.append(_("A per-occurrence rule needs “per”, the points taken off each time."))
        numbers = [params.get("per", 1), params.get("floor", 0)]
    else:
        numbers = [params.get("full_at", 1)]
    if any(metrics._decimal(n) is None or metrics._decimal(n) < 0 for n in numbers):
        errors.append(_("The rule's numbers must be numbers, 0 or more."))
    return errors


# --------------------------------------------------------------------------------------------------- trees


class Tree:
    """A rubric's frozen definitions, ready to score: nodes by code, children in order, roles, parsed formulas."""

    def __init__(self, definitions):
        rubric = definitions.get("rubric", {})
        self.total_points = _d(rubric.get("total_points"), Decimal(100))
        self.bonus_may_exceed = bool(rubric.get("bonus_may_exceed"))
        items = sorted(definitions.get("indicators", []), key=lambda item: (item.get("position", 0),))
        self.nodes = {item["code"]: item for item in items}
        self.max = {code: _d(item.get("max_points")) for code, item in self.nodes.items()}
        self.children = defaultdict(list)
        for item in items:
            self.children[item.get("parent") or ""].append(item["code"])
        self.bands = [
            {
                "name": band["name"],
                "min_points": _d(band["min_points"]),
                "max_share": _d(band.get("max_share"), None),
                "min_share": _d(band.get("min_share"), None),
                "children_share": _d(band.get("children_share"), None),
            }
            for band in sorted(definitions.get("bands", []), key=lambda band: -_d(band["min_points"]))
        ]
        self.order = []  # children before their parents
        self._post_order("")
        self.roles = {}
        for code in self.order:
            self.roles[code] = self._role(code)
        self.formulas = {
            code: parse_formula(item.get("formula"), set(self.children[code]))
            for code, item in self.nodes.items()
            if item["kind"] == IndicatorKind.GROUP and item.get("aggregation") == "formula"
        }
        self.groups = [code for code in self.order if self.nodes[code]["kind"] == IndicatorKind.GROUP]
        self._memo = defaultdict(dict)

    def _post_order(self, code):
        for child in self.children[code]:
            self._post_order(child)
        if code:
            self.order.append(code)

    def _role(self, code):
        kind = self.nodes[code]["kind"]
        if kind != IndicatorKind.GROUP:
            return kind if kind in (BONUS, DEDUCTION, VETO) else SCORED
        roles = {self.roles[child] for child in self.children[code]} - {VETO}
        return roles.pop() if len(roles) == 1 and roles <= {BONUS, DEDUCTION} else SCORED

    def leaves(self):
        return [code for code in self.order if self.nodes[code]["kind"] != IndicatorKind.GROUP]

    def metric_leaves(self):
        return [
            code for code in self.leaves() if self.nodes[code]["kind"] in WITH_METRIC and self.nodes[code]["metric"]
        ]

    def aggregate(self, leaf_points):
        """{code: points} of every node (leaves as given) and the total. Each area's points are memoised by its
        children's points: over a round, the same few combinations come back again and again."""
        points = dict(leaf_points)
        for code in self.groups:
            children = tuple([points[child] for child in self.children[code]])
            found = self._memo[code].get(children)
            if found is None:
                found = self._memo[code][children] = self._group(code, points)
            points[code] = found
        children = tuple([points[child] for child in self.children[""]])
        total = self._memo[""].get(children)
        if total is None:
            total = self._memo[""][children] = self._combine("", "capped_sum", self.total_points, points)
        return points, total

    def _group(self, code, points):
        node = self.nodes[code]
        maximum = self.max[code]
        if self.roles[code] in (BONUS, DEDUCTION):
            return min(sum((points[child] for child in self.children[code]), ZERO), maximum)
        if node.get("aggregation") == "formula":
            value = evaluate_formula(self.formulas[code], {child: points[child] for child in self.children[code]})
            value = max(value, ZERO)
            return value if self.bonus_may_exceed else min(value, maximum)
        return self._combine(code, node.get("aggregation") or "capped_sum", maximum, points)

    def _combine(self, code, aggregation, maximum, points):
        children = self.children[code]
        scored = [child for child in children if self.roles[child] == SCORED]
        if aggregation == "weighted_average":
            weighted = [
                (_d(self.nodes[c].get("weight"), ONE), points[c], self.max[c]) for c in scored if self.max[c] > 0
            ]
            weights = sum((w for w, _p, _m in weighted), ZERO)
            base = sum((w * p / m for w, p, m in weighted), ZERO) / weights * maximum if weights else ZERO
        else:
            base = sum((min(points[child], self.max[child]) for child in scored), ZERO)
        # What bonuses lifted a part above its maximum (only when the rubric lets bonuses exceed) stays on top.
        base = min(base, maximum) + sum((max(points[c] - self.max[c], ZERO) for c in scored), ZERO)
        bonus = sum((points[c] for c in children if self.roles[c] == BONUS), ZERO)
        deduction = sum((points[c] for c in children if self.roles[c] == DEDUCTION), ZERO)
        value = max(base + bonus - deduction, ZERO)
        return value if self.bonus_may_exceed else min(value, maximum)


def check(definitions):
    """What keeps these definitions from being scored, as Chinese messages (the engine's own floor; rubric
    validation checks more)."""
    errors = []
    try:
        tree = Tree(definitions)
    except FormulaError as error:
        return [str(error)]
    except (KeyError, TypeError, InvalidOperation, ValueError):
        return [_("The rubric's definitions cannot be read.")]
    for code in tree.leaves():
        node = tree.nodes[code]
        if node["kind"] in WITH_METRIC and node.get("metric"):
            errors += [f"{code}: {message}" for message in metrics.validate(node["metric"], node.get("params"))]
            if node["kind"] != VETO:
                errors += [
                    f"{code}: {message}"
                    for message in validate_rule(
                        node.get("rule") or "proportional", node.get("rule_params"), tree.max[code]
                    )
                ]
        elif node["kind"] == IndicatorKind.COMPUTED:
            errors.append(_("%(code)s: a computed indicator needs a metric.") % {"code": code})
    return errors


# ------------------------------------------------------------------------------------------------- preview


@dataclass
class Preview:
    """What one organization would score under some definitions, without a round: every leaf's (value, computed,
    final, trace), every node's points, the total, the veto and the grade its total reaches (before quotas, ranks
    and the roll-up rule, which need a peer group)."""

    leaves: dict
    points: dict
    total: Decimal
    vetoed: bool
    band: str


def preview(definitions, organization_ids, *, period_start, period_end, through):
    """{organization id: Preview}: the engine's leaves and aggregation for these organizations over the period,
    read to `through` — each metric once over the whole set, as in a round, and nothing written. No assessor's
    points, adjustments or approvals exist outside a round, so manual indicators, bonuses and deductions count 0."""
    tree = Tree(definitions)
    period_end = min(period_end, through)
    ids = list(organization_ids)
    orgs = metrics.Orgs(ids, ids)
    results = {}
    for code in tree.metric_leaves():
        node = tree.nodes[code]
        key = _metric_key(node)
        if key not in results:
            results[key] = metrics.compute(node["metric"], orgs, period_start, period_end, node.get("params"))
    found, with_metric = {}, set(tree.metric_leaves())
    for org_id in ids:
        leaves, leaf_points, vetoed = {}, {}, False
        for code in tree.leaves():
            result = results[_metric_key(tree.nodes[code])].get(org_id) if code in with_metric else None
            value, computed, final, inputs, vetoes = _leaf(tree, code, None, result)
            why = trace(tree.nodes[code], tree.max[code], value, computed, inputs, period_end) if result else {}
            leaves[code] = (value, computed, final, why)
            leaf_points[code] = final
            vetoed = vetoed or vetoes
        points, total = tree.aggregate(leaf_points)
        band = ""
        if tree.bands:
            reached = next((b for b in tree.bands if total >= b["min_points"]), tree.bands[-1])
            band = (tree.bands[-1] if vetoed else reached)["name"]
        found[org_id] = Preview(leaves, points, stored(total), vetoed, band)
    return found


# ------------------------------------------------------------------------------------------ grades and ranks


@dataclass
class Entry:
    """One assessment in a peer group: what grading reads (`total`, `vetoed`, `cap`: the best band index the
    roll-up rule allows) and what it gives (`rank`, `band`, `bottom`, `why`)."""

    key: object
    total: Decimal
    vetoed: bool = False
    cap: int = 0
    rank: int = 0
    band: int = 0
    bottom: bool = False
    why: list = field(default_factory=list)


def _tie_groups(entries):
    """The entries in rank order, grouped by equal (vetoed, total)."""
    groups = []
    for entry in sorted(entries, key=lambda e: (e.vetoed, -e.total)):
        if groups and (groups[-1][0].vetoed, groups[-1][0].total) == (entry.vetoed, entry.total):
            groups[-1].append(entry)
        else:
            groups.append([entry])
    return groups


def grade_peers(entries, bands):
    """Rank and grade one peer group in place (the rules in the module's docstring)."""
    if not entries:
        return
    groups = _tie_groups(entries)
    position = 1
    for group in groups:
        for entry in group:
            entry.rank = position
        position += len(group)
    if not bands:
        for entry in entries:
            entry.band = -1
        return
    lowest, size = len(bands) - 1, len(entries)
    for entry in entries:
        if entry.vetoed:
            entry.band = lowest
            entry.why.append("veto")
            continue
        entry.band = next((i for i, band in enumerate(bands) if entry.total >= band["min_points"]), lowest)
        if entry.cap > entry.band:
            entry.band = min(entry.cap, lowest)
            entry.why.append("children")
    for index, band in enumerate(bands[:-1]):
        if band["max_share"] is None:
            continue
        seats = int((band["max_share"] * size).to_integral_value(rounding=ROUND_FLOOR))
        taken, full = 0, False
        for group in groups:
            inside = [entry for entry in group if entry.band == index]
            if not inside:
                continue
            if full or taken + len(inside) > seats:
                full = True
                for entry in inside:
                    entry.band = index + 1
                    entry.why.append(f"quota:{band['name']}")
            else:
                taken += len(inside)
    for index in range(lowest, -1, -1):
        band = bands[index]
        if band["min_share"] is None:
            continue
        need = int((band["min_share"] * size).to_integral_value(rounding=ROUND_CEILING))
        have = sum(1 for entry in entries if entry.band >= index)
        for group in reversed(groups):
            if have >= need:
                break
            above = [entry for entry in group if entry.band < index]
            for entry in above:
                entry.band = index
                entry.why.append(f"min_share:{band['name']}")
            have += len(above)
    marked = {i for i, band in enumerate(bands) if band["min_share"] is not None}
    last = max(entry.rank for entry in entries)
    for entry in entries:
        if marked:
            entry.bottom = entry.band in marked or entry.vetoed
        else:
            entry.bottom = entry.vetoed or (size > 1 and entry.rank == last)


# ------------------------------------------------------------------------------------------------ roll-ups


def rollups(entries, pool, bands):
    """{key: roll-up} for the entries (key, path) with sub-organizations in `pool` {path: (total, vetoed)}; sets
    each entry's `cap` by the bands' `children_share` (entries: {key: (path, Entry)}).

    The pool is walked once in path order keeping running sums (totals, vetoed, and for each band with a
    `children_share` how many reach it); a subtree is a range of that order, so its figures are two lookups
    whatever its size. The sums are exact (Decimals of six places)."""
    paths = sorted(pool)
    found = {}
    ruled = [(i, band) for i, band in enumerate(bands) if band["children_share"] is not None]
    totals, vetoes = [ZERO], [0]
    meeting_sums = [[0] for _ruled in ruled]
    for path in paths:
        total, vetoed = pool[path]
        totals.append(totals[-1] + total)
        vetoes.append(vetoes[-1] + (1 if vetoed else 0))
        for sums, (_index, band) in zip(meeting_sums, ruled, strict=True):
            sums.append(sums[-1] + (1 if not vetoed and total >= band["min_points"] else 0))
    for key, (path, entry) in entries.items():
        first = bisect.bisect_right(paths, path)
        last = bisect.bisect_left(paths, path + "\uffff")
        count = last - first
        if count <= 0:
            continue
        figures = {
            "sub_organizations": count,
            "average_total": str(stored((totals[last] - totals[first]) / count)),
            "vetoed": vetoes[last] - vetoes[first],
            "bands": [],
        }
        for sums, (index, band) in zip(meeting_sums, ruled, strict=True):
            meeting = sums[last] - sums[first]
            share = Decimal(meeting) / Decimal(count)
            qualifies = share >= band["children_share"]
            if not qualifies:
                entry.cap = max(entry.cap, index + 1)
            figures["bands"].append(
                {
                    "band": band["name"],
                    "min_points": str(band["min_points"]),
                    "required_share": str(band["children_share"]),
                    "meeting": meeting,
                    "share": str(stored(share)),
                    "qualifies": qualifies,
                }
            )
        found[key] = figures
    return found


# -------------------------------------------------------------------------------------------------- engine


# What a stored score brings to the scoring besides the metrics: an assessor's points, an adjustment, an approval.
Marks = namedtuple("Marks", ["assessor_score", "adjusted", "approved_by_id"])

# On PostgreSQL the score sheets are written by COPY and compared in SQL (`_write_by_copy`); elsewhere, or with this
# off, they are read back and compared here, then written by bulk_create and `write_rows`.
COPY_SCORES = True


# A round over at least 1/EVERYONE_FROM of all organizations reads its metrics over every organization
# (`metrics.Orgs.everyone`): aggregating the summaries whole costs less than joining each row to the round first.
EVERYONE_FROM = 3


@dataclass
class Run:
    assessments: int = 0
    skipped_published: int = 0
    sheets_created: int = 0
    sheets_updated: int = 0
    assessments_changed: int = 0


def _metric_key(node):
    return (node["metric"], tuple(sorted((k, repr(v)) for k, v in (node.get("params") or {}).items())))


def _leaf(tree, code, row, metric_result):
    """(value, computed, final, inputs, vetoes) of one leaf of one assessment; `row` its stored Score (or its
    Marks) or None; `metric_result` (value, inputs) or None without a metric."""
    node, maximum = tree.nodes[code], tree.max[code]
    kind = node["kind"]
    adjusted = row.adjusted if row is not None else None
    assessor = row.assessor_score if row is not None else None
    approved = row is not None and row.approved_by_id is not None
    value = computed = inputs = None
    if metric_result is not None:
        value, inputs = metric_result
        if kind == VETO:
            computed = ONE if value is not None and Decimal(value) >= _veto_threshold(node) else ZERO
        else:
            rule = node.get("rule") or ScoringRule.PROPORTIONAL
            computed = rule_points(rule, value, maximum, node.get("rule_params"), metrics.get(node["metric"]).if_none)
    if kind == VETO:
        mark = adjusted if adjusted is not None else (assessor if assessor is not None else computed)
        return value, computed, ZERO, inputs, bool(mark and mark > 0)
    if kind in (BONUS, DEDUCTION):
        amount = adjusted if adjusted is not None else (assessor if assessor is not None else computed)
        final = min(max(amount or ZERO, ZERO), maximum) if approved else ZERO
        return value, computed, final, inputs, False
    if metric_result is not None:
        final = adjusted if adjusted is not None else computed
    else:
        final = adjusted if adjusted is not None else (assessor if assessor is not None else ZERO)
    return value, computed, min(max(final, ZERO), maximum), inputs, False


def _veto_threshold(node):
    return _d((node.get("rule_params") or {}).get("at_least"), ONE)


def trace(node, maximum, value, computed, inputs, through):
    """The trace of a leaf with a metric, what its "why" is told from: the metric, the day it was read through, the
    rule with its parameters and maximum (a veto: its threshold and whether it applies), the value, the points and
    the metric's inputs. A score sheet keeps the value, the points, the inputs and the day; the rest comes from the
    definitions the assessment froze, so a trace read back is the one computed."""
    shown_value = None if value is None else str(stored(value))
    found = {"metric": node["metric"], "through": through.isoformat() if hasattr(through, "isoformat") else through}
    if node["kind"] == VETO:
        applies = bool(computed)
        found.update({"value": shown_value, "rule": "veto", "at_least": str(_veto_threshold(node)), "applies": applies})
    else:
        found.update(
            {
                "rule": node.get("rule") or ScoringRule.PROPORTIONAL,
                "rule_params": node.get("rule_params") or {},
                "max": str(maximum),
                "value": shown_value,
                "points": str(stored(computed)),
            }
        )
    found["inputs"] = inputs
    return found


def figures_of(sheet, tree):
    """{code: LeafFigures} of every leaf of the tree as the score sheet keeps them (empty without a sheet), a leaf
    with a metric with its trace."""
    found = {}
    for code in tree.leaves():
        leaf = sheet.leaves.get(code) if sheet is not None else None
        final = _number(sheet.finals.get(code)) if sheet is not None else None
        if leaf is None:
            found[code] = LeafFigures(final=final)
            continue
        value, computed = _number(leaf.get("value")), _number(leaf.get("computed"))
        why = trace(tree.nodes[code], tree.max[code], value, computed, leaf.get("inputs") or {}, sheet.through)
        found[code] = LeafFigures(value, computed, final, why)
    return found


def _number(text):
    return None if text is None else Decimal(text)


_json = metrics.ENCODE


class Outcome:
    """One leaf's result: what is stored (`value`, `computed`, `final` to six places), the exact `points` the
    areas add up, whether it vetoes, and the metric's `inputs` — or, for an outcome `shared` by every organization
    with the same metric value (no marks), None: each organization's own are written.

    `key` tells outcomes apart for the memo of the areas' points: the same number for the same (points, veto),
    so organizations whose leaves earn the same points share their areas' figures whatever their values; `fresh`:
    a leaf with a metric, whose value, computed points and inputs the sheet keeps. Its parts of the sheet's COPY
    text (JSON, escaped for COPY): `entry` in its finals; in its leaves (fresh only) `line` whole, or (shared)
    `before` + the organization's inputs as JSON text + "}"."""

    __slots__ = (
        "value", "computed", "final", "points", "vetoes", "inputs", "shared", "key", "fresh", "entry", "before", "line"
    )  # fmt: skip

    def __init__(self, code, fresh, value, computed, points, inputs, vetoes, keys, shared=False):
        self.value, self.computed, self.final = stored(value), stored(computed), stored(points)
        self.points, self.vetoes, self.inputs, self.fresh = points, vetoes, inputs, fresh
        self.shared = shared
        self.key = keys.setdefault((points, vetoes), len(keys))
        self.entry = f'"{code}":"{self.final}"'  # a code is a slug, a number has nothing to escape
        self.before = self.line = None
        if fresh:
            self.before = f'"{code}":{{"value":{_quoted(self.value)},"computed":{_quoted(self.computed)},"inputs":'
            if not shared:
                self.line = self.before + copying.escaped(_json(inputs)) + "}"

    def sheet_entry(self, inputs):
        """The leaf as the sheet keeps it (the portable path), with these inputs when it is shared."""
        return {
            "value": None if self.value is None else str(self.value),
            "computed": None if self.computed is None else str(self.computed),
            "inputs": inputs if self.shared else self.inputs,
        }


def _quoted(number):
    return "null" if number is None else f'"{number}"'


class Leaves:
    """A tree's leaves ready to score: for each, (code, kind, the metric's answer or None, its values, the value
    of an organization without a row, the memo, the answer's inputs as JSON text). A leaf without marks (no
    assessor's points, adjustment or approval) gives the same outcome for the same metric value, whichever
    organization has it: memoised."""

    def __init__(self, tree, results, keys):
        self.tree, self.keys = tree, keys
        with_metric = set(tree.metric_leaves())
        self.steps = []
        for code in tree.leaves():
            result = results[_metric_key(tree.nodes[code])] if code in with_metric else None
            values, default = (result.values, result.default) if result is not None else ({}, None)
            text_of = result.text_of if result is not None else None
            self.steps.append((code, tree.nodes[code]["kind"], result, values, default, {}, text_of))
        self.codes = [step[0] for step in self.steps]

    def shared(self, step, value):
        code, _kind, result, _values, _default, memo, _text = step
        found = (value, None) if result is not None else None
        _value, computed, points, _inputs, vetoes = _leaf(self.tree, code, None, found)
        fresh = result is not None
        outcome = memo[value] = Outcome(code, fresh, value, computed, points, None, vetoes, self.keys, True)
        return outcome

    def marked(self, step, org_id, marks):
        code, _kind, result, *_rest = step
        found = (result.value(org_id), result.inputs(org_id)) if result is not None else None
        value, computed, points, inputs, vetoes = _leaf(self.tree, code, marks, found)
        return Outcome(code, result is not None, value, computed, points, inputs, vetoes, self.keys)


def score_round(round_, *, through, now):
    """Score every assessment of the round not yet published (call inside a transaction). `through`: the last day
    the period is read to (the round's last day once it is over, else the day of the run)."""
    # A run allocates millions of small objects and frees them as it goes, with no reference cycles of its own:
    # the cyclic collector's full passes over the whole heap cost about a fifth of its Python time for nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _score_round(round_, through=through, now=now)
    finally:
        if collecting:
            gc.enable()


def _score_round(round_, *, through, now):
    run = Run()
    if connection.vendor == "postgresql":
        # The metrics sort and hash a row per organization and indicator, and a later run joins the wanted scores
        # to the stored ones: with the default 4 MB they spill to disk. Until the end of this transaction only.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '64MB'")
    rows = list(
        Assessment.objects.filter(round=round_)
        .values_list(
            "pk",
            "organization_id",
            "organization__path",
            "organization__kind",
            "state",
            "total",
            "vetoed",
            "definitions",
            *FIGURES[1:4],
            *FIGURES[5:],
        )
        .order_by("pk")
    )
    trees = {}

    def tree_of(definitions):
        key = id(definitions) if definitions is None else repr(definitions)
        if key not in trees:
            trees[key] = Tree(definitions if definitions is not None else round_.definitions)
        return trees[key]

    base = Tree(round_.definitions)
    live = [row for row in rows if row[4] != AssessmentState.PUBLISHED]
    run.skipped_published = len(rows) - len(live)
    own_tree = {row[0]: (tree_of(row[7]) if row[7] is not None else base) for row in live}
    period_end = min(round_.period_end, through)
    orgs = metrics.Orgs(
        [row[1] for row in live],
        Assessment.objects.filter(round=round_).exclude(state=AssessmentState.PUBLISHED).values("organization_id"),
        everyone=bool(live) and len(live) * EVERYONE_FROM >= Organization.objects.count(),
    )
    wanted = {}  # {metric: {key: params}}: each distinct (metric, parameters) once, a metric's sets together
    for tree in {id(t): t for t in own_tree.values()}.values():
        for code in tree.metric_leaves():
            node = tree.nodes[code]
            wanted.setdefault(node["metric"], {}).setdefault(_metric_key(node), node.get("params"))
    results = {}
    for name, params in wanted.items():
        answers = metrics.compute_many(name, orgs, round_.period_start, period_end, list(params.values()), round_)
        results.update(zip(params, answers, strict=True))
    by_copy = COPY_SCORES and connection.vendor == "postgresql"
    marks, stored_sheets = defaultdict(dict), {}
    if by_copy:  # the stored sheets are compared in SQL
        marked = _probe(round_, _MARKED)
    else:
        of_round = {"assessment__round": round_}
        not_published = Q(assessment__state=AssessmentState.PUBLISHED)
        marked = (
            Score.objects.filter(**of_round)
            .exclude(not_published)
            .filter(Q(assessor_score__isnull=False) | Q(adjusted__isnull=False) | Q(approved_by__isnull=False))
            .values_list("assessment_id", "code", *Marks._fields)
            .order_by()
        )
        sheets = ScoreSheet.objects.filter(**of_round).exclude(not_published).order_by()
        for pk, *figures in sheets.values_list("pk", "through", "finals", "leaves").iterator(chunk_size=5000):
            stored_sheets[pk] = tuple(figures)
    for assessment_id, code, *figures in marked:
        marks[assessment_id][code] = Marks(*figures)

    entries, parts = {}, {}
    leaves_of, aggregated, keys, as_stored_text = {}, {}, {}, {}
    # On PostgreSQL a round's first run (no sheet stored) copies the sheets straight into their table; later runs
    # copy them beside it to compare.
    first = by_copy and not _probe(round_, _ANY)

    def scored():
        """(assessment, organization, Leaves, outcomes) of every live assessment, in order; sets `entries` and
        `parts` as it goes."""
        for pk, org_id, path, kind, *_rest in live:
            tree = own_tree[pk]
            leaves = leaves_of.get(id(tree))
            if leaves is None:
                leaves = leaves_of[id(tree)] = Leaves(tree, results, keys)
            marked = marks.get(pk)
            outcomes = []
            for step in leaves.steps:
                if marked is not None and step[0] in marked:
                    outcome = leaves.marked(step, org_id, marked[step[0]])
                else:
                    value = step[3].get(org_id, step[4])
                    outcome = step[5].get(value)
                    if outcome is None:
                        outcome = leaves.shared(step, value)
                outcomes.append(outcome)
            key = (id(tree), *[outcome.key for outcome in outcomes])
            figures = aggregated.get(key)
            if figures is None:
                every, total = tree.aggregate(dict(zip(leaves.codes, [o.points for o in outcomes], strict=True)))
                groups = {}
                for code in tree.groups:
                    shown_points = as_stored_text.get(every[code])
                    if shown_points is None:
                        shown_points = as_stored_text[every[code]] = str(stored(every[code]))
                    groups[code] = shown_points
                figures = aggregated[key] = (groups, stored(total), any(o.vetoes for o in outcomes))
            parts[pk] = figures[0]
            entries[pk] = (path, kind, Entry(pk, figures[1], figures[2]))
            yield pk, org_id, leaves, outcomes

    if by_copy:
        run.sheets_created, run.sheets_updated = _write_by_copy(_copy_lines(scored(), period_end), direct=first)
    else:
        run.sheets_created, run.sheets_updated = _write_by_orm(scored(), stored_sheets, period_end)

    # Peers include published assessments with their stored figures (read, never written).
    for pk, _org, path, kind, state, total, vetoed, *_rest in rows:
        if state == AssessmentState.PUBLISHED and total is not None:
            entries[pk] = (path, kind, Entry(pk, stored(total), vetoed))
    bands = base.bands
    rolled = {}
    if entries:
        pool = _pool(round_, entries)
        rolled = rollups({pk: (path, entry) for pk, (path, _k, entry) in entries.items()}, pool, bands)
    peers = defaultdict(list)
    for _path, kind, entry in entries.values():
        peers[kind].append(entry)
    for group in peers.values():
        grade_peers(group, bands)
    sizes = {kind: len(group) for kind, group in peers.items()}

    updated = []
    # Equal figures as one object each (no sub-organizations, the same reasons): written as JSON once (`write_rows`).
    no_rollup, reasons = {}, {}
    for row in live:
        pk = row[0]
        _path, kind, entry = entries[pk]
        band = bands[entry.band]["name"] if bands and entry.band >= 0 else ""
        why_given = tuple(entry.why)
        grade_trace = reasons.get(why_given)
        if grade_trace is None:
            grade_trace = reasons[why_given] = {"reasons": entry.why}
        wanted = (
            entry.total,
            band,
            entry.rank,
            sizes[kind],
            entry.vetoed,
            entry.bottom,
            parts[pk],
            rolled.get(pk, no_rollup),
            grade_trace,
        )
        have = (stored(row[5]), row[8], row[9], row[10], row[6], *row[11:15])
        if wanted != have:
            updated.append((pk, *wanted, now))
    write_rows(Assessment, updated, [*FIGURES, "computed_at"])
    run.assessments = len(live)
    run.assessments_changed = len(updated)
    return run


def _write_by_orm(scored, stored_sheets, through):
    """Compare each assessment's sheet with the stored one here; create the missing ones, update the ones that
    differ. (created, updated)."""
    new_sheets, changed_sheets = [], []
    for pk, org_id, leaves, outcomes in scored:
        finals, computed = {}, {}
        for (code, _kind, result, *_memo), outcome in zip(leaves.steps, outcomes, strict=True):
            finals[code] = str(outcome.final)
            if outcome.fresh:
                computed[code] = outcome.sheet_entry(result.inputs(org_id) if outcome.shared else None)
        have = stored_sheets.get(pk)
        if have is None:
            new_sheets.append(ScoreSheet(assessment_id=pk, through=through, finals=finals, leaves=computed))
        elif have != (through, finals, computed):
            changed_sheets.append((pk, through, finals, computed))
    ScoreSheet.objects.bulk_create(new_sheets, batch_size=BATCH)
    write_rows(ScoreSheet, changed_sheets, ("through", "finals", "leaves"))
    return len(new_sheets), len(changed_sheets)


def _copy_lines(scored, through):
    """The COPY text of the sheets, one line per assessment: its id, the day read through, its finals and its
    leaves (JSON text, in the order of the tree's leaves). Each organization's inputs are written once per metric,
    as the metric's JSON text."""
    escaped = copying.escaped
    through = through.isoformat()
    for pk, org_id, leaves, outcomes in scored:
        finals = ",".join([outcome.entry for outcome in outcomes])
        computed = ",".join(
            [
                outcome.line if outcome.line is not None else outcome.before + escaped(step[6](org_id)) + "}"
                for step, outcome in zip(leaves.steps, outcomes, strict=True)
                if outcome.fresh
            ]
        )
        yield f"{pk}\t{through}\t{{{finals}}}\t{{{computed}}}\n"


class _Counted:
    """The COPY chunks passed on, counting their lines."""

    def __init__(self, chunks):
        self.chunks, self.count = chunks, 0

    def __iter__(self):
        for chunk in self.chunks:
            self.count += chunk.count("\n")
            yield chunk


# What a run reads of the stored scores on PostgreSQL, probed assessment by assessment through an index (the
# partial index of the marked scores, the sheet's key): a plan that does not hang on the table's statistics,
# which a round that has just written its sheets does not have yet.
_MARKED = (
    "SELECT s.assessment_id, s.code, s.assessor_score, s.adjusted, s.approved_by_id FROM {score} s "
    "WHERE s.assessment_id = a.id AND (s.assessor_score IS NOT NULL OR s.adjusted IS NOT NULL "
    "OR s.approved_by_id IS NOT NULL) OFFSET 0"
)
_ANY = "SELECT 1 FROM {sheet} s WHERE s.assessment_id = a.id"


def _probe(round_, probe):
    """The rows `probe` finds for the round's assessments not published (`_MARKED`: the marked scores; `_ANY`: one
    row if any sheet is stored)."""
    sql = (
        f"SELECT x.* FROM {Assessment._meta.db_table} a CROSS JOIN LATERAL ("  # noqa: S608 (identifiers only)
        + probe.format(score=Score._meta.db_table, sheet=ScoreSheet._meta.db_table)
        + ") x WHERE a.round_id = %s AND a.state <> %s"
        + (" LIMIT 1" if probe is _ANY else "")
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [round_.pk, AssessmentState.PUBLISHED.value])
        return cursor.fetchall()


# The columns of a sheet, key first.
_SHEET_COLUMNS = [ScoreSheet._meta.get_field(name).column for name in ("assessment", "through", "finals", "leaves")]


def _write_by_copy(lines, direct=False):
    """The wanted sheets go into a temporary table by COPY, then into theirs in one statement that inserts the
    missing ones and updates those that differ (the leaves, kept as written, compared as text). On the round's
    first run (no sheet stored) they are copied `direct`ly into their table. Identifiers are the model's own;
    values travel by COPY. (created, updated)."""
    table = ScoreSheet._meta.db_table
    key, through, finals, leaves = _SHEET_COLUMNS
    every = ", ".join(_SHEET_COLUMNS)
    with connection.cursor() as cursor:
        if direct:
            counted = _Counted(lines)
            copying.copy_into(cursor, table, _SHEET_COLUMNS, counted)
            return counted.count, 0
        cursor.execute("DROP TABLE IF EXISTS sheets_wanted")
        cursor.execute(f"CREATE TEMPORARY TABLE sheets_wanted AS SELECT {every} FROM {table} LIMIT 0")  # noqa: S608
        copying.copy_into(cursor, "sheets_wanted", _SHEET_COLUMNS, lines)
        cursor.execute(
            f"WITH written AS (INSERT INTO {table} AS s ({every}) SELECT {every} FROM sheets_wanted "  # noqa: S608
            f"ON CONFLICT ({key}) DO UPDATE SET "
            + ", ".join(f"{column} = EXCLUDED.{column}" for column in (through, finals, leaves))
            + f" WHERE s.{through} IS DISTINCT FROM EXCLUDED.{through} OR s.{finals} <> EXCLUDED.{finals} "  # noqa: S608
            f"OR s.{leaves}::text <> EXCLUDED.{leaves}::text "
            "RETURNING xmax = 0 AS created) "
            "SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM written"
        )
        created, updated = cursor.fetchone()
        cursor.execute("DROP TABLE sheets_wanted")
    return created, updated


FIGURES = ("total", "grade", "rank", "peer_size", "vetoed", "bottom", "parts", "rollup", "grade_trace")


def write_rows(model, rows, fields):
    """Write `fields` of these rows, each (primary key, *values in the order of `fields`). On PostgreSQL the rows
    go by COPY into a temporary table of the same columns, then one UPDATE … FROM it (Django's bulk_update builds a
    CASE per field and row, which costs more than the scoring itself; values as array parameters cost the driver
    and the server the parsing of array literals); elsewhere Django's bulk_update. Column names come from the
    model; values travel by COPY."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        objects = [model(pk=pk, **dict(zip(fields, values, strict=True))) for pk, *values in rows]
        model.objects.bulk_update(objects, fields, batch_size=BATCH)
        return
    table, key = model._meta.db_table, model._meta.pk.column
    columns = [model._meta.get_field(name).column for name in fields]
    as_json = [isinstance(model._meta.get_field(name), models.JSONField) for name in fields]
    encoded = {}  # COPY text by object: rows often share one dict (an area's points, "no roll-up")

    def text(value, json_column):
        if value is None or not json_column:
            return copying.text(value)
        found = encoded.get(id(value))
        if found is None:
            found = encoded[id(value)] = copying.escaped(_json(value))
        return found

    def lines():
        for pk, *values in rows:
            yield f"{pk}\t" + "\t".join([text(value, json) for value, json in zip(values, as_json, strict=True)]) + "\n"

    every = ", ".join([key, *columns])
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS rows_written")
        cursor.execute(f"CREATE TEMPORARY TABLE rows_written AS SELECT {every} FROM {table} LIMIT 0")  # noqa: S608
        copying.copy_into(cursor, "rows_written", [key, *columns], lines())
        cursor.execute(
            f"UPDATE {table} AS t SET "  # noqa: S608 (identifiers only)
            + ", ".join(f"{column} = v.{column}" for column in columns)
            + f" FROM rows_written v WHERE t.{key} = v.{key}"
        )
        cursor.execute("DROP TABLE rows_written")


def _pool(round_, entries):
    """{path: (total, vetoed)} of every organization under the round's root assessed over the same period: this
    round's figures, else the latest other round's."""
    pool = {}
    others = (
        Assessment.objects.filter(
            round__period_start=round_.period_start,
            round__period_end=round_.period_end,
            organization__path__startswith=round_.root.path,
            total__isnull=False,
        )
        .exclude(round=round_)
        .values_list("organization__path", "total", "vetoed")
        .order_by("round_id")
    )
    for path, total, vetoed in others:
        pool[path] = (stored(total), vetoed)
    for path, _kind, entry in entries.values():
        pool[path] = (entry.total, entry.vetoed)
    return pool


# ------------------------------------------------------------------------------------------------------ why


def why(trace):
    """The "why" of a computed score as one Chinese sentence, from its trace."""
    if not trace:
        return ""
    inputs, name = trace.get("inputs", {}), trace.get("metric")
    points = _("%(points)s of %(max)s points") % {"points": shown(trace.get("points")), "max": shown(trace.get("max"))}
    if trace.get("rule") == "veto":
        return _("Veto applies") if trace.get("applies") else _("Veto does not apply")
    if name == "meetings_met":
        label = MeetingType(inputs["meeting_type"]).label if inputs.get("meeting_type") in MeetingType.values else ""
        if not inputs.get("owed"):
            return _("%(type)s: nothing owed in the period → %(points)s") % {"type": label, "points": points}
        unit = {"month": _("months"), "quarter": _("quarters"), "year": _("years")}.get(inputs.get("unit"), "")
        missing = "、".join(item["span"] for item in inputs.get("missing", [])) or _("none")
        return _("%(type)s: %(met)d of %(owed)d %(unit)s met, missing %(missing)s → %(points)s") % {
            "type": label,
            "met": inputs["met"],
            "owed": inputs["owed"],
            "unit": unit,
            "missing": missing,
            "points": points,
        }
    value = trace.get("value")
    title = metrics.get(name).title if metrics.get(name) else name
    shown_value = _("no data") if value is None else shown(Decimal(value) * 100) + "%"
    if metrics.get(name) and metrics.get(name).unit == "count":
        shown_value = _("no data") if value is None else str(int(Decimal(value)))
    said = _("%(metric)s: %(value)s → %(points)s") % {"metric": title, "value": shown_value, "points": points}
    if inputs.get("note"):  # where the input came from (a rating by ticket: its tickets and answers)
        said += f"（{inputs['note']}）"
    return said
