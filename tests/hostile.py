"""The worst input a user, a script or a fuzzer can type: shared by the hostile-input tests of forms, query strings,
management commands and services.

`HOSTILE_EXAMPLES` (default 12) sets how many generated inputs each target gets; `bench/hostile` raises it and sets
`HOSTILE_REPORT`, a file to which every test adds what it tried (target, inputs, server errors, partial saves), so
that the figures can be printed and kept (bench/README.md).
"""

import json
import os
import urllib.parse
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "12"))
REPORT = os.environ.get("HOSTILE_REPORT", "")

# Hypothesis settings for every hostile test: no deadline (a page may take a while on a loaded machine), fixtures are
# per test on purpose (the database rolls back after the test, not after each example).
HOSTILE_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not REPORT,  # the suite is repeatable; the bench run explores
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Values that have broken web applications before, each for a reason.
CLASSICS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",  # a lone surrogate: not encodable in UTF-8, arrives as bytes that are not UTF-8
    "\udfff\ud800",
    "\u202eevil",  # right-to-left override
    "\ufeff",
    "'; DROP TABLE branches_meeting; --",
    '" OR 1=1 --',
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "{{ 7*7 }}",
    "%(name)s",
    "=1+1",
    "@SUM(A1)",
    "a;=4+4",
    "../../etc/passwd",
    "９９",  # full-width digits
    "٣",  # Arabic-Indic digit
    "𠀀𠀁",  # outside the Basic Multilingual Plane
    "党支部" * 400,
    "x" * 10_000,
    "-1",
    "0",
    "-0",
    "1e309",
    "NaN",
    "Infinity",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "2147483648",
    "0.000000000000000000001",
    "99999999999999999999.99",
    "0001-01-01",
    "9999-12-31",
    "10000-01-01",
    "2026-02-30",
    "2026-13-01",
    "2026-00-10",
    "1900-01-01T00:00",
    "2026-01-01T25:61",
    "2026年第5季度",
    "2026-Q9",
    "true",
    "null",
    "[]",
    "{}",
]


def _controls():
    return st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x1F), min_size=1, max_size=8)


TEXT = st.one_of(
    st.sampled_from(CLASSICS),
    st.text(max_size=40),
    st.text(alphabet=st.characters(categories=["Cc", "Cf", "Zs", "Lo", "Sm"]), max_size=30),
    _controls(),
    st.builds(lambda a, b, c: a + b + c, st.text(max_size=8), _controls(), st.sampled_from(CLASSICS)),
)
NUMBER = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
)
DAY = st.one_of(
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(str),
    st.datetimes().map(lambda moment: moment.isoformat()),
)
# Any one value a hostile field may receive.
VALUE = st.one_of(TEXT, NUMBER, DAY)


def urlencoded(pairs):
    """A form body or query string as a browser or a script would send it; a lone surrogate goes as the bytes it
    would have become (not UTF-8), which is what reaches a server from a broken client."""
    return urllib.parse.urlencode(pairs, encoding="utf-8", errors="surrogatepass")


def without_surrogates(text):
    return text.encode("utf-8", "replace").decode("utf-8")


def record(target, *, tried, server_errors=0, partial_saves=0):
    """Add what a test tried to the report `bench/hostile` prints (only when it asked for one)."""
    if not REPORT:
        return
    line = {"target": target, "tried": tried, "server_errors": server_errors, "partial_saves": partial_saves}
    with open(REPORT, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line, ensure_ascii=False) + "\n")


# --- values as services receive them (already typed by a form, an API serializer or a script) ---------------------

# Dates from the first day of the calendar to its last, the limits themselves more often than chance would give.
DATES = st.one_of(
    st.sampled_from([date(1, 1, 1), date(1900, 1, 1), date(1920, 12, 31), date(2101, 1, 1), date(9999, 12, 31)]),
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
)
# Moments in any time zone, from the first to the last a datetime can hold.
MOMENTS = st.one_of(
    st.sampled_from([datetime.min, datetime.max]).map(lambda moment: moment.replace(tzinfo=UTC)),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=12))])),
)
INTEGERS = st.one_of(
    st.sampled_from([-(2**63) - 1, -(2**63), -(2**31) - 1, -1, 0, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64, 10**30]),
    st.integers(min_value=-(2**70), max_value=2**70),
)
DECIMALS = st.one_of(
    st.sampled_from([Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity"), Decimal("1E+999")]),
    st.decimals(allow_nan=True, allow_infinity=True),
)
# What a file may hold: nothing, garbage, a valid header over garbage, or far too much of one byte.
CONTENTS = st.one_of(
    st.sampled_from([b"", b"\x00", b"%PDF-1.4\n" + b"\x00" * 64, b"\x89PNG\r\n\x1a\n" + b"\xff" * 64, b"PK\x03\x04"]),
    st.binary(max_size=256),
)
