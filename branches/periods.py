"""Calendar periods (month, quarter, year) in Beijing time, as plain dates."""

from dataclasses import dataclass
from datetime import date, timedelta

from django.utils.translation import gettext as _

from branches.models import Period


@dataclass(frozen=True, order=True)
class Span:
    kind: str
    start: date
    end: date  # inclusive

    @property
    def label(self):
        if self.kind == Period.MONTH:
            return _("%(year)d-%(month)02d") % {"year": self.start.year, "month": self.start.month}
        if self.kind == Period.QUARTER:
            return _("%(year)d Q%(quarter)d") % {"year": self.start.year, "quarter": (self.start.month - 1) // 3 + 1}
        return str(self.start.year)

    @property
    def key(self):
        """What a URL carries: 2026, 2026-Q3 or 2026-07."""
        if self.kind == Period.MONTH:
            return f"{self.start:%Y-%m}"
        if self.kind == Period.QUARTER:
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        return str(self.start.year)

    def days_left(self, today):
        return (self.end - today).days


def _month_end(year, month):
    return (date(year + month // 12, month % 12 + 1, 1)) - timedelta(days=1)


def span_of(kind, day):
    """The month, quarter or year containing `day`."""
    if kind == Period.MONTH:
        return Span(kind, day.replace(day=1), _month_end(day.year, day.month))
    if kind == Period.QUARTER:
        first_month = (day.month - 1) // 3 * 3 + 1
        return Span(kind, date(day.year, first_month, 1), _month_end(day.year, first_month + 2))
    return Span(Period.YEAR, date(day.year, 1, 1), date(day.year, 12, 31))


def parse(key, today):
    """A span from its key (2026, 2026-Q3, 2026-07); today's quarter when the key is missing or wrong."""
    key = (key or "").strip().upper()
    try:
        if len(key) == 4:
            return span_of(Period.YEAR, date(int(key), 1, 1))
        if len(key) == 7 and key[4:6] == "-Q" and key[6] in "1234":
            return span_of(Period.QUARTER, date(int(key[:4]), (int(key[6]) - 1) * 3 + 1, 1))
        if len(key) == 7 and key[4] == "-":
            return span_of(Period.MONTH, date(int(key[:4]), int(key[5:]), 1))
    except ValueError:
        pass
    return span_of(Period.QUARTER, today)


def spans_within(kind, outer):
    """The `kind` spans that make up `outer` (a coarser or equal span), in order."""
    spans, day = [], outer.start
    while day <= outer.end:
        span = span_of(kind, day)
        spans.append(span)
        day = span.end + timedelta(days=1)
    return spans


GRANULARITY = {Period.MONTH: 1, Period.QUARTER: 2, Period.YEAR: 3}


def counting_spans(requirement_period, chosen, today):
    """The spans over which a requirement is judged inside the chosen span.

    A finer requirement (monthly, seen over a quarter) is judged in each of its periods that has begun;
    a coarser one (yearly, seen over a month) in the one period that contains the chosen span.
    """
    if GRANULARITY[requirement_period] >= GRANULARITY[chosen.kind]:
        return [span_of(requirement_period, chosen.start)]
    return [span for span in spans_within(requirement_period, chosen) if span.start <= max(today, chosen.start)]


def shift(span, steps):
    """The span `steps` periods before (negative) or after (positive) this one, of the same kind."""
    months = {Period.MONTH: 1, Period.QUARTER: 3, Period.YEAR: 12}[span.kind] * steps
    index = span.start.year * 12 + span.start.month - 1 + months
    return span_of(span.kind, date(index // 12, index % 12 + 1, 1))
