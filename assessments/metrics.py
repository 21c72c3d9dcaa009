"""Metrics: named, documented, set-based measures of organizations over a period, read from the period summaries.

A metric is one function registered with `@metric(...)`:

    metric(organizations, period_start, period_end, *, round=None, **params) -> PerOrganization

`organizations` is a queryset of organizations, an iterable of ids or an `Orgs`; the function answers for every
one of them in one or two aggregate queries whatever their number (over the summaries, never one query per
organization, and the aggregates read as plain tuples, never as model instances). The answer reads as
{organization id: (value, trace)}: `value` is a Decimal, or None when there is nothing to measure (nothing owed,
no meeting, no survey); the metric's `if_none` says what a scoring rule gives then ("full" points or "zero",
overridable by the rule's parameter `if_none`). `trace` is a small JSON-able dict of the inputs, shown as the
score's "why"; it is built only when asked for (`PerOrganization.inputs`), so a round of 100,000 organizations
does not build 100,000 dicts per metric before scoring them.

The period is read as the scoring engine passes it: from the round's first day to the day scored through (the
round's last day once it is over, else the day of the run). A month or a rule span counts once it is over (its last
day on or before `period_end`); findings and cadres are taken as they stood on `period_end`.

Adding a metric is one function with its decorator; `validate(name, params)` checks a rubric's parameters
(Chinese messages, used by rubric validation) and `compute(...)` calls a metric with its defaults applied.
"""

import json
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from django.db import connection
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from assessments.models import DutyMonthSummary, Finding, SurveyResult
from branches import periods
from branches.models import (
    Cadre,
    ComplianceResult,
    Employment,
    MeetingType,
    MonthFact,
    MonthSummary,
    Organization,
    Period,
    TermState,
    TrainingRecord,
)

ONE = Decimal(1)


@dataclass(frozen=True)
class Param:
    """A metric parameter: `kind` is "choice" (one of `choices`), "share" (0 to 1), "number" (≥ 0) or "integer"."""

    kind: str
    required: bool = False
    choices: tuple = ()
    default: object = None


@dataclass(frozen=True)
class Metric:
    name: str
    function: object
    title: object
    doc: str
    params: dict = field(default_factory=dict)
    if_none: str = "zero"
    unit: str = "share"  # "share" (0 to 1) or "count"
    many: object = None  # answers for several parameter sets at once (`compute_many`), where the metric can


REGISTRY = {}


def metric(name, *, title, params=None, if_none="zero", unit="share", many=None):
    """Register a metric function under `name` (and `many`, its answer for several parameter sets at once)."""

    def register(function):
        doc = (function.__doc__ or "").strip()
        REGISTRY[name] = Metric(name, function, title, doc, params or {}, if_none, unit, many)
        return function

    return register


def get(name):
    return REGISTRY.get(name)


def validate(name, params) -> list:
    """What is wrong with naming metric `name` with `params`, as Chinese messages (empty when nothing is)."""
    found = REGISTRY.get(name)
    if found is None:
        return [_("Unknown metric “%(name)s”.") % {"name": name}]
    if params is None:
        params = {}
    if not isinstance(params, dict):
        return [_("The parameters of metric “%(name)s” must be a set of named values.") % {"name": name}]
    errors = []
    for key in params:
        if key not in found.params:
            errors.append(_("Metric “%(name)s” has no parameter “%(param)s”.") % {"name": name, "param": key})
    for key, spec in found.params.items():
        if key not in params or params[key] in (None, ""):
            if spec.required:
                errors.append(_("Metric “%(name)s” needs the parameter “%(param)s”.") % {"name": name, "param": key})
            continue
        message = _check(spec, params[key])
        if message:
            errors.append(
                _("Parameter “%(param)s” of metric “%(name)s”: %(problem)s")
                % {"param": key, "name": name, "problem": message}
            )
    return errors


def _check(spec, value):
    if spec.kind == "choice":
        return (
            None if value in spec.choices else _("must be one of %(choices)s.") % {"choices": "、".join(spec.choices)}
        )
    if spec.kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        return None if ok else _("must be a whole number, 0 or more.")
    number = _decimal(value)
    if number is None or number < 0:
        return _("must be a number, 0 or more.")
    if spec.kind == "share" and number > 1:
        return _("must be a share between 0 and 1.")
    return None


def _decimal(value):
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None
    return number if number.is_finite() else None


def with_defaults(name, params):
    found = REGISTRY[name]
    values = {key: spec.default for key, spec in found.params.items() if spec.default is not None}
    values.update({key: value for key, value in (params or {}).items() if value not in (None, "")})
    return values


def compute(name, organizations, period_start, period_end, params=None, round=None):
    """Run metric `name` (its parameters validated by the caller) over the organizations."""
    return REGISTRY[name].function(
        scope(organizations), period_start, period_end, round=round, **with_defaults(name, params)
    )


def compute_many(name, organizations, period_start, period_end, params_list, round=None):
    """[answer of metric `name` for each of the parameter sets], in as few queries as the metric can (meetings met
    of several meeting types: one aggregate)."""
    found = REGISTRY[name]
    if found.many is None or len(params_list) < 2:
        return [compute(name, organizations, period_start, period_end, params, round) for params in params_list]
    complete = [with_defaults(name, params) for params in params_list]
    return found.many(scope(organizations), period_start, period_end, complete, round=round)


# ------------------------------------------------------------------------------------------------ helpers


@dataclass
class Orgs:
    """The organizations a metric answers for: their ids, and what an `organization_id__in` filter takes (a
    subquery for a large set, so no query carries 100,000 ids)."""

    ids: list
    filter: object
    cache: dict = field(default_factory=dict, compare=False, repr=False)  # aggregates metrics share within a run
    # The answer may hold other organizations too (unread): set when `ids` are a large share of all organizations,
    # where aggregating every row costs less than joining each row to the set first (the tables are read whole
    # either way); a few hundred under a subtree are found through their own rows instead.
    everyone: bool = False

    def q(self, name="organization_id"):
        """The filter on the organizations as a Q object (empty for `everyone`)."""
        return Q() if self.everyone else Q(**{f"{name}__in": self.filter})


def scope(organizations):
    if isinstance(organizations, Orgs):
        return organizations
    if isinstance(organizations, QuerySet):
        if organizations.model is not Organization:
            raise TypeError("a queryset of organizations is expected")
        return Orgs(list(organizations.values_list("pk", flat=True)), organizations.values("pk"))
    ids = list(organizations)
    return Orgs(ids, ids)


def _months(period_start, period_end):
    """(first month, last month) whose months count: begun on or after the period's first month and over by its
    last day; None when no month is over yet."""
    first = period_start.replace(day=1)
    last = (period_end + timedelta(days=1)).replace(day=1)  # the month after the last one over
    last = (last - timedelta(days=1)).replace(day=1)
    if periods.span_of(Period.MONTH, last).end > period_end:
        return None
    return (first, last) if last >= first else None


def _share(part, whole):
    return None if not whole else Decimal(part) / Decimal(whole)


def _str(number):
    return None if number is None else str(number)


def _end_of_day(day):
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=timezone.get_default_timezone())


ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class PerOrganization(Mapping):
    """A metric's answer, {organization id: (value, trace)}, kept as the aggregates it was read from: `value(id)`
    looks the value up (`default` for an organization without a row), `inputs(id)` builds the trace's dict only
    when asked for, and `text(id)` the same inputs as JSON text (what a score's trace stores), written straight
    from the aggregates where the metric knows how (`texts`)."""

    def __init__(self, ids, values, inputs, default=None, texts=None):
        self.ids, self.values, self._inputs, self.default = ids, values, inputs, default
        self._texts = texts
        self._members = None

    def value(self, org_id):
        return self.values.get(org_id, self.default)

    def inputs(self, org_id):
        return self._inputs(org_id)

    def text(self, org_id):
        return self._texts(org_id) if self._texts is not None else ENCODE(self._inputs(org_id))

    @property
    def text_of(self):
        """`text` as a plain function of the organization (what a loop over 100,000 of them calls)."""
        return self._texts if self._texts is not None else self.text

    def __getitem__(self, org_id):
        if self._members is None:
            self._members = set(self.ids)
        if org_id not in self._members:
            raise KeyError(org_id)
        return (self.value(org_id), self.inputs(org_id))

    def __iter__(self):
        return iter(self.ids)

    def __len__(self):
        return len(self.ids)


def _sql(queryset):
    """The SQL and parameters of a queryset, to use as a subquery of a hand-written aggregate."""
    return queryset.query.sql_with_params()


# ------------------------------------------------------------------------------------------------ metrics

MEETING_TYPE = Param("choice", required=True, choices=tuple(MeetingType.values))


def _meetings_many(organizations, period_start, period_end, params_list, round=None):
    types = [params["meeting_type"] for params in params_list]
    return _meetings_of(organizations, period_start, period_end, types)


@metric(
    "meetings_met",
    title=gettext_lazy("Meetings held as required"),
    params={"meeting_type": MEETING_TYPE},
    if_none="full",
    many=_meetings_many,
)
def meetings_met(organizations, period_start, period_end, *, meeting_type, round=None):
    """Share of the rule's spans (months, quarters or years) owed in the period that were met, from the kept
    compliance results; a span counts when it lies wholly inside the period. The trace lists the spans missed
    (their key, e.g. 2026-05, held and required). Nothing owed: None (full points by default)."""
    return _meetings_of(organizations, period_start, period_end, [meeting_type])[0]


def _meetings_of(organizations, period_start, period_end, types):
    """[meetings met of each meeting type], from one aggregate over the kept results of every type."""
    years = range(period_start.year, period_end.year + 1)
    rows = ComplianceResult.objects.filter(
        organizations.q(),
        meeting_type__in=sorted(set(types)),
        period=Period.YEAR,
        start__in=[date(year, 1, 1) for year in years],
    )
    if connection.vendor == "postgresql":
        folded = _meetings_in_sql(rows, period_start, period_end)
    else:
        folded = _meetings_in_python(rows, period_start, period_end)
    return [_meetings_answer(organizations, meeting_type, folded.get(meeting_type, {})) for meeting_type in types]


def _meetings_answer(organizations, meeting_type, folded):
    def inputs(org_id):
        unit, owed, met, missing = folded.get(org_id, ("", 0, 0, ()))
        if isinstance(missing, str):
            missing = json.loads(missing)
        return {"meeting_type": meeting_type, "unit": unit, "owed": owed, "met": met, "missing": list(missing)}

    kind = ENCODE(meeting_type)

    def texts(org_id):  # the unit is one of Period's values: nothing to escape
        unit, owed, met, missing = folded.get(org_id, ("", 0, 0, ()))
        missing = missing if isinstance(missing, str) else (ENCODE(list(missing)) if missing else "[]")
        return f'{{"meeting_type":{kind},"unit":"{unit}","owed":{owed},"met":{met},"missing":{missing}}}'

    values = {org_id: _share(met, owed) for org_id, (_unit, owed, met, _missing) in folded.items()}
    return PerOrganization(organizations.ids, values, inputs, texts=texts)


def _meetings_in_python(rows, period_start, period_end):
    """{meeting type: {organization id: (unit, owed, met, missing)}} folded from the rows' spans."""
    folded_by_type = defaultdict(dict)
    spans_of = rows.values_list("meeting_type", "organization_id", "rule_period", "spans").order_by(
        "organization_id", "start"
    )
    for meeting_type, org_id, rule_period, spans in spans_of:
        folded = folded_by_type[meeting_type]
        unit, owed, met, missing = folded.get(org_id, ("", 0, 0, []))
        for start, held, required, _rule in spans:
            span = periods.span_of(rule_period, date.fromisoformat(start))
            if span.start < period_start or span.end > period_end or not required:
                continue
            unit, owed = rule_period, owed + 1
            if held >= required:
                met += 1
            else:
                missing.append({"span": span.key, "start": start, "held": held, "required": required})
        if owed:
            folded[org_id] = (unit, owed, met, missing)
    return folded_by_type


# The same fold in one aggregate: the spans of the rows inside the period and owed, counted and met per
# organization; the spans missed as JSON text (parsed only when a trace is asked for), written as the trace keeps it:
# compact, keys in the order the Python fold gives them (jsonb's own text would differ from a trace saved again).
_SPAN_START = "date_trunc(r.rule_period, (e.v->>0)::date)::date"
_SPAN_AFTER = (
    f"({_SPAN_START} + CASE r.rule_period WHEN 'month' THEN interval '1 month' "
    "WHEN 'quarter' THEN interval '3 months' ELSE interval '1 year' END)::date"
)
_SPAN_KEY = (
    f"CASE r.rule_period WHEN 'month' THEN to_char({_SPAN_START}, 'YYYY-MM') "
    f"WHEN 'quarter' THEN extract(year FROM {_SPAN_START})::int || '-Q' || extract(quarter FROM {_SPAN_START})::int "
    f"ELSE (extract(year FROM {_SPAN_START})::int)::text END"
)
_MISSED = "(e.v->>1)::numeric < (e.v->>2)::numeric"
_MEETINGS = (
    "SELECT r.meeting_type, r.organization_id, (array_agg(r.rule_period ORDER BY r.start DESC))[1], count(*), "  # noqa: S608
    f"count(*) FILTER (WHERE NOT {_MISSED}), "
    f"'[' || string_agg('{{{{\"span\":\"' || {_SPAN_KEY} || '\",\"start\":' || (e.v->0)::text || ',\"held\":' "
    "|| (e.v->1)::text || ',\"required\":' || (e.v->2)::text || '}}', ',' "
    f"ORDER BY r.start, e.i) FILTER (WHERE {_MISSED}) || ']' "
    "FROM ({}) AS r(meeting_type, organization_id, rule_period, start, spans) "
    "CROSS JOIN LATERAL jsonb_array_elements(r.spans) WITH ORDINALITY AS e(v, i) "
    f"WHERE {_SPAN_START} >= %s AND {_SPAN_AFTER} <= %s AND (e.v->>2)::numeric <> 0 "
    "GROUP BY r.meeting_type, r.organization_id"
)


def _meetings_in_sql(rows, period_start, period_end):
    sql, params = _sql(rows.values_list("meeting_type", "organization_id", "rule_period", "start", "spans"))
    with connection.cursor() as cursor:
        cursor.execute(_MEETINGS.format(sql), [*params, period_start, period_end + timedelta(days=1)])
        folded = defaultdict(dict)
        for meeting_type, org_id, unit, owed, met, missing in cursor.fetchall():
            folded[meeting_type][org_id] = (unit, owed, met, missing or ())
        return folded


@metric(
    "attendance_rate",
    title=gettext_lazy("Attendance rate"),
    params={"meeting_type": Param("choice", choices=tuple(MeetingType.values))},
)
def attendance_rate(organizations, period_start, period_end, *, meeting_type=None, round=None):
    """Members present over members expected at the meetings held in the months of the period (of one type, or
    of every type), from the month summaries. No member expected: None."""
    months = _months(period_start, period_end)
    totals = {}
    if months:
        rows = MonthSummary.objects.filter(organizations.q(), month__range=months)
        if meeting_type:
            rows = rows.filter(meeting_type=meeting_type)
        rows = rows.values("organization_id").annotate(h=Sum("held"), e=Sum("expected"), p=Sum("present"))
        rows = rows.values_list("organization_id", "h", "e", "p").order_by()
        totals = {org_id: (h or 0, e or 0, p or 0) for org_id, h, e, p in rows}

    def inputs(org_id):
        held, expected, present = totals.get(org_id, (0, 0, 0))
        return {"meeting_type": meeting_type or "", "held": held, "expected": expected, "present": present}

    kind = ENCODE(meeting_type or "")

    def texts(org_id):
        held, expected, present = totals.get(org_id, (0, 0, 0))
        return f'{{"meeting_type":{kind},"held":{held},"expected":{expected},"present":{present}}}'

    values = {org_id: _share(present, expected) for org_id, (_held, expected, present) in totals.items()}
    return PerOrganization(organizations.ids, values, inputs, texts=texts)


def _duty_totals(organizations, period_start, period_end):
    """{organization id: (due, on time, late, open, findings closed, closed late)} summed over the months of the
    period from the duty month summaries: one aggregate that duties on time and rectifications on time share (kept
    on `organizations` for the run, so a rubric naming both reads the summaries once)."""
    months = _months(period_start, period_end)
    key = ("duty_totals", months)
    if key in organizations.cache:
        return organizations.cache[key]
    totals = {}
    if months:
        rows = (
            DutyMonthSummary.objects.filter(organizations.q(), month__range=months)
            .values("organization_id")
            .annotate(
                due=Sum("duties_due"),
                on_time=Sum("duties_on_time"),
                late=Sum("duties_late"),
                open=Sum("duties_open"),
                closed=Sum("findings_closed"),
                closed_late=Sum("findings_closed_late"),
            )
        )
        rows = rows.values_list("organization_id", "due", "on_time", "late", "open", "closed", "closed_late")
        totals = {org_id: tuple(n or 0 for n in figures) for org_id, *figures in rows.order_by()}
    organizations.cache[key] = totals
    return totals


@metric("duties_on_time", title=gettext_lazy("Duties done on time"), if_none="full")
def duties_on_time(organizations, period_start, period_end, *, round=None):
    """Share of the responsibility duties due in the months of the period that were done by their due date, from
    the duty month summaries. No duty due: None (full points by default)."""
    found = _duty_totals(organizations, period_start, period_end)
    totals = {org_id: figures[:4] for org_id, figures in found.items()}

    def inputs(org_id):
        return dict(zip(("due", "on_time", "late", "open"), totals.get(org_id, (0, 0, 0, 0)), strict=True))

    def texts(org_id):
        due, on_time, late, still_open = totals.get(org_id, (0, 0, 0, 0))
        return f'{{"due":{due},"on_time":{on_time},"late":{late},"open":{still_open}}}'

    values = {org_id: _share(on_time, due) for org_id, (due, on_time, _late, _open) in totals.items()}
    return PerOrganization(organizations.ids, values, inputs, texts=texts)


@metric("rectifications_on_time", title=gettext_lazy("Rectifications closed on time"), if_none="full")
def rectifications_on_time(organizations, period_start, period_end, *, round=None):
    """Share of the findings verified and closed in the months of the period that were closed by their
    rectification deadline, from the duty month summaries. None closed: None (full points by default)."""
    found = _duty_totals(organizations, period_start, period_end)
    totals = {org_id: figures[4:] for org_id, figures in found.items()}

    def inputs(org_id):
        closed, late = totals.get(org_id, (0, 0))
        return {"closed": closed, "late": late}

    def texts(org_id):
        closed, late = totals.get(org_id, (0, 0))
        return f'{{"closed":{closed},"late":{late}}}'

    values = {org_id: _share(closed - late, closed) for org_id, (closed, late) in totals.items()}
    return PerOrganization(organizations.ids, values, inputs, texts=texts)


@metric("findings_open_past_deadline", title=gettext_lazy("Findings open past their deadline"), unit="count")
def findings_open_past_deadline(organizations, period_start, period_end, *, round=None):
    """How many inspection findings were still not verified and closed on the period's last day although their
    rectification deadline had passed (a count; score it per occurrence). The trace lists up to 20 of them."""
    until = _end_of_day(period_end)
    rows = (
        Finding.objects.filter(organizations.q(), deadline__lt=period_end, created_at__lt=until)
        .filter(Q(closed_at__isnull=True) | Q(closed_at__gte=until))
        .values_list("organization_id", "pk", "deadline")
        .order_by("organization_id", "deadline", "pk")
    )
    listed = defaultdict(list)
    for org_id, pk, deadline in rows:
        listed[org_id].append((pk, deadline))

    def inputs(org_id):
        found = listed.get(org_id, ())
        return {
            "count": len(found),
            "findings": [{"id": pk, "deadline": deadline.isoformat()} for pk, deadline in found[:20]],
        }

    def texts(org_id):
        found = listed.get(org_id, ())
        items = ",".join(f'{{"id":{pk},"deadline":"{deadline.isoformat()}"}}' for pk, deadline in found[:20])
        return f'{{"count":{len(found)},"findings":[{items}]}}'

    values = {org_id: Decimal(len(found)) for org_id, found in listed.items()}
    return PerOrganization(organizations.ids, values, inputs, default=Decimal(0), texts=texts)


def _serving_on(day, prefix=""):
    return Q(**{f"{prefix}term_start__lte": day}) & (
        Q(**{f"{prefix}term_end__isnull": True}) | Q(**{f"{prefix}term_end__gte": day})
    )


@metric(
    "cadres_trained",
    title=gettext_lazy("Cadres trained in the period"),
    params={"min_hours": Param("number", default=0)},
)
def cadres_trained(organizations, period_start, period_end, *, min_hours=0, round=None):
    """Share of the cadres serving on the period's last day with training in the period (at least one course, and
    at least `min_hours` hours in all). The trace names up to 10 cadres without. No cadre: None."""
    need = Decimal(str(min_hours))
    serving = Cadre.objects.filter(_serving_on(period_end), organizations.q())
    if connection.vendor == "postgresql":
        counted = _cadres_in_sql(serving, period_start, period_end, need)
    else:
        counted = _cadres_in_python(serving, period_start, period_end, need)

    def inputs(org_id):
        total, trained, untrained = counted.get(org_id, (0, 0, ()))
        return {"cadres": total, "trained": trained, "untrained": list(untrained), "min_hours": str(need)}

    hours = ENCODE(str(need))

    def texts(org_id):
        total, trained, untrained = counted.get(org_id, (0, 0, ()))
        return f'{{"cadres":{total},"trained":{trained},"untrained":{ENCODE(list(untrained))},"min_hours":{hours}}}'

    values = {org_id: _share(trained, total) for org_id, (total, trained, _untrained) in counted.items()}
    return PerOrganization(organizations.ids, values, inputs, texts=texts)


def _cadres_in_python(serving, period_start, period_end, need):
    """{organization id: (cadres, trained, up to 10 names untrained)}."""
    rows = (
        serving.annotate(hours=Sum("trainings__hours", filter=Q(trainings__held_on__range=(period_start, period_end))))
        .values_list("organization_id", "name", "hours")
        .order_by("organization_id", "pk")
    )
    counted = {}
    for org_id, name, hours in rows:
        total, trained, untrained = counted.get(org_id, (0, 0, []))
        if hours and hours >= need:
            trained += 1
        elif len(untrained) < 10:
            untrained.append(name)
        counted[org_id] = (total + 1, trained, untrained)
    return counted


# The same in one aggregate: a cadre is trained with some hours in the period, at least the hours needed.
# The cadres in scope are a derived table (their filter reaches the scan); their hours are summed over their own
# training records only, so one organization costs what its cadres cost.
_CADRES = (
    "SELECT c.organization_id, count(*), count(*) FILTER (WHERE t.hours <> 0 AND t.hours >= %s), "  # noqa: S608
    "(array_agg(c.name ORDER BY c.id) FILTER (WHERE t.hours IS NULL OR t.hours = 0 OR t.hours < %s))[1:10] "
    "FROM ({0}) AS c(id, organization_id, name) LEFT JOIN (SELECT cadre_id, sum(hours) AS hours "
    f"FROM {TrainingRecord._meta.db_table} WHERE held_on BETWEEN %s AND %s "
    "AND cadre_id IN (SELECT s.id FROM ({0}) AS s(id, organization_id, name)) GROUP BY cadre_id) t "
    "ON t.cadre_id = c.id GROUP BY c.organization_id"
)


def _cadres_in_sql(serving, period_start, period_end, need):
    # No ordering: the model's (by organization path) would join and sort the organizations, twice.
    sql, params = _sql(serving.order_by().values_list("id", "organization_id", "name"))
    with connection.cursor() as cursor:
        cursor.execute(_CADRES.format(sql), [need, need, *params, period_start, period_end, *params])
        return {org_id: (total, trained, untrained or ()) for org_id, total, trained, untrained in cursor.fetchall()}


@metric(
    "staffing_ratio",
    title=gettext_lazy("Full-time party-affairs staff against the staff headcount"),
    params={"share": Param("share", default="0.01")},
)
def staffing_ratio(organizations, period_start, period_end, *, share="0.01", round=None):
    """Full-time party-affairs cadres serving on the period's last day against the number required: `share`
    (1% by default; the rule is 1%–2%) of the unit's staff headcount, rounded up. Value: full-time staff over the
    number required, at most 1. No headcount recorded: None."""
    share = Decimal(str(share))
    headcounts = dict(
        Organization.objects.filter(organizations.q("pk"), staff_headcount__isnull=False)
        .values_list("pk", "staff_headcount")
        .order_by()
    )
    full_time = dict(
        Cadre.objects.filter(_serving_on(period_end), organizations.q(), employment=Employment.FULL_TIME)
        .values("organization_id")
        .annotate(n=Count("pk"))
        .values_list("organization_id", "n")
        .order_by()
    )

    def required_of(headcount):
        return math.ceil(headcount * share) if headcount else 0

    def inputs(org_id):
        headcount = headcounts.get(org_id)
        return {
            "headcount": headcount,
            "share": str(share),
            "required": required_of(headcount),
            "upper": math.floor(headcount * Decimal("0.02")) if headcount else 0,
            "full_time": full_time.get(org_id, 0),
        }

    shown_share = ENCODE(str(share))

    def texts(org_id):
        headcount = headcounts.get(org_id)
        upper = math.floor(headcount * Decimal("0.02")) if headcount else 0
        return (
            f'{{"headcount":{"null" if headcount is None else headcount},"share":{shown_share},'
            f'"required":{required_of(headcount)},"upper":{upper},"full_time":{full_time.get(org_id, 0)}}}'
        )

    values = {}
    for org_id, headcount in headcounts.items():
        required = required_of(headcount)
        if required:
            values[org_id] = min(ONE, Decimal(full_time.get(org_id, 0)) / Decimal(required))
    return PerOrganization(organizations.ids, values, inputs, texts=texts)


@metric("committee_term_overdue", title=gettext_lazy("Months with the committee election overdue"), unit="count")
def committee_term_overdue(organizations, period_start, period_end, *, round=None):
    """How many months of the period ended with the committee's election overdue (from the month facts kept
    with the compliance results). The trace lists those months."""
    months = _months(period_start, period_end)
    listed = defaultdict(list)
    if months:
        rows = MonthFact.objects.filter(
            organizations.q(), month__range=months, term_state=TermState.OVERDUE
        ).values_list("organization_id", "month")
        for org_id, month in rows.order_by("organization_id", "month"):
            listed[org_id].append(month)

    def inputs(org_id):
        found = listed.get(org_id, ())
        return {"count": len(found), "months": [f"{month:%Y-%m}" for month in found]}

    def texts(org_id):
        found = listed.get(org_id, ())
        months = ",".join(f'"{month:%Y-%m}"' for month in found)
        return f'{{"count":{len(found)},"months":[{months}]}}'

    values = {org_id: Decimal(len(found)) for org_id, found in listed.items()}
    return PerOrganization(organizations.ids, values, inputs, default=Decimal(0), texts=texts)


@metric(
    "survey_satisfaction",
    title=gettext_lazy("Survey satisfaction (群众民意测评)"),
    params={"min_respondents": Param("integer", default=0)},
)
def survey_satisfaction(organizations, period_start, period_end, *, min_respondents=0, round=None):
    """The satisfied share of the round's survey result (群众民意测评); None when there is none, or fewer than
    `min_respondents` answered. Outside a round: the results of the rounds over exactly this period."""
    rows = SurveyResult.objects.filter(organizations.q())
    if round is not None:
        rows = rows.filter(round=round)
    else:
        rows = rows.filter(round__period_start=period_start, round__period_end__gte=period_end)
    results = {
        org_id: (respondents, share, note)
        for org_id, respondents, share, note in rows.values_list(
            "organization_id", "respondents", "satisfied_share", "note"
        )
    }

    def inputs(org_id):
        respondents, share, note = results.get(org_id, (0, None, ""))
        found = {"respondents": respondents, "satisfied_share": _str(share)}
        if note:  # where the figures came from (a rating by ticket: its tickets and answers)
            found["note"] = note
        return found

    def texts(org_id):
        respondents, share, note = results.get(org_id, (0, None, ""))
        shown = "null" if share is None else ENCODE(str(share))
        noted = f',"note":{ENCODE(note)}' if note else ""
        return f'{{"respondents":{respondents},"satisfied_share":{shown}{noted}}}'

    values = {
        org_id: share
        for org_id, (respondents, share, _note) in results.items()
        if share is not None and respondents and respondents >= min_respondents
    }
    return PerOrganization(organizations.ids, values, inputs, texts=texts)
