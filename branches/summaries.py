"""Period summaries: per organization, month, meeting type (and party group) what was held and how it was logged.

`judge()` in compliance.py reads these rows instead of the raw meetings, so the reviewer's table, the owed page,
the reminders and the exports cost a few indexed reads whatever the number of meetings.

- `refresh(keys)` recomputes some rows (organization, month, type, group) from their meetings. The services that
  change meetings (saved, corrected, deleted, attendance recounted) call it inside their own transaction, so a
  summary is never seen out of step with its meetings. It costs three queries whatever the number of keys.
- `rebuild(within=..., year=...)` recomputes every row of a subtree and/or a year with one aggregate query, writes
  only the differences, and returns how many rows differed (drift; expected 0).

The figures of a row: meetings `held`, members `expected` and `present` (summed over those meetings), meetings
`logged_late` (logged more than `ComplianceSetting.late_log_days` days after the day held, in Beijing time) and
meetings `logged_last_two_weeks` (logged in the last fourteen days of the month they were held in).

Moving an organization changes no row (subtree roll-ups join the organization's path at read time); requirement
versions and lifetimes are applied by compliance.py when judging. Duties and findings are not summarized yet.
"""

import calendar
from datetime import date, timedelta

from django.db import connection, transaction
from django.db.models import Count, DateField, ExpressionWrapper, F, Q, Subquery, Sum
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from branches import results
from branches.models import ComplianceSetting, Meeting, MonthSummary, Organization, SummaryRun

FORTNIGHT = timedelta(days=14)
ZERO = (0, 0, 0, 0, 0)


def month_of(day):
    return day.replace(day=1)


def month_end(month):
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def logged_on(logged_at):
    """The day a record was logged, in the portal's time zone (the zone `held_on` is counted in)."""
    return timezone.localtime(logged_at, timezone.get_default_timezone()).date()


def is_late(held_on, logged_day, late_days):
    return (logged_day - held_on).days > late_days


def in_last_two_weeks(held_on, logged_day):
    """Logged in the last fourteen days of the month the meeting was held in."""
    end = month_end(month_of(held_on))
    return end - FORTNIGHT < logged_day <= end


def _late_days():
    return ComplianceSetting.current().late_log_days


def _late_days_query():
    return Subquery(ComplianceSetting.objects.order_by("pk").values("late_log_days")[:1])


# ----------------------------------------------------------------------------------------------- recompute


def _aggregated(meetings, late_days):
    """{(org id, month, type, group id): figures} for the meetings, in one grouped query."""
    result = {}
    for org_id, month, meeting_type, group_id, held, expected, present, late, last in _aggregate(meetings, late_days):
        month = month.date() if hasattr(month, "date") else month
        if isinstance(month, str):
            month = date.fromisoformat(month[:10])
        result[(org_id, month, meeting_type, group_id or 0)] = (held, expected or 0, present or 0, late, last)
    return result


def _aggregate(meetings, late_days):
    """The grouped query: (org id, month, type, group id or None, held, expected, present, late, last two weeks)."""
    logged_day = TruncDate("logged_at", tzinfo=timezone.get_default_timezone())
    return (
        meetings.annotate(
            month=TruncMonth("held_on", output_field=DateField()),
            logged_day=logged_day,
            late_after=ExpressionWrapper(F("held_on") + timedelta(days=late_days), output_field=DateField()),
            fortnight_month=TruncMonth(
                ExpressionWrapper(logged_day + FORTNIGHT, output_field=DateField()), output_field=DateField()
            ),
            logged_month=TruncMonth(logged_day, output_field=DateField()),
        )
        .values_list("organization_id", "month", "meeting_type", "party_group_id")
        .annotate(
            held=Count("pk"),
            expected=Sum("expected_count"),
            present=Sum("present_count"),
            late=Count("pk", filter=Q(logged_day__gt=F("late_after"))),
            last=Count("pk", filter=Q(logged_month=F("month")) & ~Q(fortnight_month=F("month"))),
        )
        .order_by()
    )


def _counted(meetings):
    """The same figures counted in Python from the meetings' rows, with the setting read in the same query
    (for the few meetings of a refresh: one query, where `_aggregated` needs the setting first)."""
    result = {}
    rows = meetings.annotate(late_days=_late_days_query()).values_list(
        "organization_id",
        "held_on",
        "meeting_type",
        "party_group_id",
        "expected_count",
        "present_count",
        "logged_at",
        "late_days",
    )
    default = ComplianceSetting._meta.get_field("late_log_days").default
    for org_id, held_on, meeting_type, group_id, expected, present, logged_at, late_days in rows.order_by():
        key = (org_id, month_of(held_on), meeting_type, group_id or 0)
        logged_day = logged_on(logged_at)
        late = is_late(held_on, logged_day, default if late_days is None else late_days)
        figures = (1, expected, present, int(late), int(in_last_two_weeks(held_on, logged_day)))
        before = result.get(key, ZERO)
        result[key] = tuple(a + b for a, b in zip(before, figures, strict=True))
    return result


def _row_fields(key, figures):
    org_id, month, meeting_type, group_id = key
    return {
        "organization_id": org_id,
        "month": month,
        "meeting_type": meeting_type,
        "party_group": group_id,
        **dict(zip(MonthSummary.FIGURES, figures, strict=True)),
    }


def _row(key, figures):
    return MonthSummary(**_row_fields(key, figures))


def key_of(meeting):
    """The summary row a meeting counts in: (organization id, month, meeting type, party group id or 0)."""
    return (meeting.organization_id, month_of(meeting.held_on), meeting.meeting_type, meeting.party_group_id or 0)


def lock(organization_ids):
    """Lock the organizations whose summaries are about to be counted, so two saves for one branch follow each
    other and the second counts the first's meeting (a no-op on SQLite, which writes one transaction at a time)."""
    list(Organization.objects.select_for_update().filter(pk__in=set(organization_ids)).order_by("pk").values("pk"))


def stored_key(meeting):
    """The key a meeting counts in as stored (a form may have changed the instance already), its branch locked."""
    row = (
        Meeting.objects.select_related("organization")
        .select_for_update(of=("organization",))
        .only("organization_id", "held_on", "meeting_type", "party_group_id", "organization__id")
        .get(pk=meeting.pk)
    )
    return key_of(row)


def refresh(keys, *, locked=False):
    """Recompute the summary rows of the given keys (`key_of` a meeting, before and after a change) from the meetings.

    Called inside the transaction of the service that changed the meetings: three queries, no savepoint. The
    organizations are locked first, so two saves for one branch follow each other and each counts the other's
    meeting (`locked`: the caller has locked them already); a key left with no meeting keeps a row of zeros (read as
    no row; the rebuild removes it)."""
    keys = {key for key in keys if key is not None}
    if not keys:
        return
    if not locked:
        lock(key[0] for key in keys)
    of_meetings = Q(pk__in=[])
    for org_id, month, meeting_type, group_id in keys:
        of_meetings |= Q(
            organization_id=org_id,
            held_on__range=(month, month_end(month)),
            meeting_type=meeting_type,
            party_group_id=group_id or None,
        )
    if connection.vendor == "postgresql":
        _recount_in_sql(sorted(keys))
    else:
        counted = _counted(Meeting.objects.filter(of_meetings))
        MonthSummary.objects.bulk_create(
            [_row(key, counted.get(key, ZERO)) for key in sorted(keys)],
            update_conflicts=True,
            unique_fields=["organization", "month", "meeting_type", "party_group"],
            update_fields=MonthSummary.FIGURES,
        )
    results.follow_meetings(keys)


# The refresh on PostgreSQL: the keys' meetings counted and written in one statement (a key left with no meeting
# gets a row of zeros), the late-logging setting read inside it. Days logged are counted in the portal's zone.
_RECOUNT = (
    f"INSERT INTO {MonthSummary._meta.db_table} "  # noqa: S608 (fixed identifiers; values are parameters)
    "(organization_id, month, meeting_type, party_group, held, expected, present, logged_late, logged_last_two_weeks) "
    "SELECT k.org, k.month, k.type, k.grp, count(m.id), COALESCE(sum(m.expected_count), 0), "
    "COALESCE(sum(m.present_count), 0), "
    "count(m.id) FILTER (WHERE (m.logged_at AT TIME ZONE %s)::date > m.held_on + s.days), "
    "count(m.id) FILTER (WHERE (m.logged_at AT TIME ZONE %s)::date "
    "BETWEEN (k.month + interval '1 month' - interval '14 days')::date "
    "AND (k.month + interval '1 month' - interval '1 day')::date) "
    "FROM (VALUES {}) AS k(org, month, type, grp) "
    f"CROSS JOIN (SELECT COALESCE((SELECT late_log_days FROM {ComplianceSetting._meta.db_table} "
    "ORDER BY id LIMIT 1), %s) AS days) AS s "
    f"LEFT JOIN {Meeting._meta.db_table} m ON m.organization_id = k.org AND m.meeting_type = k.type "
    "AND m.held_on >= k.month AND m.held_on < k.month + interval '1 month' "
    "AND COALESCE(m.party_group_id, 0) = k.grp "
    "GROUP BY k.org, k.month, k.type, k.grp, s.days "
    "ON CONFLICT (organization_id, month, meeting_type, party_group) DO UPDATE SET "
    + ", ".join(f"{name} = EXCLUDED.{name}" for name in MonthSummary.FIGURES)
)


def _recount_in_sql(keys):
    zone = str(timezone.get_default_timezone())
    values = ", ".join(["(%s::bigint, %s::date, %s::varchar, %s::bigint)"] * len(keys))
    params = [zone, zone, *(value for key in keys for value in key)]
    params.append(ComplianceSetting._meta.get_field("late_log_days").default)
    with connection.cursor() as cursor:
        cursor.execute(_RECOUNT.format(values), params)


def _scope(within=None, year=None, organization_ids=None):
    meetings, summaries = Meeting.objects.all(), MonthSummary.objects.all()
    if within is not None:
        meetings = meetings.filter(organization__path__startswith=within.path)
        summaries = summaries.filter(organization__path__startswith=within.path)
    if organization_ids is not None:
        meetings = meetings.filter(organization_id__in=organization_ids)
        summaries = summaries.filter(organization_id__in=organization_ids)
    if year is not None:
        meetings = meetings.filter(held_on__range=(date(year, 1, 1), date(year, 12, 31)))
        summaries = summaries.filter(month__range=(date(year, 1, 1), date(year, 12, 1)))
    return meetings, summaries


def recomputed(within=None, year=None):
    """What the summaries should hold, computed from the records: {key: figures} (for checks and tests)."""
    meetings, _summaries = _scope(within, year)
    return _aggregated(meetings, _late_days())


def stored(within=None, year=None):
    """What the summaries hold: {key: figures} (rows of zeros, left by a meeting moved or deleted, are no rows)."""
    _meetings, summaries = _scope(within, year)
    return {row.key(): row.figures() for row in summaries.filter(held__gt=0).order_by()}


BATCH = 5000


@transaction.atomic
def rebuild(*, within=None, year=None) -> int:
    """Recompute the summaries of the organizations under `within` (all if None) for `year` (all if None) from
    their meetings; write only what differs and return the number of rows that differed (drift)."""
    meetings, summaries = _scope(within, year)
    if connection.vendor == "postgresql":
        return _rebuild_in_sql(meetings, summaries)
    wanted = _aggregated(meetings, _late_days())
    fields = ("pk", "organization_id", "month", "meeting_type", "party_group", *MonthSummary.FIGURES)
    have = {row.key(): row for row in summaries.only(*fields)}
    stale = [row.pk for key, row in have.items() if key not in wanted]
    drift = sum(1 for key, row in have.items() if key not in wanted and row.held)  # zeros are no rows: no drift
    changed = []
    for key, row in have.items():
        figures = wanted.get(key)
        if figures is not None and row.figures() != figures:
            for name, value in zip(MonthSummary.FIGURES, figures, strict=True):
                setattr(row, name, value)
            changed.append(row)
    missing = [_row(key, figures) for key, figures in wanted.items() if key not in have]
    for start in range(0, len(stale), BATCH):
        MonthSummary.objects.filter(pk__in=stale[start : start + BATCH]).delete()
    MonthSummary.objects.bulk_update(changed, MonthSummary.FIGURES, batch_size=BATCH)
    MonthSummary.objects.bulk_create(missing, batch_size=BATCH)
    return drift + len(changed) + len(missing)


# The SQL of the PostgreSQL rebuild: fixed identifiers only; values travel as parameters of the compiled ORM queries.
_KEY = ("organization_id", "month", "meeting_type", "party_group")
_SAME_KEY = " AND ".join(f"w.{name} = h.{name}" for name in _KEY)
_TABLE = MonthSummary._meta.db_table
_COLUMNS = ", ".join(_KEY + MonthSummary.FIGURES)
_WANTED = (
    "CREATE TEMPORARY TABLE summary_wanted AS SELECT organization_id, month::date AS month, meeting_type, "
    "COALESCE(group_id, 0) AS party_group, held, COALESCE(expected, 0) AS expected, COALESCE(present, 0) AS present, "
    "late AS logged_late, last AS logged_last_two_weeks "
    "FROM ({}) AS a(organization_id, month, meeting_type, group_id, held, expected, present, late, last)"
)
_DIFF = (
    "CREATE TEMPORARY TABLE summary_diff AS SELECT "  # noqa: S608 (identifiers only)
    + ", ".join(f"w.{name}" for name in _KEY + MonthSummary.FIGURES)
    + " , h.id AS old_id, h.held AS old_held FROM summary_wanted w FULL JOIN ({}) "
    + f"AS h(id, {_COLUMNS}) ON {_SAME_KEY} WHERE w.organization_id IS NULL OR h.id IS NULL OR "
    + f"({', '.join('w.' + name for name in MonthSummary.FIGURES)}) IS DISTINCT FROM "
    + f"({', '.join('h.' + name for name in MonthSummary.FIGURES)})"
)
# rows the records no longer back count as drift, unless they are rows of zeros (read as no rows)
_DRIFT = "SELECT count(*) FROM summary_diff WHERE organization_id IS NOT NULL OR old_held > 0"
_DELETE_GONE = (
    f"DELETE FROM {_TABLE} WHERE id IN "  # noqa: S608 (identifiers only)
    "(SELECT old_id FROM summary_diff WHERE organization_id IS NULL)"
)
_UPDATE = (
    f"UPDATE {_TABLE} AS h SET "  # noqa: S608 (identifiers only)
    + ", ".join(f"{name} = d.{name}" for name in MonthSummary.FIGURES)
    + " FROM summary_diff d WHERE h.id = d.old_id AND d.organization_id IS NOT NULL"
)
_INSERT = (
    f"INSERT INTO {_TABLE} ({_COLUMNS}) SELECT {_COLUMNS} FROM summary_diff "  # noqa: S608 (identifiers only)
    f"WHERE old_id IS NULL ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET "
    + ", ".join(f"{name} = EXCLUDED.{name}" for name in MonthSummary.FIGURES)
)


_FIRST_BUILD = (
    f"INSERT INTO {_TABLE} ({_COLUMNS}) "  # noqa: S608 (identifiers only)
    "SELECT organization_id, month::date, meeting_type, COALESCE(group_id, 0), held, COALESCE(expected, 0), "
    "COALESCE(present, 0), late, last "
    "FROM ({}) AS a(organization_id, month, meeting_type, group_id, held, expected, present, late, last)"
)


def _rebuild_in_sql(meetings, summaries):
    """`rebuild` on PostgreSQL: the aggregate lands in a temporary table, a full join with the stored rows keeps
    the differences, and only those are written, so millions of rows never pass through Python."""
    wanted_sql, wanted_params = _aggregate(meetings, _late_days()).query.sql_with_params()
    if not summaries.exists():  # nothing kept yet (a first build): every row is new, no comparison to make
        with connection.cursor() as cursor:
            cursor.execute(_FIRST_BUILD.format(wanted_sql), wanted_params)
            return cursor.rowcount
    have = summaries.values_list("pk", *_KEY, *MonthSummary.FIGURES).order_by()
    have_sql, have_params = have.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS summary_wanted, summary_diff")
        cursor.execute(_WANTED.format(wanted_sql), wanted_params)
        cursor.execute(_DIFF.format(have_sql), have_params)
        cursor.execute(_DRIFT)
        drift = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM summary_diff")
        if cursor.fetchone()[0]:
            cursor.execute(_DELETE_GONE)
            cursor.execute(_UPDATE)
            cursor.execute(_INSERT)
        cursor.execute("DROP TABLE summary_wanted, summary_diff")
    return drift


# Other apps' summaries rebuilt with these (duties and findings): (what they are, `rebuild(*, within, year) -> drift`).
_OTHER_REBUILDS = []
MEETING_SUMMARIES = _("meeting month summaries")


def also_rebuild(rebuild_other, label=None):
    if all(rebuild_other is not known for _label, known in _OTHER_REBUILDS):
        _OTHER_REBUILDS.append((label or rebuild_other.__module__, rebuild_other))


def rebuild_each(*, within=None, year=None) -> list[tuple[str, int]]:
    """Rebuild every kind of kept figure (the month summaries, each kept year's compliance results, the other
    apps' summaries) and say how many rows of each were out of step: [(what, drift)]. Inside a transaction that is
    then rolled back, it finds the drift and changes nothing (`branches.integrity` checks so)."""
    found = [(MEETING_SUMMARIES, rebuild(within=within, year=year))]
    for kept in [year] if year is not None else sorted(results.covered_years()):
        found.append((results.RESULTS_OF_YEAR % {"year": kept}, results.rebuild(within=within, year=kept)))
    for label, rebuild_other in _OTHER_REBUILDS:
        found.append((label, rebuild_other(within=within, year=year)))
    return found


def run(*, source, within=None, year=None) -> SummaryRun:
    """Rebuild with a record of the run (what the jobs page lists): scope, drift found and fixed, duration."""
    record = SummaryRun.objects.create(source=source, organization=within, year=year)
    record.drift = sum(drift for _label, drift in rebuild_each(within=within, year=year))
    record.finished_at = timezone.now()
    record.save(update_fields=["drift", "finished_at"])
    return record


def nightly(today) -> list[SummaryRun]:
    """The nightly job: this year's summaries, and last year's too in January (December's may still change)."""
    years = sorted({today.year, (today - timedelta(days=31)).year})
    return [run(source=SummaryRun.Source.NIGHTLY, year=year) for year in years]
