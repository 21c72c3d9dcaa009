"""A secretary logs a 支委会 on a phone; a refused submit and a lost page lose nothing typed."""

from datetime import date, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from branches.models import Meeting, Member
from tests.conftest import add_cadre

pytestmark = pytest.mark.browser


@pytest.fixture
def committee(county):
    for name, post in (("张一", "secretary"), ("张二", "organization_member"), ("张三", "publicity_member")):
        cadre = add_cadre(county.east, name, post, date(2024, 1, 1))
        cadre.member = Member.objects.get(name=name)
        cadre.save()
    return county


def card(page, meeting_type):
    return page.locator(f".owed-card[data-type={meeting_type}]")


def fill_meeting(page, when, topic):
    page.select_option("select[name=meeting_type]", "committee_meeting")
    page.fill("input[name=held_at]", when.strftime("%Y-%m-%dT%H:%M"))
    page.fill("input[name=place]", "村部会议室")
    page.fill("input[name=host]", "张一")
    page.fill("input[name=topic]", topic)
    page.fill("textarea[name=minutes]", "会议研究了十一月党建工作。\n一、学习上级文件。")


def test_a_secretary_logs_a_committee_meeting_and_sees_it_fulfilled(committee, people, page, sign_in, live_server):
    sign_in(people.secretary)
    expect(card(page, "committee_meeting")).to_have_attribute("data-fulfilled", "no")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.click("a.btn-danger")  # 登记会议
    now = timezone.localtime()
    earlier = now - timedelta(hours=3)
    if earlier.month != now.month:  # just after midnight on a month's first day: still this month
        earlier = now.replace(hour=0, minute=0, second=0, microsecond=0)
    fill_meeting(page, earlier, "研究十一月工作")
    zhang_san = Member.objects.get(name="张三")
    page.uncheck(f"#id_present_{zhang_san.pk}")
    page.select_option(f"#id_reason_{zhang_san.pk}", "sick")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.click("#meeting-form button[type=submit]")

    expect(page.locator("article.meeting-record")).to_contain_text("张三（病假）")
    meeting = Meeting.objects.get()
    assert (meeting.expected_count, meeting.present_count) == (3, 2)
    page.goto(f"{live_server.url}/orgs/{committee.east.pk}/meetings/owed/")
    expect(card(page, "committee_meeting")).to_have_attribute("data-fulfilled", "yes")


def test_the_form_survives_a_refused_submit_and_a_lost_page(committee, people, page, sign_in, live_server):
    sign_in(people.secretary)
    url = f"{live_server.url}/orgs/{committee.east.pk}/meetings/new/"
    page.goto(url)
    fill_meeting(page, timezone.localtime() + timedelta(days=3), "下周的会议")  # a future date: refused
    zhang_er = Member.objects.get(name="张二")
    page.uncheck(f"#id_present_{zhang_er.pk}")
    page.select_option(f"#id_reason_{zhang_er.pk}", "official")
    page.click("#meeting-form button[type=submit]")

    expect(page.locator("#meeting-form")).to_contain_text("会议尚未召开")
    expect(page.locator("input[name=topic]")).to_have_value("下周的会议")
    expect(page.locator("textarea[name=minutes]")).to_have_value("会议研究了十一月党建工作。\n一、学习上级文件。")
    expect(page.locator(f"#id_present_{zhang_er.pk}")).not_to_be_checked()
    expect(page.locator(f"#id_reason_{zhang_er.pk}")).to_have_value("official")
    assert not Meeting.objects.exists()

    # The connection drops (or the session expires) and the page is opened again: the draft comes back.
    page.fill("input[name=topic]", "改期后的会议")
    page.goto(url)
    expect(page.locator("#draft-restored")).to_be_visible()
    expect(page.locator("input[name=topic]")).to_have_value("改期后的会议")
    expect(page.locator(f"#id_present_{zhang_er.pk}")).not_to_be_checked()

    page.fill("input[name=held_at]", (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.click("#meeting-form button[type=submit]")
    expect(page.locator("article.meeting-record")).to_contain_text("改期后的会议")
    page.goto(url)  # once saved, the draft is gone
    expect(page.locator("#draft-restored")).to_be_hidden()
    expect(page.locator("input[name=topic]")).to_have_value("")
