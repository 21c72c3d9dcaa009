"""Who is expected depends on the meeting type: choosing 支部委员会会议 narrows the list to the committee."""

from datetime import date, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from branches.models import Meeting, Member
from tests.conftest import add_cadre, add_member

pytestmark = pytest.mark.browser


def test_choosing_a_committee_meeting_lists_the_committee_and_counts_it_as_expected(
    county, people, page, sign_in, live_server
):
    """东村支部: 张一, 张二, 张三 and 张四; its committee: 张一 (secretary) and 张二 (organization member)."""
    add_member(county.east, "张四")
    for name, post in (("张一", "secretary"), ("张二", "organization_member")):
        cadre = add_cadre(county.east, name, post, date(2024, 1, 1))
        cadre.member = Member.objects.get(name=name)
        cadre.save()
    sign_in(people.secretary)
    page.goto(f"{live_server.url}/orgs/{county.east.pk}/meetings/new/")
    names = page.locator("#attendance .form-check-label")
    expect(names).to_have_count(4)

    page.select_option("select[name=meeting_type]", "committee_meeting")
    expect(names).to_have_count(2)
    assert sorted(names.all_text_contents()) == ["张一", "张二"]
    page.fill("input[name=held_at]", (timezone.localtime() - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("input[name=place]", "村部会议室")
    page.fill("input[name=host]", "张一")
    page.fill("input[name=topic]", "研究发展党员工作")
    page.click("#meeting-form button[type=submit]")

    expect(page.locator("article.meeting-record")).to_contain_text("研究发展党员工作")
    meeting = Meeting.objects.get()
    assert (meeting.expected_count, meeting.present_count) == (2, 2)

    page.goto(f"{live_server.url}/orgs/{county.east.pk}/meetings/new/")
    page.select_option("select[name=meeting_type]", "group_meeting")
    page.select_option("select[name=party_group]", str(county.group.pk))
    expect(names).to_have_text(["张一"])
    page.select_option("select[name=meeting_type]", "theme_day")
    expect(names).to_have_count(4)
