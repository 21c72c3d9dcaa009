"""Standings: how many of an organization's meeting rules stand not met and in progress in a view (a year, a
quarter or a month), as ranking counts them on a given day, kept as rows (`ComplianceStanding`).

A view reads the organization's result rows of its parts (`parts`). Ranking on a day counts a row
not met when its first span not met ended before the day, and in progress when that span began by the later of
the day and the view's first day and has not ended. Spans are whole months, quarters or years, so the counts only
change on the first day of a month inside the view and, after it, on the day after the view, after its quarter and
after its year (a coarser rule's span runs on). Those days are the view's *states* (`state_days`); a state holds
from its day to the day before the next, and every day before the view is its first state.

Rows exist for every state of every view an organization has some result row in, met or not, so keeping them
current after a meeting only updates counts. Pure functions of the result rows: `results` writes them with the
rows they come from.

Each row also says on which meeting types the organization is judged in that state (`judged`, one bit per type,
`TYPE_BITS`): a type whose first span judged began by the state's day. A small subtree's table takes its columns
from these bits, read with the ranking, instead of walking every candidate's result rows once more.
"""

import functools
from bisect import bisect_right
from collections import defaultdict
from datetime import date, timedelta

from branches import periods
from branches.models import MeetingType, Period

GRANULARITY = periods.GRANULARITY

# One bit per meeting type, in the order of `MeetingType` (a new type takes the next bit; none is ever renumbered).
TYPE_BITS = {meeting_type: 1 << number for number, meeting_type in enumerate(MeetingType.values)}


def types_of(bits):
    """The meeting types whose bits are set in `bits`."""
    return {meeting_type for meeting_type, bit in TYPE_BITS.items() if bits & bit}


@functools.lru_cache(maxsize=64)
def views_of(year):
    """Every view of a year: the year, its quarters, its months."""
    year_span = periods.span_of(Period.YEAR, date(year, 1, 1))
    return [year_span] + periods.spans_within(Period.QUARTER, year_span) + periods.spans_within(Period.MONTH, year_span)


@functools.lru_cache(maxsize=1024)
def state_days(view):
    """The first days of the view's states, in order (see the module's docstring)."""
    days = {month.start for month in periods.spans_within(Period.MONTH, view)}
    after = {view.end + timedelta(days=1), date(view.start.year + 1, 1, 1)}
    if view.kind == Period.MONTH:
        after.add(periods.span_of(Period.QUARTER, view.start).end + timedelta(days=1))
    return tuple(sorted(days | after))


def state_day(view, today):
    """The first day of the state holding on `today`."""
    days = state_days(view)
    return days[max(bisect_right(days, today) - 1, 0)]


def parts(view):
    """The result rows a view reads, one (rule period, period, start) per rule period: the view's own fold for a
    finer rule, else the rule's own span holding the view."""
    found = []
    for rule_period in GRANULARITY:
        period = max(rule_period, view.kind, key=GRANULARITY.get)
        found.append((rule_period, period, periods.span_of(period, view.start).start))
    return tuple(found)


@functools.lru_cache(maxsize=64)
def layout(year):
    """{(rule period, period, start) of a result row: [views of the year reading it]}."""
    found = defaultdict(list)
    for view in views_of(year):
        for part in parts(view):
            found[part].append(view)
    return dict(found)


def counts(rows, year):
    """{(organization id, period, start, day): (not met, in progress, judged)} from a year's result rows, given as
    (organization id, meeting type, rule period, period, start, first judged, unmet start, unmet end)."""
    views = layout(year)
    read = defaultdict(list)  # (organization id, view) -> [(type bit, first judged, unmet start, unmet end)]
    for org_id, meeting_type, rule_period, period, start, first_judged, unmet_start, unmet_end in rows:
        for view in views.get((rule_period, period, start), ()):
            read[(org_id, view)].append((TYPE_BITS[meeting_type], first_judged, unmet_start, unmet_end))
    found = {}
    for (org_id, view), of_view in read.items():
        unmet = [(first, last) for _bit, _judged, first, last in of_view if last is not None]
        for day in state_days(view):
            not_met = sum(1 for _first, last in unmet if last < day)
            in_progress = sum(1 for first, last in unmet if first <= day <= last)
            judged = 0
            for bit, first_judged, _first, _last in of_view:
                if first_judged <= day:
                    judged |= bit
            found[(org_id, view.kind, view.start, day)] = (not_met, in_progress, judged)
    return found


@functools.lru_cache(maxsize=64)
def layout_rows(year):
    """The layout as flat rows for SQL: [view period, view start, state day, rule period, period, start], one per
    state of every view and part it reads."""
    return [
        [view.kind, view.start.isoformat(), day.isoformat(), rule_period, period, start.isoformat()]
        for view in views_of(year)
        for day in state_days(view)
        for rule_period, period, start in parts(view)
    ]
