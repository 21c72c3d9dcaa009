"""How the reviewer's table judges and shows each cell: over its own period, in progress until the period
ends, surplus never carried, and committees standing for their branches.

The county of tests/conftest.py: 中共东镇委员会 holds 东村支部 and 南村支部; 中共县直机关工委 holds 县财政局支部.
"""

import io
from datetime import date

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from branches import compliance, periods
from branches.models import OrganizationKind
from tests.branches.test_compliance import log

NOVEMBER_20 = date(2026, 11, 20)


def cell(organization, meeting_type, period, today):
    return compliance.for_span([organization], periods.parse(period), today)[0].status(meeting_type)


def test_in_a_month_view_yearly_and_quarterly_rules_are_judged_over_their_own_span_and_still_in_progress(county):
    row = compliance.for_span([county.east], periods.parse("2026-11"), NOVEMBER_20)[0]
    life, lecture, theme = row.status("life_meeting"), row.status("party_lecture"), row.status("theme_day")
    assert (life.judged_over, life.figure, life.state) == ("年 2026", "0/1", compliance.IN_PROGRESS)
    assert (lecture.judged_over, lecture.figure, lecture.state) == ("季 2026年第4季度", "0/1", compliance.IN_PROGRESS)
    assert (theme.judged_over, theme.figure, theme.state) == ("月 2026年11月", "0/1", compliance.IN_PROGRESS)
    assert (life.state_label, life.css) == ("进行中", "table-warning")


def test_a_month_that_is_over_without_its_meeting_is_not_met(county):
    theme = cell(county.east, "theme_day", "2026-10", NOVEMBER_20)
    assert (theme.figure, theme.state, theme.state_label, theme.css) == (
        "0/1",
        compliance.NOT_MET,
        "未达标",
        "table-danger",
    )


@pytest.mark.parametrize(
    "today, state",
    [
        (NOVEMBER_20, compliance.IN_PROGRESS),
        (date(2026, 12, 31), compliance.IN_PROGRESS),
        (date(2027, 1, 1), compliance.NOT_MET),
    ],
)
def test_q4_party_lecture_0_of_1_is_in_progress_until_the_quarter_ends(county, today, state):
    lecture = cell(county.east, "party_lecture", "2026-Q4", today)
    assert (lecture.figure, lecture.state) == ("0/1", state)


def test_a_surplus_in_one_month_never_makes_up_the_next(county):
    for day in (3, 10, 17):
        log(county.east, "theme_day", date(2026, 10, day))  # three in October, none in November
    theme = cell(county.east, "theme_day", "2026-Q4", date(2026, 12, 5))
    assert (theme.figure, theme.periods_met, len(theme.counts)) == ("1/3", 1, 3)
    assert theme.state == compliance.NOT_MET  # November is over and unmet
    assert theme.judged_over == "月 2026年10月–2026年12月"
    theme = cell(county.east, "theme_day", "2026-Q4", NOVEMBER_20)
    assert (theme.figure, theme.periods_met, theme.state) == ("1/2", 1, compliance.IN_PROGRESS)


def test_two_lectures_in_a_quarter_read_1_of_1_met(county):
    log(county.east, "party_lecture", date(2026, 7, 3))
    log(county.east, "party_lecture", date(2026, 8, 3))
    lecture = cell(county.east, "party_lecture", "2026-Q3", NOVEMBER_20)
    assert (lecture.figure, lecture.state, lecture.state_label) == ("1/1", compliance.MET, "达标")


def test_a_committee_row_counts_its_branches_meeting_each_rule(county):
    """东镇: 东村 held its Q3 lecture, 南村 did not; 工委: 县财政局 did not."""
    log(county.east, "party_lecture", date(2026, 8, 3))
    q3 = periods.parse("2026-Q3")
    branches = [county.east, county.south, county.finance]
    branch_rows = compliance.for_span(branches, q3, NOVEMBER_20)
    town, organs, root = compliance.summarize([county.town, county.organs, county.root], branch_rows)
    assert (town.branches, organs.branches, root.branches) == (2, 1, 3)
    lecture = town.status("party_lecture")
    assert (lecture.figure, lecture.met, lecture.judged, lecture.state) == ("1/2", 1, 2, compliance.NOT_MET)
    assert root.status("party_lecture").figure == "1/3"
    assert lecture.judged_over == "季 2026年第3季度"
    # The same core: the branches' own cells say the same.
    assert [r.status("party_lecture").state for r in branch_rows] == [compliance.MET, compliance.NOT_MET] + [
        compliance.NOT_MET
    ]


def test_a_committee_row_is_in_progress_while_its_branches_are(county):
    branch_rows = compliance.for_span([county.east, county.south], periods.parse("2026-Q4"), NOVEMBER_20)
    (town,) = compliance.summarize([county.town], branch_rows)
    assert (town.status("party_lecture").figure, town.status("party_lecture").state) == ("0/2", compliance.IN_PROGRESS)


def test_the_table_by_primary_committee_shows_branch_counts_not_zeros(county, people, signed_in):
    log(county.east, "party_lecture", date(2026, 8, 3))
    client = signed_in(people.reviewer)
    url = reverse("branches:compliance", args=[county.root.pk])
    page = client.get(url, {"period": "2026-Q3", "kind": OrganizationKind.PRIMARY_COMMITTEE}).content.decode()
    assert "中共东镇委员会" in page and "2 个支部" in page
    assert "0/0" not in page
    assert '<div class="fw-semibold">1/2</div>' in page


def test_the_month_view_page_labels_running_periods_in_progress(county, people, signed_in):
    client = signed_in(people.reviewer)
    month = periods.span_of("month", timezone.localdate())
    page = client.get(reverse("branches:compliance", args=[county.root.pk]), {"period": month.key}).content.decode()
    assert 'data-state="not_met"' not in page  # nothing of this month, quarter or year is over yet
    assert page.count('data-state="in_progress"') >= 3 and "进行中" in page
    assert f"年 {month.start.year}" in page  # the yearly columns say what they are judged over


def test_the_excel_export_gives_numbers_a_user_can_sum(county, people, signed_in):
    log(county.east, "party_lecture", date(2026, 8, 3))
    log(county.east, "party_lecture", date(2026, 9, 3))
    client = signed_in(people.reviewer)
    url = reverse("branches:compliance", args=[county.root.pk])
    sheet = load_workbook(io.BytesIO(client.get(url, {"period": "2026-Q3", "format": "xlsx"}).content)).active
    rows = list(sheet.values)
    header, east = rows[0], next(r for r in rows if r[1] == "东村支部")
    held = header.index("党课 (季 2026年第3季度)：计入次数")
    assert (east[held], east[held + 1], east[held + 2]) == (1, 1, "达标")
    assert isinstance(east[header.index("未达标项数")], int)
    committee = load_workbook(
        io.BytesIO(client.get(url, {"period": "2026-Q3", "kind": "primary_committee", "format": "xlsx"}).content)
    ).active
    rows = list(committee.values)
    town = next(r for r in rows if r[1] == "中共东镇委员会")
    met = rows[0].index("党课 (季 2026年第3季度)：达标支部数")
    assert (town[met], town[met + 1]) == (1, 2)
