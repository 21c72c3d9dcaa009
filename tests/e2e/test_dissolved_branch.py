"""A dissolved branch keeps its records: its reviewer opens them on a phone, and its former secretary
reads them without being asked for meetings."""

from datetime import date

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from branches import services
from branches.models import Member
from tests.branches.test_compliance import log
from tests.conftest import system

pytestmark = pytest.mark.browser


def test_a_reviewer_opens_a_dissolved_branchs_meetings_and_one_held_before_dissolution(
    page, live_server, people, sign_in, county, make_user
):
    meeting = log(county.south, "theme_day", date(2026, 5, 10))
    Member.objects.filter(organization=county.south).update(status="transferred_out", left_on=date(2026, 6, 16))
    services.organization_dissolve(organization=county.south, on=date(2026, 6, 15), reason="撤并", by=system())

    sign_in(people.town_reviewer)
    page.goto(live_server.url + reverse("branches:meetings", args=[county.south.pk]))
    link = page.get_by_role("link", name="学习")
    expect(link).to_be_visible()
    link.click()
    expect(page).to_have_url(live_server.url + reverse("branches:meeting", args=[meeting.pk]))
    expect(page.get_by_text("村部").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.context.clear_cookies()
    sign_in(make_user("south_secretary", "secretary", county.south))
    page.goto(live_server.url + reverse("branches:meetings_owed", args=[county.south.pk]))
    expect(page.locator(".dissolved-notice")).to_contain_text("本支部已于2026-06-15撤销")
    expect(page.locator(".owed-card")).to_have_count(0)
    expect(page.get_by_role("link", name="登记会议")).to_have_count(0)
    page.get_by_role("link", name="学习").click()
    expect(page).to_have_url(live_server.url + reverse("branches:meeting", args=[meeting.pk]))
