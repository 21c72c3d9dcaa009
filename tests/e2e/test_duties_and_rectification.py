"""At phone width a secretary completes a duty with evidence and submits a rectification."""

from datetime import date, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from assessments import services
from assessments.models import Finding, ResponsibilityItem, ResponsibilityTemplate, TemplateItem
from branches.models import Meeting
from tests.conftest import system
from tests.portal.test_hardening import PNG

pytestmark = pytest.mark.browser


@pytest.fixture
def duties(county, people, make_user, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    year = timezone.localdate().year
    template = ResponsibilityTemplate.objects.create(owner=county.root, year=year, title="年度责任清单")
    TemplateItem.objects.create(template=template, area="integrity", text="组织一次警示教育", due_on=date(year, 12, 31))
    services.template_issue(template=template, root=county.town, by=system())
    inspector = make_user("inspector", "assessor", county.town)
    inspection = services.inspection_create(
        organization=county.east,
        by=inspector,
        data={"held_on": timezone.localdate() - timedelta(days=10), "title": "季度督查"},
    )
    services.finding_add(
        inspection=inspection,
        by=inspector,
        data={
            "severity": "major",
            "description": "党费台账未按月登记",
            "required_rectification": "补登台账并公开",
            "deadline": timezone.localdate() + timedelta(days=20),
        },
    )
    return county


def test_a_secretary_completes_a_duty_and_submits_a_rectification_at_390px(
    duties, people, page, sign_in, live_server, tmp_path
):
    sign_in(people.secretary)
    page.goto(f"{live_server.url}/work/{duties.east.pk}/todo/")
    expect(page.locator(".todo [data-kind=duty]")).to_contain_text("组织一次警示教育")
    expect(page.locator(".todo [data-kind=rectification]")).to_contain_text("党费台账未按月登记")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    # The duty, with a note and a scanned page as evidence.
    page.click("text=组织一次警示教育")
    page.fill("textarea[name=note]", "10月组织全体党员观看警示教育片")
    scan = tmp_path / "签到表.png"
    scan.write_bytes(PNG)
    page.set_input_files("input[name=file]", str(scan))
    page.click("#item-complete button[type=submit]")
    expect(page.locator(".todo [data-kind=duty]")).to_have_count(0)
    item = ResponsibilityItem.objects.get(organization=duties.east)
    assert item.status == "done" and item.evidence_file.original_name == "签到表.png"

    # The rectification: start, then submit with evidence.
    page.click("text=党费台账未按月登记")
    page.click("button[value=in_progress]")
    expect(page.locator("#finding-state")).to_have_attribute("data-state", "in_progress")
    page.fill("textarea[name=note]", "已补登1至10月党费台账并在支部公开栏公开")
    page.click("button[value=submitted]")
    expect(page.locator("#finding-move")).to_contain_text("佐证")  # refused: no evidence attached yet
    page.fill("textarea[name=note]", "已补登1至10月党费台账并在支部公开栏公开")
    page.set_input_files("input[name=file]", str(scan))
    page.click("button[value=submitted]")
    expect(page.locator("#finding-state")).to_have_attribute("data-state", "submitted")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert Finding.objects.get().state == "submitted"


def test_a_secretary_completes_a_duty_with_a_logged_meeting_at_390px(duties, people, page, sign_in, live_server):
    held_at = timezone.now() - timedelta(days=5)
    meeting = Meeting.objects.create(
        organization=duties.east,
        meeting_type="theme_day",
        held_at=held_at,
        held_on=timezone.localtime(held_at).date(),
        place="党员活动室",
        host="张一",
        topic="观看警示教育片",
    )
    sign_in(people.secretary)
    page.goto(f"{live_server.url}/work/{duties.east.pk}/todo/")
    page.click("text=组织一次警示教育")
    page.select_option("select[name=meeting]", str(meeting.pk))
    page.click("#item-complete button[type=submit]")
    expect(page.locator(".todo [data-kind=duty]")).to_have_count(0)
    item = ResponsibilityItem.objects.get(organization=duties.east)
    assert item.status == "done" and item.evidence_meeting == meeting
    page.goto(f"{live_server.url}/work/items/{item.pk}/")
    expect(page.locator(f"a[href='/orgs/meetings/{meeting.pk}/']")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_submitting_a_rectification_in_one_step_drops_the_to_do_count_at_390px(
    duties, people, page, sign_in, live_server, tmp_path
):
    sign_in(people.secretary)
    page.goto(f"{live_server.url}/work/{duties.east.pk}/todo/")
    before = int(page.locator("#todo-count").get_attribute("data-count"))
    page.click("text=党费台账未按月登记")
    expect(page.locator("#finding-state")).to_have_attribute("data-state", "open")
    page.fill("textarea[name=note]", "已补登1至10月党费台账并在支部公开栏公开")
    scan = tmp_path / "台账.png"
    scan.write_bytes(PNG)
    page.set_input_files("input[name=file]", str(scan))
    page.click("button[value=submitted]")  # straight from open: started and submitted in one step
    expect(page.locator("#finding-state")).to_have_attribute("data-state", "submitted")
    page.goto(f"{live_server.url}/work/{duties.east.pk}/todo/")
    expect(page.locator("#todo-count")).to_have_attribute("data-count", str(before - 1))
    expect(page.locator(".todo [data-kind=rectification]")).to_have_count(0)
    assert [t.to_state for t in Finding.objects.get().transitions.all()] == ["in_progress", "submitted"]
