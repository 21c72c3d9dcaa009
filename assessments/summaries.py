"""Period summaries of responsibility duties and inspection findings: per organization and month.

One `DutyMonthSummary` row per organization and month (the month's first day; every day and moment is taken in
Beijing time, the portal's zone) holds:

- `duties_due`: the duties whose due date falls in the month, split by what became of them (so
  `duties_due == duties_on_time + duties_late + duties_open`):
  `duties_on_time` done on or before their due date (the day done is the day `completed_at` falls on in Beijing),
  `duties_late` done after it, `duties_open` not done yet.
- `findings_opened`: the findings recorded in the month (`created_at`), and of those `findings_open`, the ones not
  verified and closed yet (summed over months: what an organization has still open).
- `findings_closed`: the findings verified and closed in the month (`closed_at`), and of those
  `findings_closed_late`, closed after their rectification deadline.

No figure depends on today, so a row stays true until a record changes, and the services that change records keep
it current. Overdue is derived when read: a duty is overdue when open and its due date has passed, so a month
before today's month has all its `duties_open` overdue, a month after today's none, and today's month counts its
open duties due before today from the items themselves (`overdue()`: one query on the items' (organization,
status, due date) index, over one month). A finding is overdue on the same rule against its deadline, read from
the findings (its deadline is not its month).

- `refresh(keys)` recomputes the rows of some (organization id, month) keys from the records, inside the
  transaction of the service that changed them (item_add, item_complete, finding_add, finding_move and so
  finding_submit, inspection_delete): three queries whatever the number of keys.
- `refresh_issued(template)` is the set-based refresh of an issue (下发) to thousands of organizations: one
  statement locking the organizations that hold the template's list, one INSERT … SELECT … ON CONFLICT upsert.
- `rebuild(within=..., year=...)` recomputes every row of a subtree and/or a year, writes only the differences
  and returns how many rows differed (drift; expected 0). On PostgreSQL in set-based SQL.

Rows are keyed by organization id: moving an organization changes no row (roll-ups join the path when read).
A key left with no record keeps a row of zeros, read as no row (the rebuild removes it without counting drift).
"""

from datetime import date, datetime, time

from django.db import connection, transaction
from django.db.models import Count, DateField, F, Q, Value
from django.db.models.functions import Cast, TruncDate, TruncMonth
from django.utils import timezone

from assessments.models import (
    DutyMonthSummary,
    Finding,
    FindingState,
    ItemStatus,
    ResponsibilityItem,
    ResponsibilityList,
    TemplateItem,
)
from branches.models import Organization

FIGURES = DutyMonthSummary.FIGURES
ZERO = (0,) * len(FIGURES)


def month_of(day):
    return day.replace(day=1)


def next_month(month):
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _zone():
    return timezone.get_default_timezone()


def local_month(moment):
    """The month (its first day) a moment falls in, in Beijing time; None for None."""
    return None if moment is None else month_of(timezone.localtime(moment, _zone()).date())


def _starts(first_month, after_month):
    """The moments from the first month's start (Beijing) up to the start of the month after the last."""
    zone = _zone()
    return (datetime.combine(first_month, time.min, tzinfo=zone), datetime.combine(after_month, time.min, tzinfo=zone))


# ----------------------------------------------------------------------------------------------- recompute


def _month(field, zoned):
    truncated = TruncMonth(field, tzinfo=_zone()) if zoned else TruncMonth(field, output_field=DateField())
    return Cast(truncated, DateField())


def _parts(items, opened, closed):
    """The three grouped queries whose rows add up to the figures, each (organization id, month, *FIGURES):
    duties by due month, findings by the month recorded, findings by the month closed."""
    zero = {name: Value(0) for name in FIGURES}
    done = Q(status=ItemStatus.DONE)
    duties = (
        items.annotate(month=_month("due_on", zoned=False), done_day=TruncDate("completed_at", tzinfo=_zone()))
        .values("organization_id", "month")
        .annotate(
            duties_due=Count("pk"),
            duties_on_time=Count("pk", filter=done & (Q(completed_at=None) | Q(done_day__lte=F("due_on")))),
            duties_late=Count("pk", filter=done & Q(done_day__gt=F("due_on"))),
            duties_open=Count("pk", filter=~done),
            **{name: zero[name] for name in FIGURES[4:]},
        )
        .order_by()
    )
    recorded = (
        opened.annotate(month=_month("created_at", zoned=True))
        .values("organization_id", "month")
        .annotate(
            **{name: zero[name] for name in FIGURES[:4]},
            findings_opened=Count("pk"),
            findings_open=Count("pk", filter=~Q(state=FindingState.VERIFIED)),
            **{name: zero[name] for name in FIGURES[6:]},
        )
        .order_by()
    )
    verified = (
        closed.filter(state=FindingState.VERIFIED, closed_at__isnull=False)
        .annotate(month=_month("closed_at", zoned=True), closed_day=TruncDate("closed_at", tzinfo=_zone()))
        .values("organization_id", "month")
        .annotate(
            **{name: zero[name] for name in FIGURES[:6]},
            findings_closed=Count("pk"),
            findings_closed_late=Count("pk", filter=Q(closed_day__gt=F("deadline"))),
        )
        .order_by()
    )
    return duties, recorded, verified


def _combined(items, opened, closed):
    """One grouped SELECT (organization_id, month, *FIGURES) over the three parts: (sql, params).

    The parts are compiled by the ORM (values travel as parameters); only fixed identifiers are added here."""
    sqls, params = [], []
    for part in _parts(items, opened, closed):
        sql, part_params = part.query.sql_with_params()
        sqls.append(sql)
        params.extend(part_params)
    sums = ", ".join(f"SUM({name}) AS {name}" for name in FIGURES)
    union = " UNION ALL ".join(sqls)  # no parentheses: SQLite takes none around a compound's members
    sql = f"SELECT organization_id, month, {sums} FROM ({union}) parts GROUP BY organization_id, month"  # noqa: S608
    return sql, params  # (identifiers only: the values are the parts' parameters)


def _as_date(value):
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value


def _counted(items, opened, closed):
    """{(organization id, month): figures} for the records given, in one query."""
    sql, params = _combined(items, opened, closed)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return {(org_id, _as_date(month)): tuple(int(n or 0) for n in figures) for org_id, month, *figures in rows}


def key_of_item(item):
    return (item.organization_id, month_of(item.due_on))


def keys_of_finding(finding):
    """The rows a finding counts in: the month it was recorded and, once closed, the month it was closed."""
    keys = {(finding.organization_id, local_month(finding.created_at))}
    if finding.closed_at is not None:
        keys.add((finding.organization_id, local_month(finding.closed_at)))
    return keys


def lock(organization_ids):
    """Lock the organizations whose rows are about to be counted, so two services acting on one organization follow
    each other and the second counts the first's change (a no-op on SQLite, which writes one transaction at a time)."""
    list(Organization.objects.select_for_update().filter(pk__in=set(organization_ids)).order_by("pk").values("pk"))


def refresh(keys, *, locked=False):
    """Recompute the rows of the given (organization id, month) keys from the records.

    Called inside the transaction of the service that changed them: three queries (lock, count, upsert), no
    savepoint. A key left with no record keeps a row of zeros (read as no row)."""
    keys = {(org_id, month_of(month)) for org_id, month in keys if org_id is not None and month is not None}
    if not keys:
        return
    if not locked:
        lock(key[0] for key in keys)
    counted = _counted(*_scoped_to(keys))
    DutyMonthSummary.objects.bulk_create(
        [_row(key, counted.get(key, ZERO)) for key in sorted(keys)],
        update_conflicts=True,
        unique_fields=["organization", "month"],
        update_fields=FIGURES,
    )


def _scoped_to(keys):
    """(items, findings recorded, findings closed) of the given keys: half-open month ranges in Beijing time."""
    items, opened, closed = Q(pk__in=[]), Q(pk__in=[]), Q(pk__in=[])
    for org_id, month in keys:
        start, after = _starts(month, next_month(month))
        items |= Q(organization_id=org_id, due_on__gte=month, due_on__lt=next_month(month))
        opened |= Q(organization_id=org_id, created_at__gte=start, created_at__lt=after)
        closed |= Q(organization_id=org_id, closed_at__gte=start, closed_at__lt=after)
    return ResponsibilityItem.objects.filter(items), Finding.objects.filter(opened), Finding.objects.filter(closed)


def _row(key, figures):
    org_id, month = key
    return DutyMonthSummary(organization_id=org_id, month=month, **dict(zip(FIGURES, figures, strict=True)))


_TABLE = DutyMonthSummary._meta.db_table
_COLUMNS = ", ".join(("organization_id", "month", *FIGURES))
_UPSERT = (
    f"INSERT INTO {_TABLE} ({_COLUMNS}) SELECT {_COLUMNS} FROM ({{}}) counted WHERE 1 = 1 "  # noqa: S608 (identifiers)
    "ON CONFLICT (organization_id, month) DO UPDATE SET " + ", ".join(f"{name} = excluded.{name}" for name in FIGURES)
)


def refresh_issued(template):
    """The rows of every organization holding the template's list, in the months its items fall due in: set-based,
    for an issue to thousands of organizations (inside the issue's transaction).

    Two statements whatever the number of organizations: the organizations are locked (in id order, as `lock`
    does), then one INSERT … SELECT … ON CONFLICT recounts their months from the records. Issuing only adds
    duties, so every month recounted has a record and no row is left to zero."""
    holders = ResponsibilityList.objects.filter(template=template).values("organization_id")
    months = (
        TemplateItem.objects.filter(template=template)
        .annotate(month=_month("due_on", zoned=False))
        .values("month")
        .order_by()
    )
    items = ResponsibilityItem.objects.alias(in_month=_month("due_on", zoned=False))
    opened = Finding.objects.alias(in_month=_month("created_at", zoned=True))
    closed = Finding.objects.alias(in_month=_month("closed_at", zoned=True))
    items, opened, closed = (
        records.filter(organization_id__in=holders, in_month__in=months) for records in (items, opened, closed)
    )
    with connection.cursor() as cursor:
        if connection.features.has_select_for_update:
            holders_sql, holders_params = holders.query.sql_with_params()
            cursor.execute(
                f"SELECT count(*) FROM (SELECT id FROM {Organization._meta.db_table} "  # noqa: S608 (identifiers)
                f"WHERE id IN ({holders_sql}) ORDER BY id FOR UPDATE) locked",
                holders_params,
            )
        sql, params = _combined(items, opened, closed)
        cursor.execute(_UPSERT.format(sql), params)


# ----------------------------------------------------------------------------------------------- reading


def overdue(rows, today):
    """{organization id: duties overdue as of `today`} from summary rows: a month before today's month counts all its
    open duties, a later month none, and today's month its open duties due before today, counted from the items
    (one query over that month, only when a row of today's month has open duties)."""
    this_month = month_of(today)
    result, current = {}, set()
    for row in rows:
        result.setdefault(row.organization_id, 0)
        if row.month < this_month:
            result[row.organization_id] += row.duties_open
        elif row.month == this_month and row.duties_open:
            current.add(row.organization_id)
    if current:
        late = (
            ResponsibilityItem.objects.filter(
                organization_id__in=current, status=ItemStatus.OPEN, due_on__gte=this_month, due_on__lt=today
            )
            .values_list("organization_id")
            .annotate(n=Count("pk"))
            .order_by()
        )
        for org_id, n in late:
            result[org_id] += n
    return result


# ----------------------------------------------------------------------------------------------- rebuild


def _scope(within=None, year=None):
    """(items, findings recorded, findings closed, stored rows) of a subtree and/or a year."""
    items, opened, closed = ResponsibilityItem.objects.all(), Finding.objects.all(), Finding.objects.all()
    rows = DutyMonthSummary.objects.all()
    if within is not None:
        under = Q(organization__path__startswith=within.path)
        items, opened, closed, rows = (qs.filter(under) for qs in (items, opened, closed, rows))
    if year is not None:
        first, after = date(year, 1, 1), date(year + 1, 1, 1)
        start, end = _starts(first, after)
        items = items.filter(due_on__gte=first, due_on__lt=after)
        opened = opened.filter(created_at__gte=start, created_at__lt=end)
        closed = closed.filter(closed_at__gte=start, closed_at__lt=end)
        rows = rows.filter(month__gte=first, month__lt=after)
    return items, opened, closed, rows


def recomputed(within=None, year=None):
    """What the rows should hold, counted from the records: {(organization id, month): figures}."""
    items, opened, closed, _rows = _scope(within, year)
    return _counted(items, opened, closed)


def stored(within=None, year=None):
    """What the rows hold: {(organization id, month): figures} (rows of zeros are no rows)."""
    *_records, rows = _scope(within, year)
    return {row.key(): row.figures() for row in rows.order_by() if any(row.figures())}


BATCH = 5000


@transaction.atomic
def rebuild(*, within=None, year=None) -> int:
    """Recompute the rows of the organizations under `within` (all if None) for `year` (all if None) from their
    duties and findings; write only what differs and return the number of rows that differed (drift)."""
    items, opened, closed, rows = _scope(within, year)
    if connection.vendor == "postgresql":
        return _rebuild_in_sql(_combined(items, opened, closed), rows)
    wanted = _counted(items, opened, closed)
    have = {row.key(): row for row in rows.only("pk", "organization_id", "month", *FIGURES)}
    stale = [row.pk for key, row in have.items() if key not in wanted]
    drift = sum(1 for key, row in have.items() if key not in wanted and any(row.figures()))
    changed = []
    for key, row in have.items():
        figures = wanted.get(key)
        if figures is not None and row.figures() != figures:
            for name, value in zip(FIGURES, figures, strict=True):
                setattr(row, name, value)
            changed.append(row)
    missing = [_row(key, figures) for key, figures in wanted.items() if key not in have]
    for start in range(0, len(stale), BATCH):
        DutyMonthSummary.objects.filter(pk__in=stale[start : start + BATCH]).delete()
    DutyMonthSummary.objects.bulk_update(changed, FIGURES, batch_size=BATCH)
    DutyMonthSummary.objects.bulk_create(missing, batch_size=BATCH)
    return drift + len(changed) + len(missing)


# The SQL of the PostgreSQL rebuild: fixed identifiers only; values travel as parameters of the compiled ORM queries.
_KEY = ("organization_id", "month")
_WANTED = "CREATE TEMPORARY TABLE duty_summary_wanted AS {}"
_DIFF = (
    "CREATE TEMPORARY TABLE duty_summary_diff AS SELECT "  # noqa: S608 (identifiers only)
    + ", ".join(f"w.{name}" for name in _KEY + FIGURES)
    + ", h.id AS old_id, ("
    + " + ".join(f"h.{name}" for name in FIGURES)
    + ") AS old_total FROM duty_summary_wanted w FULL JOIN ({}) "
    + f"AS h(id, {_COLUMNS}) ON w.organization_id = h.organization_id AND w.month = h.month "
    + "WHERE w.organization_id IS NULL OR h.id IS NULL OR "
    + f"({', '.join('w.' + name for name in FIGURES)}) IS DISTINCT FROM "
    + f"({', '.join('h.' + name for name in FIGURES)})"
)
# rows the records no longer back count as drift, unless they are rows of zeros (read as no rows)
_DRIFT = "SELECT count(*) FROM duty_summary_diff WHERE organization_id IS NOT NULL OR old_total > 0"
_DELETE_GONE = (
    f"DELETE FROM {_TABLE} WHERE id IN "  # noqa: S608 (identifiers only)
    "(SELECT old_id FROM duty_summary_diff WHERE organization_id IS NULL)"
)
_UPDATE = (
    f"UPDATE {_TABLE} AS h SET "  # noqa: S608 (identifiers only)
    + ", ".join(f"{name} = d.{name}" for name in FIGURES)
    + " FROM duty_summary_diff d WHERE h.id = d.old_id AND d.organization_id IS NOT NULL"
)
_INSERT = (
    f"INSERT INTO {_TABLE} ({_COLUMNS}) SELECT {_COLUMNS} FROM duty_summary_diff "  # noqa: S608 (identifiers only)
    "WHERE old_id IS NULL ON CONFLICT (organization_id, month) DO UPDATE SET "
    + ", ".join(f"{name} = EXCLUDED.{name}" for name in FIGURES)
)


def _rebuild_in_sql(wanted, rows):
    """`rebuild` on PostgreSQL: the counts land in a temporary table, a full join with the stored rows keeps the
    differences, and only those are written, so the records never pass through Python."""
    wanted_sql, wanted_params = wanted
    have_sql, have_params = rows.values_list("pk", *_KEY, *FIGURES).order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS duty_summary_wanted, duty_summary_diff")
        cursor.execute(_WANTED.format(wanted_sql), wanted_params)
        cursor.execute(_DIFF.format(have_sql), have_params)
        cursor.execute(_DRIFT)
        drift = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM duty_summary_diff")
        if cursor.fetchone()[0]:
            cursor.execute(_DELETE_GONE)
            cursor.execute(_UPDATE)
            cursor.execute(_INSERT)
        cursor.execute("DROP TABLE duty_summary_wanted, duty_summary_diff")
    return drift
