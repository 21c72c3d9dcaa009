"""The three lists' Excel export: a sheet named after its list, dates as dates, days overdue as numbers."""

import io
from datetime import date, datetime

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from assessments import services
from assessments.models import Finding, Inspection
from branches.exports import safe_cell
from tests.conftest import system


def workbook(client, root, which):
    response = client.get(reverse("assessments:three_lists", args=[root.pk]), {"list": which, "format": "xlsx"})
    assert response.status_code == 200
    return load_workbook(io.BytesIO(response.content))


@pytest.mark.parametrize(
    ("which", "sheet"), [("problems", "问题清单"), ("duties", "责任清单"), ("rectifications", "整改清单")]
)
def test_each_list_exports_to_a_sheet_named_after_it(county, people, signed_in, template, which, sheet):
    services.template_issue(template=template, root=county.root, by=system())
    book = workbook(signed_in(people.reviewer), county.root, which)
    assert book.sheetnames == [sheet]


def test_due_dates_are_dates_and_days_overdue_are_numbers_a_user_can_sum(county, people, signed_in, template):
    services.template_issue(template=template, root=county.root, by=system())
    inspection = Inspection.objects.create(organization=county.east, held_on=date(2026, 1, 5), title="督查")
    Finding.objects.create(
        inspection=inspection,
        organization=county.east,
        description="台账不全",
        required_rectification="补齐",
        deadline=date(2026, 1, 31),
        state="in_progress",
    )
    today = timezone.localdate()
    client = signed_in(people.reviewer)

    duties = workbook(client, county.root, "duties").active
    assert [cell.value for cell in duties[1]][4:] == ["完成时限", "状态", "逾期天数"]
    rows = list(duties.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 9 and all(isinstance(row[4], datetime) for row in rows)
    march = [row for row in rows if row[3] == "每季度开展一次专题学习"]
    assert [row[6] for row in march] == [(today - date(2026, 3, 31)).days] * 3  # 244 days on 30 November 2026
    assert sum(row[6] or 0 for row in rows) == sum(
        (today - row[4].date()).days for row in rows if row[4].date() < today
    )

    [row] = list(workbook(client, county.root, "rectifications").active.iter_rows(min_row=2, values_only=True))
    assert row[5] == datetime(2026, 1, 31) and row[7] == (today - date(2026, 1, 31)).days


def test_text_like_a_formula_is_still_quoted_but_numbers_are_not(county, people, signed_in):
    services.item_add(
        organization=county.east,
        year=timezone.localdate().year,
        data={"area": "ideological", "text": '=HYPERLINK("http://x")', "due_on": timezone.localdate()},
        by=system(),
    )
    sheet = workbook(signed_in(people.reviewer), county.root, "duties").active
    [row] = list(sheet.iter_rows(min_row=2, values_only=True))
    assert row[3].startswith("'=")
    assert safe_cell(-3) == -3 and safe_cell("-3") == "'-3"
