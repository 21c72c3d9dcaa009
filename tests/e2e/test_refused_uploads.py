"""A photo chosen before a refused submit cannot come back with the page: the form says so, by name."""

from datetime import date, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from assessments import services
from assessments.models import ResponsibilityItem, ResponsibilityTemplate, TemplateItem
from branches.models import Meeting
from tests.conftest import system
from tests.portal.test_hardening import PNG

pytestmark = pytest.mark.browser


def test_a_meeting_refused_for_its_date_asks_for_the_chosen_photo_again(
    county, people, page, sign_in, live_server, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    photo = tmp_path / "照片.png"
    photo.write_bytes(PNG)
    sign_in(people.secretary)
    page.goto(f"{live_server.url}/orgs/{county.east.pk}/meetings/new/")
    page.select_option("select[name=meeting_type]", "theme_day")
    tomorrow = timezone.localtime() + timedelta(days=1)
    page.fill("input[name=held_at]", tomorrow.strftime("%Y-%m-%dT%H:%M"))  # not held yet: refused
    page.fill("input[name=place]", "村部")
    page.fill("input[name=host]", "张一")
    page.fill("input[name=topic]", "主题党日")
    page.set_input_files("input[name=files]", str(photo))
    page.click("#meeting-form button[type=submit]")

    # Said twice: in the error summary at the top, and beside the file field.
    note = page.locator("#meeting-form").get_by_text("提交未成功，已选择的文件“照片.png”需要重新选择。")
    expect(note).to_have_count(2)
    expect(note.last).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert not Meeting.objects.exists()


def test_a_refused_duty_completion_asks_for_the_evidence_file_again(
    county, people, page, sign_in, live_server, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    year = timezone.localdate().year
    template = ResponsibilityTemplate.objects.create(owner=county.root, year=year, title="年度责任清单")
    TemplateItem.objects.create(template=template, area="integrity", text="组织一次警示教育", due_on=date(year, 12, 31))
    services.template_issue(template=template, root=county.town, by=system())
    item = ResponsibilityItem.objects.get(organization=county.east)
    scan = tmp_path / "签到表.png"
    scan.write_bytes(PNG)

    sign_in(people.secretary)
    page.goto(f"{live_server.url}/work/items/{item.pk}/")
    page.fill("textarea[name=note]", "观看了<b>警示教育片</b>")  # markup: refused
    page.set_input_files("input[name=file]", str(scan))
    page.click("#item-complete button[type=submit]")

    # In the error summary (a link to the field) and beside the field.
    note = page.locator("#item-complete").get_by_text("已选择的文件“签到表.png”需要重新选择")
    expect(note).to_have_count(2)
    expect(note.last).to_be_visible()
    expect(page.locator("textarea[name=note]")).to_have_value("观看了<b>警示教育片</b>")
    item.refresh_from_db()
    assert item.status == "open" and item.evidence_file is None
