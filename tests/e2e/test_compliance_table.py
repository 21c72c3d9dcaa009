"""The reviewer's 三会一课落实情况 on a phone (390 px): a running month reads "in progress", never as failed."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from branches import compliance, periods

pytestmark = pytest.mark.browser


def test_the_month_view_shows_running_periods_in_progress_at_phone_width(
    page, live_server, people, sign_in, county, tmp_path
):
    month = periods.span_of("month", timezone.localdate())
    sign_in(people.reviewer)
    page.goto(f"{live_server.url}/orgs/{county.root.pk}/compliance/?period={month.key}")

    row = page.locator("table.compliance tbody tr").filter(has_text="东村支部")
    expect(row).to_be_visible()
    lecture_column = page.locator("table.compliance thead th").filter(has_text="党课")
    quarter = compliance.judged_over([periods.span_of("quarter", month.start)])  # e.g. 季 2026年第4季度
    expect(lecture_column.locator(".period-badge")).to_have_text(quarter)
    cells = row.locator("td.compliance-cell")
    expect(cells.first).to_be_visible()
    assert cells.count() >= 5
    expect(row.locator("td[data-state=not_met]")).to_have_count(0)
    expect(row.locator("td[data-state=in_progress] .state-label").first).to_have_text("进行中")
    red = page.evaluate("getComputedStyle(document.querySelector('td[data-state=in_progress]')).backgroundColor")
    assert red != "rgb(248, 215, 218)", red  # Bootstrap's table-danger
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=tmp_path / "compliance-390.png", full_page=True)

    page.fill("#period", "2026-13")
    page.get_by_role("button", name="查询").click()
    expect(page.locator("#period")).to_have_value("2026-13")
    expect(page.locator("#period")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#period-error")).to_have_text("没有13月：月份应为1至12。")
    expect(page.locator("#period-error")).to_be_visible()
