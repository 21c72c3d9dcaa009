"""Calendar periods (month, quarter, year) in Beijing time, as plain dates."""

import functools
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from branches.models import Period
from branches.validators import FIRST_YEAR, LAST_YEAR  # the calendar every date field keeps


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


@functools.lru_cache(maxsize=8192)  # a pure function of its arguments, called for every cell of every table
def span_of(kind, day):
    """The month, quarter or year containing `day`."""
    if kind == Period.MONTH:
        return Span(kind, day.replace(day=1), _month_end(day.year, day.month))
    if kind == Period.QUARTER:
        first_month = (day.month - 1) // 3 * 3 + 1
        return Span(kind, date(day.year, first_month, 1), _month_end(day.year, first_month + 2))
    return Span(Period.YEAR, date(day.year, 1, 1), date(day.year, 12, 31))


_CHINESE_DIGITS = str.maketrans("一二三四五六七八九", "123456789")
_YEAR = re.compile(r"(\d{4})年?")
_MONTH = re.compile(r"(\d{4})(?:[-–/.]|年)(\d{1,2})月?")
_QUARTER = re.compile(r"(\d{4})(?:[-–/.]|年)?(?:Q(\d{1,2})|第?(\d{1,2})季度?)")
EXAMPLES = "2026、2026-Q4、2026-11"


def parse(text):
    """The span a user typed: a year (2026, 2026年), a quarter (2026-Q4, 2026 Q4, 2026q4, 2026年第4季度,
    2026年第四季度) or a month (2026-11, 2026/11, 2026年11月); full-width digits too.

    Raises ValidationError, with a message to show beside the field, for anything else.
    """
    key = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text or "")).upper().translate(_CHINESE_DIGITS)
    if match := _YEAR.fullmatch(key):
        return span_of(Period.YEAR, date(_year(match[1]), 1, 1))
    if match := _MONTH.fullmatch(key):
        month = int(match[2])
        if not 1 <= month <= 12:
            raise ValidationError(
                _("There is no month %(month)d: months run from 1 to 12."), code="month", params={"month": month}
            )
        return span_of(Period.MONTH, date(_year(match[1]), month, 1))
    if match := _QUARTER.fullmatch(key):
        quarter = int(match[2] or match[3])
        if not 1 <= quarter <= 4:
            raise ValidationError(
                _("There is no quarter %(quarter)d: quarters run from 1 to 4."),
                code="quarter",
                params={"quarter": quarter},
            )
        return span_of(Period.QUARTER, date(_year(match[1]), quarter * 3 - 2, 1))
    raise ValidationError(
        _("“%(text)s” is not a period. Type a year, a quarter or a month, e.g. %(examples)s."),
        code="invalid",
        params={"text": text, "examples": EXAMPLES},
    )


def _year(digits):
    year = int(digits)
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValidationError(
            _("The year must lie between %(first)d and %(last)d."),
            code="year",
            params={"first": FIRST_YEAR, "last": LAST_YEAR},
        )
    return year


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


def next_start(kinds, today):
    """The first day of the next period of the coarsest of `kinds` after the one running on `today`:
    the earliest day from which a rule of those kinds can change without splitting a period."""
    return shift(span_of(coarsest(kinds), today), 1).start


def coarsest(kinds):
    return max(kinds, key=GRANULARITY.get)


def shift(span, steps):
    """The span `steps` periods before (negative) or after (positive) this one, of the same kind."""
    months = {Period.MONTH: 1, Period.QUARTER: 3, Period.YEAR: 12}[span.kind] * steps
    index = span.start.year * 12 + span.start.month - 1 + months
    return span_of(span.kind, date(index // 12, index % 12 + 1, 1))
