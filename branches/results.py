"""Compliance results: how each organization stands on each meeting type, per period, kept as rows.

`compliance.judge` decides; this module keeps what it decides for the years in `ResultYear`, so the reviewer's
table ranks and pages thousands of organizations in SQL and builds only the rows it shows.

- `compute(organizations, year)` judges the organizations over every span of the year, once per rule span
  (the same `_count` as `judge`), and folds the spans into the rows a view reads (see `ComplianceResult`).
- `refresh(organization_ids, years)` recomputes the rows of some organizations, inside the transaction of the
  service that changed their facts (meetings, committee posts, lifetimes, party groups); `rebuild(within=,
  year=)` recomputes a subtree and/or a year, writes only the differences and returns their number (drift).
- `statuses`, `for_span` and `ranked` read them back for a view (a month, quarter or year) on a given day.

A view over a span counts the rule's spans begun by the later of the day and the view's first day; the state of a
row then follows from its first span not met: not met once that span is over, in progress while it runs (or has
not begun: then met so far), met when there is none.
"""

import functools
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from django.db import connection, transaction
from django.db.models import Exists, Q
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from branches import compliance, copying, periods, standings
from branches.models import (
    CommitteeTerm,
    ComplianceResult,
    ComplianceStanding,
    MonthFact,
    MonthSummary,
    Organization,
    Period,
    ResultYear,
    TermState,
)

GRANULARITY = periods.GRANULARITY
RESULTS_OF_YEAR = _("compliance results of %(year)d")


def covered_years():
    return set(ResultYear.objects.values_list("year", flat=True))


def covers(span):
    return ResultYear.objects.filter(year=span.start.year).exists()


# ----------------------------------------------------------------------------------------------------- compute


def _plan(rules, organization, year_span, spans_by_period):
    """Per meeting type: (type, the rule's period, [(rule, span, months)]) as `judge` plans a view of the year."""
    plan = []
    for meeting_type in compliance.MeetingType.values:
        first = compliance._rule_for(rules, organization, meeting_type, year_span)
        if first is None:
            continue
        steps = []
        for span in spans_by_period[first.period]:
            rule = compliance._rule_for(rules, organization, meeting_type, span)
            if rule is not None:
                steps.append((rule, span, compliance._months(span)))
        if steps:
            plan.append((meeting_type, first.period, steps))
    return plan


def _folded(judged):
    """The values of a row from its judged spans [(span, held, required, rule id, group needs or None)]."""
    unmet = next((item[0] for item in judged if item[1] < item[2]), None)
    per_group = any(item[4] is not None for item in judged)
    return (
        judged[0][0].start,
        unmet.start if unmet else None,
        unmet.end if unmet else None,
        [[span.start.isoformat(), held, required, rule] for span, held, required, rule, _needs in judged],
        [needs or [] for *_item, needs in judged] if per_group else None,
        sum(min(held, required) for _span, held, required, *_rest in judged),
        sum(item[2] for item in judged),
        judged[-1][0].start,
    )


def _rows_of(meeting_type, rule_period, judged, year_span):
    """{(type, rule period, period, start): values} for one organization's judged spans of one type in a year:
    each rule span alone, and each coarser view (quarter, year) that holds some of them."""
    rows = {}
    for item in judged:
        rows[(meeting_type, rule_period, rule_period, item[0].start)] = _folded([item])
    for view_period in GRANULARITY:
        if GRANULARITY[view_period] <= GRANULARITY[rule_period]:
            continue
        for view in periods.spans_within(view_period, year_span):
            inside = [item for item in judged if view.start <= item[0].start <= view.end]
            if inside:
                rows[(meeting_type, rule_period, view_period, view.start)] = _folded(inside)
    return rows


def compute(organizations, year, *, within=None, from_records=False, with_facts=True):
    """The organizations over the year: `.results` {key: values} (`ComplianceResult.KEY`, `.VALUES`) and `.facts`
    {key: values} (`MonthFact`) for each month they lived some day of (unless `with_facts` is False: a meeting changes
    no fact)."""
    computed = Computed({}, {})
    if not organizations:
        return computed
    year_span = periods.span_of(Period.YEAR, date(year, 1, 1))
    spans_by_period = {p: periods.spans_within(p, year_span) for p in GRANULARITY}
    rules = compliance._rules_in_force(year_span.start, year_span.end)
    of_orgs = compliance._of_orgs(organizations, within)
    groups, terms, counts, totals = compliance.load(
        organizations, rules, spans_by_period, of_orgs, from_records, committees=with_facts or None
    )
    elections = _elections(of_orgs, year_span) if with_facts else {}
    plans, result = {}, computed.results
    for org in organizations:
        if (org.kind, org.sector) not in plans:
            plans[(org.kind, org.sector)] = _plan(rules, org, year_span, spans_by_period)
        facts = compliance.Facts(org, groups.get(org.pk, []), terms.get(org.pk, []))
        org_counts, org_totals = counts.get(org.pk, {}), totals.get(org.pk, {})
        for meeting_type, rule_period, steps in plans[(org.kind, org.sector)]:
            judged = []
            for rule, span, months in steps:
                count = compliance._count(org_counts, org_totals, rule, span, months, facts, year_span.start)
                if count is not None:
                    judged.append((span, count.held, count.required, rule.pk, count.needs))
            if judged:
                for key, values in _rows_of(meeting_type, rule_period, judged, year_span).items():
                    result[(org.pk, *key)] = values
        for month in spans_by_period[Period.MONTH] if with_facts else ():
            if _lived_in(org, month):
                state = _term_state(elections.get(org.pk, ()), month.end)
                computed.facts[(org.pk, month.start)] = (facts.exists(month), facts.committee_serves(month), state)
    return computed


@dataclass
class Computed:
    results: dict
    facts: dict


def _lived_in(org, month):
    return (org.founded_on is None or org.founded_on <= month.end) and (
        org.dissolved_on is None or org.dissolved_on >= month.start
    )


def _elections(of_orgs, year_span):
    """{organization id: [(elected on, ended on, next election due)]} of the committee terms living in the year."""
    found = defaultdict(list)
    rows = (
        CommitteeTerm.objects.filter(of_orgs, started_on__lte=year_span.end)
        .filter(Q(ended_on__isnull=True) | Q(ended_on__gte=year_span.start))
        .values_list("organization_id", "started_on", "ended_on", "expected_election_on")
        .order_by("organization_id", "started_on")
    )
    for org_id, started, ended, due in rows:
        found[org_id].append((started, ended, due))
    return found


def _term_state(terms, day):
    """The committee's term on `day`: the latest one begun by then and not ended before it; overdue once the day
    its next election was due has passed."""
    running = [term for term in terms if term[0] <= day and (term[1] is None or term[1] >= day)]
    if not running:
        return TermState.NONE
    _started, _ended, due = running[-1]
    return TermState.OVERDUE if due < day else TermState.RUNNING


def standings_of(results, year):
    """The standings (`standings.counts`) of a year's results (`.results` of `compute`)."""
    rows = ((*key, *values[:3]) for key, values in results.items())
    return standings.counts(rows, year)


# ------------------------------------------------------------------------------------------------------- write


def _organizations(ids=None, within=None, year=None):
    """The organizations to judge, as a queryset in tree order."""
    organizations = Organization.objects.only("pk", "path", "kind", "sector", "founded_on", "dissolved_on")
    if ids is not None:
        organizations = organizations.filter(pk__in=ids)
    if within is not None:
        organizations = organizations.filter(path__startswith=within.path)
    if year is not None:
        organizations = organizations.filter(compliance._lived_between(date(year, 1, 1), date(year, 12, 31)))
    return organizations.order_by("path")


def _stored(rows):
    return {row.key(): row.values() for row in rows}


def _write(model, wanted, stored_rows):
    """Make the stored rows of `model` equal `wanted`; return how many differed."""
    have = {row.key(): row for row in stored_rows}
    stale = [row.pk for key, row in have.items() if key not in wanted]
    changed = []
    for key, row in have.items():
        values = wanted.get(key)
        if values is not None and row.values() != values:
            for name, value in zip(model.VALUES, values, strict=True):
                setattr(row, name, value)
            changed.append(row)
    missing = [
        model(**dict(zip(model.KEY, key, strict=True)), **dict(zip(model.VALUES, values, strict=True)))
        for key, values in wanted.items()
        if key not in have
    ]
    for begin in range(0, len(stale), 5000):
        model.objects.filter(pk__in=stale[begin : begin + 5000]).delete()
    model.objects.bulk_update(changed, model.VALUES, batch_size=2000)
    model.objects.bulk_create(missing, batch_size=2000)
    return len(stale) + len(changed) + len(missing)


def _of_year(year):
    return Q(start__gte=date(year, 1, 1), start__lte=date(year, 12, 31))


def _standings_of_year(year):
    return ComplianceStanding.objects.filter(start__gte=date(year, 1, 1), start__lte=date(year, 12, 31))


def _facts_of_year(year):
    return Q(month__gte=date(year, 1, 1), month__lte=date(year, 12, 31))


def refresh(organization_ids, years=None, facts=True):
    """Recompute the results and month facts of these organizations (party groups stand for their branch) for
    the kept years among `years` (all kept years if None). Called inside the service's transaction; `facts`
    False when only meetings changed (the month facts stay as they are)."""
    ids = set(organization_ids)
    if not ids:
        return
    if years is None:
        years = covered_years()
    # The organizations and which of the years are kept, in one query.
    kept = {f"kept_{year}": Exists(ResultYear.objects.filter(year=year)) for year in years}
    organizations = list(_organizations(ids=ids).annotate(**kept))
    for year in sorted(years):
        if organizations and getattr(organizations[0], f"kept_{year}"):
            wanted = compute(organizations, year, with_facts=facts)
            of_them = Q(organization_id__in=ids)
            _write(ComplianceResult, wanted.results, ComplianceResult.objects.filter(of_them, _of_year(year)))
            _write(ComplianceStanding, standings_of(wanted.results, year), _standings_of_year(year).filter(of_them))
            if facts:
                _write(MonthFact, wanted.facts, MonthFact.objects.filter(of_them, _facts_of_year(year)))


def follow_meetings(keys):
    """Bring the rows in line with the month summaries of `keys` (organization, month, type, group) just recounted:
    only meetings changed, so only the spans' meeting counts and what follows from them (the first span not met).
    On PostgreSQL one statement recounts them from the summaries (`_FOLLOW`); elsewhere the organizations' years
    are judged again."""
    wanted = {(key[0], key[2], key[1].year) for key in keys}
    if connection.vendor != "postgresql":
        refresh({key[0] for key in keys}, {key[1].year for key in keys}, facts=False)
        return
    values = ", ".join(["(%s::bigint, %s::varchar, make_date(%s, 1, 1))"] * len(wanted))
    layout = [row for year in sorted({key[2] for key in wanted}) for row in standings.layout_rows(year)]
    params = [value for key in sorted(wanted) for value in key]
    with connection.cursor() as cursor:
        cursor.execute(_FOLLOW.format(values), [*params, json.dumps(layout)])


# The standings (`branches.standings`) in SQL: the views' states and the rows each reads, from one JSON parameter
# (`standings.layout_rows`), and each row counted in the states of the views that read it.
_LAYOUT = (
    "layout AS (SELECT e->>0 AS vp, (e->>1)::date AS vs, (e->>2)::date AS day, e->>3 AS rp, e->>4 AS p, "
    "(e->>5)::date AS s FROM jsonb_array_elements(%s::jsonb) AS e)"
)
_TYPE_BIT = (  # a row's meeting type as its bit (`standings.TYPE_BITS`)
    "CASE meeting_type "
    + " ".join(f"WHEN '{meeting_type}' THEN {bit}" for meeting_type, bit in standings.TYPE_BITS.items())
    + " ELSE 0 END"
)
_STANDING = (  # rows alike counted once first: most organizations' rules share a few first spans not met
    "SELECT r.organization_id, l.vp, l.vs, l.day, COALESCE(sum(r.n) FILTER (WHERE r.unmet_end < l.day), 0), "  # noqa: S608 (fixed identifiers and type names)
    "COALESCE(sum(r.n) FILTER (WHERE r.unmet_start <= l.day AND r.unmet_end >= l.day), 0), "
    "COALESCE(bit_or(r.bits) FILTER (WHERE r.first_judged <= l.day), 0) "
    "FROM (SELECT organization_id, rule_period, period, start, first_judged, unmet_start, unmet_end, "
    f"count(*) AS n, bit_or({_TYPE_BIT}) AS bits FROM {{rows}} "
    "GROUP BY 1, 2, 3, 4, 5, 6, 7) r JOIN layout l ON l.rp = r.rule_period AND l.p = r.period AND l.s = r.start "
    "GROUP BY 1, 2, 3, 4"
)


# A span's meetings: the month summaries of its months (every party group's), or for a rule per party group each
# group's up to what is required of it (`group_needs`). A row's first span not met follows. Rows of years not kept
# do not exist, so nothing is written for them.
_FOLLOW = (
    "WITH k AS (SELECT * FROM (VALUES {}) AS v(org, type, year)), "  # noqa: S608 (fixed identifiers; values are parameters)
    "target AS (SELECT r.id, r.organization_id, r.meeting_type, r.rule_period, r.spans, r.group_needs "
    f"FROM {ComplianceResult._meta.db_table} r JOIN k ON r.organization_id = k.org AND r.meeting_type = k.type "
    "AND r.start >= k.year AND r.start < k.year + interval '1 year'), "
    "month_held AS (SELECT s.organization_id, s.meeting_type, s.party_group, s.month, s.held "
    f"FROM {MonthSummary._meta.db_table} s JOIN k ON s.organization_id = k.org AND s.meeting_type = k.type "
    "AND s.month >= k.year AND s.month < k.year + interval '1 year' WHERE s.held > 0), "
    "element AS (SELECT t.id, e.i, e.v, (e.v->>0)::date AS first, (e.v->>2)::int AS required, "
    "((e.v->>0)::date + CASE t.rule_period WHEN 'month' THEN interval '1 month' "
    "WHEN 'quarter' THEN interval '3 months' ELSE interval '1 year' END)::date AS after, "
    "t.organization_id, t.meeting_type, t.group_needs -> (e.i::int - 1) AS needs "
    "FROM target t CROSS JOIN LATERAL jsonb_array_elements(t.spans) WITH ORDINALITY AS e(v, i)), "
    "counted AS MATERIALIZED (SELECT el.id, el.i, el.v, el.first, el.after, el.required, "
    "CASE WHEN el.needs IS NULL THEN "
    "(SELECT COALESCE(sum(h.held), 0) FROM month_held h WHERE h.organization_id = el.organization_id "
    "AND h.meeting_type = el.meeting_type AND h.month >= el.first AND h.month < el.after) "
    "ELSE (SELECT COALESCE(sum(LEAST(g.held, g.needed)), 0) FROM (SELECT (n.v->>1)::int AS needed, "
    "(SELECT COALESCE(sum(h.held), 0) FROM month_held h WHERE h.organization_id = el.organization_id "
    "AND h.meeting_type = el.meeting_type AND h.party_group = (n.v->>0)::bigint "
    "AND h.month >= el.first AND h.month < el.after) AS held "
    "FROM jsonb_array_elements(el.needs) AS n(v)) AS g) END AS held FROM element el), "
    "folded AS (SELECT id, jsonb_agg(jsonb_build_array(v->0, held, v->2, v->3) ORDER BY i) AS spans, "
    "sum(LEAST(held, required)) AS counted_total, min(first) FILTER (WHERE held < required) AS unmet_start, "
    "(array_agg(after ORDER BY first) FILTER (WHERE held < required))[1] AS unmet_after "
    "FROM counted GROUP BY id), "
    f"changed AS (UPDATE {ComplianceResult._meta.db_table} AS r SET spans = f.spans, unmet_start = f.unmet_start, "
    "unmet_end = f.unmet_after - 1, counted = f.counted_total FROM folded f WHERE r.id = f.id "
    "AND (r.spans, r.unmet_start) IS DISTINCT FROM (f.spans, f.unmet_start) "
    "RETURNING r.id, r.organization_id, r.meeting_type, r.rule_period, r.period, r.start, r.first_judged, "
    "r.unmet_start, r.unmet_end), "
    # The standings of the organizations' years, counted from their rows as they are now: the rows just changed
    # (the statement's own UPDATE is not visible to it) and the others as stored; each row counts in the states
    # of the views that read it (`standings.layout_rows`, a parameter).
    "rows_now AS (SELECT organization_id, meeting_type, rule_period, period, start, first_judged, unmet_start, "
    "unmet_end FROM changed UNION ALL SELECT r.organization_id, r.meeting_type, r.rule_period, r.period, r.start, "
    "r.first_judged, r.unmet_start, r.unmet_end "
    f"FROM {ComplianceResult._meta.db_table} r JOIN (SELECT DISTINCT org, year FROM k) y "
    "ON r.organization_id = y.org AND r.start >= y.year AND r.start < y.year + interval '1 year' "
    "WHERE NOT EXISTS (SELECT 1 FROM changed c WHERE c.id = r.id)), "
    f"{_LAYOUT}, standing AS ({_STANDING.replace('{rows}', 'rows_now')}) "
    f"INSERT INTO {ComplianceStanding._meta.db_table} AS s (organization_id, period, start, day, not_met, "
    "in_progress, judged) SELECT * FROM standing ON CONFLICT (start, period, day, organization_id) DO UPDATE "
    "SET not_met = EXCLUDED.not_met, in_progress = EXCLUDED.in_progress, judged = EXCLUDED.judged "
    "WHERE (s.not_met, s.in_progress, s.judged) IS DISTINCT FROM "
    "(EXCLUDED.not_met, EXCLUDED.in_progress, EXCLUDED.judged)"
)


@transaction.atomic
def rebuild(*, within=None, year) -> int:
    """Recompute the results and month facts of a year (of a subtree); keep the year; return the drift."""
    organizations = list(_organizations(within=within, year=year))
    # The whole tree: every record of the year is read, with no list of a province's ids to match them against.
    wanted = compute(organizations, year, within=compliance.EVERYWHERE if within is None else within)
    results_rows = ComplianceResult.objects.filter(_of_year(year))
    facts_rows = MonthFact.objects.filter(_facts_of_year(year))
    standing_rows = _standings_of_year(year)
    if within is not None:
        results_rows = results_rows.filter(organization__path__startswith=within.path)
        facts_rows = facts_rows.filter(organization__path__startswith=within.path)
        standing_rows = standing_rows.filter(organization__path__startswith=within.path)
    if connection.vendor == "postgresql":
        drift = _write_in_sql(ComplianceResult, wanted.results, results_rows)
        drift += _write_in_sql(MonthFact, wanted.facts, facts_rows)
        # Counted in SQL from the rows just written: a province's year has millions of states.
        rows_sql, rows_params = results_rows.values_list(*_STANDING_INPUTS).order_by().query.sql_with_params()
        counted = (
            "WITH " + _LAYOUT + " " + _STANDING.replace("{rows}", f"({rows_sql}) AS r({', '.join(_STANDING_INPUTS)})")
        )
        layout = json.dumps(standings.layout_rows(year))
        drift += _write_in_sql(ComplianceStanding, None, standing_rows, source=(counted, [layout, *rows_params]))
    else:
        drift = _write(ComplianceResult, wanted.results, results_rows)
        drift += _write(MonthFact, wanted.facts, facts_rows)
        drift += _write(ComplianceStanding, standings_of(wanted.results, year), standing_rows)
    ResultYear.objects.update_or_create(year=year)
    return drift


# The PostgreSQL rebuild: the wanted rows go in by COPY, a full join with the stored ones keeps the differences,
# and only those are written. Fixed identifiers only (the models' own); values travel by COPY or as parameters.


def _columns(model):
    def column(name):
        return model._meta.get_field(name.removesuffix("_id")).column

    return [column(name) for name in model.KEY], [column(name) for name in model.VALUES]


def _statements(model):
    table = model._meta.db_table
    keys, values = _columns(model)
    every = ", ".join(keys + values)
    diff = (
        "CREATE TEMPORARY TABLE kept_diff AS SELECT "  # noqa: S608 (identifiers only)
        + ", ".join(f"w.{c}" for c in keys + values)
        + " , h.id AS old_id FROM kept_wanted w FULL JOIN ({}) AS h ON "
        + " AND ".join(f"w.{c} = h.{c}" for c in keys)
        + f" WHERE w.{keys[0]} IS NULL OR h.id IS NULL OR ("
        + ", ".join(f"w.{c}" for c in values)
        + ") IS DISTINCT FROM ("
        + ", ".join(f"h.{c}" for c in values)
        + ")"
    )
    apply = (
        f"DELETE FROM {table} WHERE id IN (SELECT old_id FROM kept_diff WHERE {keys[0]} IS NULL)",  # noqa: S608
        f"UPDATE {table} AS h SET "  # noqa: S608 (identifiers only)
        + ", ".join(f"{c} = d.{c}" for c in values)
        + f" FROM kept_diff d WHERE h.id = d.old_id AND d.{keys[0]} IS NOT NULL",
        f"INSERT INTO {table} ({every}) SELECT {every} FROM kept_diff WHERE old_id IS NULL",  # noqa: S608
    )
    return table, every, diff, apply


def _copy_lines(wanted):
    for key, values in wanted.items():
        yield "\t".join(copying.text(value) for value in (*key, *values)) + "\n"


_STANDING_INPUTS = (
    "organization_id",
    "meeting_type",
    "rule_period",
    "period",
    "start",
    "first_judged",
    "unmet_start",
    "unmet_end",
)


def _write_in_sql(model, wanted, stored_rows, source=None):
    """`wanted` by COPY, or `source` (SQL, params) selecting the wanted rows in `model`'s KEY and VALUES order."""
    table, every, diff, apply = _statements(model)
    have_sql, have_params = stored_rows.values_list("id", *model.KEY, *model.VALUES).order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS kept_wanted, kept_diff")
        cursor.execute(f"CREATE TEMPORARY TABLE kept_wanted AS SELECT {every} FROM {table} LIMIT 0")  # noqa: S608
        if source is not None:
            cursor.execute(f"INSERT INTO kept_wanted ({every}) {source[0]}", source[1])  # noqa: S608 (compiled SQL)
        else:
            copying.copy_into(cursor, "kept_wanted", [every], _copy_lines(wanted))
        have = f"SELECT * FROM ({have_sql}) AS s(id, {every})"  # noqa: S608 (identifiers and compiled SQL)
        cursor.execute(diff.format(have), have_params)
        cursor.execute("SELECT count(*) FROM kept_diff")
        drift = cursor.fetchone()[0]
        if drift:
            for statement in apply:
                cursor.execute(statement)
        cursor.execute("DROP TABLE kept_wanted, kept_diff")
    return drift


def stored(year, within=None):
    rows = ComplianceResult.objects.filter(_of_year(year))
    if within is not None:
        rows = rows.filter(organization__path__startswith=within.path)
    return _stored(rows)


def stored_facts(year, within=None):
    rows = MonthFact.objects.filter(_facts_of_year(year))
    if within is not None:
        rows = rows.filter(organization__path__startswith=within.path)
    return _stored(rows)


def stored_standings(year, within=None):
    rows = _standings_of_year(year)
    if within is not None:
        rows = rows.filter(organization__path__startswith=within.path)
    return _stored(rows)


def recomputed(year, within=None, from_records=False):
    """What `stored` should hold (`.results`) and what `stored_facts` should hold (`.facts`)."""
    return compute(list(_organizations(within=within, year=year)), year, within=within, from_records=from_records)


# -------------------------------------------------------------------------------------------------------- read


def _counted_by(span, today):
    """The last day whose spans a view over `span` counts: a span counts once begun."""
    return max(today, span.start)


def view_groups(span):
    """The rows a view over `span` reads (`standings.parts`), grouped by (period, start): {(period, start): [rule
    periods]}. A year's three parts are one range of the result key after the organization, a quarter's two."""
    rule_periods = defaultdict(list)
    for rule_period, period, start in standings.parts(span):
        rule_periods[(period, start)].append(rule_period)
    return rule_periods


def view_condition(span, prefix=""):
    """The rows a view over `span` reads (`view_groups` in one condition)."""
    condition = Q(pk__in=[])
    for (period, start), kinds in view_groups(span).items():
        condition |= Q(**{f"{prefix}period": period, f"{prefix}start": start, f"{prefix}rule_period__in": kinds})
    return condition


@functools.lru_cache(maxsize=4096)  # a page reads hundreds of rows over the same few dozen spans
def _rule_span(rule_period, start):
    """The rule's span beginning on `start`."""
    return periods.span_of(rule_period, start)


def _begun(spans, counted_by):
    """(meetings counted, required, first day of the last span) of the spans begun by `counted_by`."""
    counted = required = 0
    last = None
    for start, held, needed, _rule in spans:
        start = date.fromisoformat(start)
        if start > counted_by:
            break
        counted, required, last = counted + min(held, needed), required + needed, start
    return counted, required, last


# On PostgreSQL, one statement written out (the ORM took a good part of a page's time building it): the rows of a
# view's parts for some organizations (by id, or under a path), and the figures of the spans begun worked out from
# `spans` only for the rows some of whose spans have not begun (a running view's months to come); the others'
# figures are their plain columns.
_READ = (
    "organization_id",
    "meeting_type",
    "rule_period",
    "first_judged",
    "unmet_start",
    "unmet_end",
    "counted",
    "required",
    "last_start",
)


@functools.lru_cache(maxsize=32)
def _statuses_sql(parts, by_path, all_begun):
    """The statement for a view of `parts` groups (`view_groups`), its organizations by path or by id; none of its
    rows has a span not begun when `all_begun` (a view read once its last day has come)."""
    table, organizations = ComplianceResult._meta.db_table, Organization._meta.db_table
    read = ", ".join(f"r.{name}" for name in _READ)
    under = f"JOIN {organizations} o ON o.id = r.organization_id AND o.path LIKE %s" if by_path else ""
    whose = "TRUE" if by_path else "r.organization_id = ANY(%s::bigint[])"
    views = " OR ".join(["(r.period = %s AND r.start = %s AND r.rule_period = ANY(%s::varchar[]))"] * parts)
    begun = (
        "LEFT JOIN LATERAL (SELECT sum(LEAST((e.v->>1)::int, (e.v->>2)::int)) AS counted, "
        "sum((e.v->>2)::int) AS required, max((e.v->>0)::date) AS last_start "
        "FROM jsonb_array_elements(r.spans) AS e(v) WHERE r.last_start > %s AND (e.v->>0)::date <= %s) AS b ON TRUE"
    )
    return (
        f"SELECT {read}, {'NULL, NULL, NULL' if all_begun else 'b.counted, b.required, b.last_start'} "  # noqa: S608 (fixed identifiers; values are parameters)
        f"FROM {table} r {under} {'' if all_begun else begun} "
        f"WHERE {whose} AND r.first_judged <= %s AND ({views})"
    )


def _read_in_sql(organization_ids, span, counted_by, path):
    """`statuses`' rows on PostgreSQL: [(row values in `_READ` order, (figures of the spans begun, or Nones))]."""
    groups = view_groups(span)
    params = [path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"] if path else []
    all_begun = counted_by >= span.end
    params += [] if all_begun else [counted_by, counted_by]
    params += [] if path else [list(organization_ids)]
    params.append(counted_by)
    for (period, start), rule_periods in groups.items():
        params += [period, start, list(rule_periods)]
    with connection.cursor() as cursor:
        cursor.execute(_statuses_sql(len(groups), bool(path), all_begun), params)
        return [(*row[:9], row[9:]) for row in cursor.fetchall()]


def statuses(organization_ids, span, today, within=None):
    """{organization id: {meeting type: FiguresStatus}} over the view, from the kept rows (one query). Read as
    plain tuples and plain columns, no span list decoded when every span of the view has begun (a page reads
    hundreds of rows). A type is judged once its first span has begun."""
    if not organization_ids:
        return {}
    counted_by = _counted_by(span, today)
    by_path = within is not None and len(organization_ids) > 500  # many under one: the path, not thousands of ids
    wanted = set(organization_ids) if by_path else None
    if connection.vendor == "postgresql":
        found = _read_in_sql(organization_ids, span, counted_by, within.path if by_path else None)
    else:
        rows = ComplianceResult.objects.filter(view_condition(span), first_judged__lte=counted_by)
        if by_path:
            rows = rows.filter(organization__path__startswith=within.path)
        else:
            rows = rows.filter(organization_id__in=organization_ids)
        found = [
            (*row[:9], _begun(row[9], counted_by) if row[8] > counted_by else (None,))
            for row in rows.values_list(*_READ, "spans")
        ]
    result, badges, language = defaultdict(dict), {}, translation.get_language()
    for org_id, meeting_type, rule_period, first, unmet_start, unmet_end, counted, required, last, begun in found:
        if wanted is not None and org_id not in wanted:
            continue
        if begun[0] is not None:  # some spans not begun: the figures of those begun
            counted, required, last = begun
        if unmet_start is None or unmet_start > counted_by:
            state = compliance.MET
        else:
            state = compliance.NOT_MET if unmet_end < today else compliance.IN_PROGRESS
        badge = badges.get((rule_period, first, last))
        if badge is None:  # a page's hundreds of cells have a handful of badges
            spans = (_rule_span(rule_period, first), _rule_span(rule_period, last))
            badge = badges[(rule_period, first, last)] = compliance._badge(*spans, language)
        result[org_id][meeting_type] = compliance.FiguresStatus(state, counted, required, badge)
    return result


def for_span(organizations, span, today, within=None, covered=None):
    """`compliance.for_span` from the kept rows when the span's year is kept: the same rows, read, not judged; each
    status as its figures (`compliance.FiguresStatus`: state, figure, badge), all a table, an export or the API
    shows."""
    if not organizations:
        return []
    if not (covered or covers(span)):
        return compliance.for_span(organizations, span, today, within=within)
    ids = [org.pk for org in organizations]
    found = statuses(ids, span, today, within=within)
    if within is None and connection.vendor == "postgresql":  # a page's organizations: the sums written out
        with connection.cursor() as cursor:
            cursor.execute(_ATTENDANCE, [ids, span.start, span.end])
            attendance = {org_id: figures for org_id, *figures in cursor.fetchall()}
    else:
        attendance = {
            org_id: (sums["present"], sums["expected"], sums["meetings"])
            for org_id, sums in compliance._attendance(compliance._of_orgs(organizations, within), span, False).items()
        }
    rows, types = [], compliance.MeetingType.values
    for org in organizations:
        row = compliance.ComplianceRow(org)
        if org.pk in attendance:
            present, expected, row.meetings = attendance[org.pk]
            row.present, row.expected = present or 0, expected or 0
        by_type = found.get(org.pk, {})
        row.statuses = {t: by_type[t] for t in types if t in by_type}
        rows.append(row)
    return rows


# The attendance of some organizations over a view's months (`compliance._attendance`, from the month summaries).
_ATTENDANCE = (
    "SELECT organization_id, sum(present), sum(expected), sum(held) "  # noqa: S608 (fixed identifiers)
    f"FROM {MonthSummary._meta.db_table} WHERE organization_id = ANY(%s::bigint[]) AND month BETWEEN %s AND %s "
    "GROUP BY organization_id"
)


class Ranking:
    """The organizations of a queryset ranked over a view: most rules not met first, then most in progress, then
    tree order (`reverse`: the other way round), each with `rules_not_met` and `rules_in_progress` set.

    Sliced like a list (a paginator pages through it): each slice is one query that joins the candidates to their
    kept standing in the view on the day (`ComplianceStanding`, one narrow row each, read from its key alone) and
    sorts them, the page's organizations coming out as instances. `len()` is the plain count.

    `few` candidates (a small subtree): the planner reaches their standings through them, and each instance also
    carries `judged_bits`, the meeting types any candidate is judged on (`judged_types` of a slice: the table's
    columns), counted over every candidate in the same query."""

    ORDERS = ("name", "code")  # the other orders a small subtree's table pages in (with its columns)

    def __init__(self, organizations, span, today, reverse=False, few=False, order=None):
        self.organizations, self.span, self.today, self.reverse = organizations, span, today, reverse
        self.few = few  # few candidates (a small subtree): the planner reaches their standings through them
        if order is not None and order not in self.ORDERS:
            raise ValueError(order)
        self.order = order  # by name or code (then tree order) instead of by standing

    def count(self):
        return self.organizations.count()

    __len__ = count

    def _sql(self):
        candidates_sql, candidates_params = self.organizations.order_by().query.sql_with_params()
        way, path_way = ("ASC", "DESC") if self.reverse else ("DESC", "ASC")
        judged = ", COALESCE(bit_or(s.judged) OVER (), 0) AS judged_bits" if self.few else ""
        if self.order is None:
            order = f"rules_not_met {way}, rules_in_progress {way}, c.path {path_way}"
        else:
            order = f"c.{self.order} {'DESC' if self.reverse else 'ASC'}, c.path ASC"
        sql = (
            "SELECT c.*, COALESCE(s.not_met, 0) AS rules_not_met, "  # noqa: S608 (compiled ORM SQL)
            f"COALESCE(s.in_progress, 0) AS rules_in_progress{judged} FROM ({candidates_sql}) AS c "
            f"LEFT JOIN {ComplianceStanding._meta.db_table} AS s "
            "ON s.organization_id = c.id AND s.start = %s AND s.period = %s AND s.day = %s "
            f"ORDER BY {order} LIMIT %s OFFSET %s"
        )
        day = standings.state_day(self.span, self.today)
        return sql, (*candidates_params, self.span.start, self.span.kind, day)

    def __getitem__(self, window):
        if not isinstance(window, slice):
            return self[window : window + 1][0]
        start, stop = window.start or 0, window.stop
        sql, params = self._sql()
        limit = (stop - start) if stop is not None else 10**9
        return list(self.organizations.model.objects.raw(sql, (*params, limit, start)))

    @staticmethod
    def judged_types(ranked):
        """The meeting types some candidate is judged on, from a slice of a ranking of `few` (empty: none)."""
        return standings.types_of(ranked[0].judged_bits) if ranked else set()


def types_judged(root, span, today, kind, sector=""):
    """The meeting types on which some organization of `kind` (and `sector`) under `root` is judged over the view
    (the table's columns). One query: an EXISTS per type that walks the view's index for that type and stops at its
    first row. A small subtree's columns come with its ranking instead (`Ranking.judged_types`): walking the view's
    index would read every row of a type none of its organizations is judged on."""
    rows = ComplianceResult.objects.filter(
        view_condition(span),
        first_judged__lte=_counted_by(span, today),
        organization__path__startswith=root.path,
        organization__kind=kind,
    )
    if sector:
        rows = rows.filter(organization__sector=sector)
    types = compliance.MeetingType.values
    found = {f"judged_{t}": Exists(rows.filter(meeting_type=t)) for t in types}
    # Any one row to carry the EXISTS: the year's own (kept, as the view reads its results).
    carried = ResultYear.objects.filter(year=span.start.year).annotate(**found).values_list(*found)[:1]
    judged = next(iter(carried), ())
    return {t for t, here in zip(types, judged, strict=False) if here}


def around_spans(today):
    """The spans the reminder job judges: for each period, the one running and the one before it."""
    spans = []
    for period in GRANULARITY:
        current = periods.span_of(period, today)
        spans += [periods.shift(current, -1), current]
    return spans


def unmet_around(today, spans=None):
    """[(organization id, meeting type, SpanCount)] for every rule span around `today` (`around_spans`, or those of
    them given) not met,
    from the kept rows: one query reading only the rows not met. A province has hundreds of thousands of them, so
    they come as plain tuples (no ORM conversion), each row's one span's figures taken out in SQL on PostgreSQL.
    None when a year of them is not kept."""
    spans = around_spans(today) if spans is None else spans
    kept = covered_years()
    if any(span.start.year not in kept for span in spans):
        return None
    condition = Q(pk__in=[])
    for span in spans:
        condition |= Q(rule_period=span.kind, period=span.kind, start=span.start)
    rows = ComplianceResult.objects.filter(condition, unmet_start__isnull=False).values_list(
        "organization_id", "meeting_type", "rule_period", "start", "spans"
    )
    sql, params = rows.order_by().query.sql_with_params()
    in_sql = connection.vendor == "postgresql"
    if in_sql:
        sql = (
            "SELECT r.o, r.t, r.p, r.s, (r.j -> 0 ->> 1)::integer, (r.j -> 0 ->> 2)::integer "  # noqa: S608
            f"FROM ({sql}) AS r(o, t, p, s, j)"
        )
    by_start = {(span.kind, span.start): span for span in spans}
    found = []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for organization_id, meeting_type, rule_period, start, *figures in cursor:
            if not in_sql:
                start = date.fromisoformat(str(start)[:10])
                _first, *figures, _rule = json.loads(figures[0])[0]
            span = by_start[(rule_period, start)]
            found.append((organization_id, meeting_type, compliance.SpanCount(span, *figures, span.end < today)))
    return found
