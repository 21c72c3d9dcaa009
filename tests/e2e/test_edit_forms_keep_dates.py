"""On a Chinese phone every edit form shows the stored dates, and saving untouched keeps them.

The pages used to send 2024/05/05 to <input type="date">: the browser refused it and showed an empty
box, and saving then stored nothing (or refused a required date the user had never touched).
"""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from assessments.models import ResponsibilityTemplate, TemplateItem
from branches import services
from branches.models import Cadre, Meeting, Member, Organization
from tests.conftest import system

pytestmark = pytest.mark.browser

SHANGHAI = ZoneInfo("Asia/Shanghai")


def organization_edit(county):
    Organization.objects.filter(pk=county.east.pk).update(founded_on=date(2019, 5, 5))
    return (
        f"/orgs/{county.east.pk}/edit/",
        {"founded_on": "2019-05-05"},
        lambda: {"founded_on": Organization.objects.get(pk=county.east.pk).founded_on.isoformat()},
    )


def cadre_edit(county):
    cadre = Cadre.objects.get(organization=county.finance)  # term from 2024-01-01
    Cadre.objects.filter(pk=cadre.pk).update(term_start=date(2024, 5, 5))
    return (
        f"/orgs/cadres/{cadre.pk}/",
        {"term_start": "2024-05-05", "term_end": ""},
        lambda: {"term_start": Cadre.objects.get(pk=cadre.pk).term_start.isoformat(), "term_end": ""},
    )


def member_edit(county):
    member = Member.objects.get(name="张二")
    Member.objects.filter(pk=member.pk).update(joined_party_on=date(2008, 7, 1), joined_branch_on=date(2016, 3, 12))
    return (
        f"/orgs/members/{member.pk}/",
        {"joined_party_on": "2008-07-01", "joined_branch_on": "2016-03-12", "left_on": ""},
        lambda: {
            "joined_party_on": Member.objects.get(pk=member.pk).joined_party_on.isoformat(),
            "joined_branch_on": Member.objects.get(pk=member.pk).joined_branch_on.isoformat(),
            "left_on": "",
        },
    )


def meeting_edit(county):
    members = services.selectors.members_on(county.east, date(2026, 5, 5), None)
    meeting, _warnings = services.meeting_save(
        organization=county.east,
        attendance={m.pk: (True, "") for m in members},
        data={
            "meeting_type": "theme_day",
            "held_at": datetime(2026, 5, 5, 9, 30, tzinfo=SHANGHAI),
            "place": "村部",
            "host": "张一",
            "topic": "主题党日",
            "minutes": "记录",
        },
        by=system(),
    )
    return (
        f"/orgs/meetings/{meeting.pk}/edit/",
        {"held_at": "2026-05-05T09:30"},
        lambda: {"held_at": Meeting.objects.get(pk=meeting.pk).held_at.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")},
    )


def template_edit(county):
    template = ResponsibilityTemplate.objects.create(owner=county.root, year=2026, title="年度责任清单")
    item = TemplateItem.objects.create(template=template, area="integrity", text="警示教育", due_on=date(2026, 9, 30))
    return (
        f"/work/{county.root.pk}/templates/{template.pk}/",
        {"items-0-due_on": "2026-09-30"},
        lambda: {"items-0-due_on": TemplateItem.objects.get(pk=item.pk).due_on.isoformat()},
    )


@pytest.mark.parametrize("edit_form", [organization_edit, cadre_edit, member_edit, meeting_edit, template_edit])
def test_an_edit_form_shows_the_stored_dates_and_saving_it_untouched_keeps_them(
    edit_form, county, people, page, sign_in, live_server
):
    url, shown, stored = edit_form(county)
    sign_in(people.admin)
    page.goto(live_server.url + url)
    form = page.locator("main form[method=post]").last
    for name, value in shown.items():
        expect(form.locator(f"[name='{name}']")).to_have_value(value)

    form.locator("button[type=submit]").first.click()
    page.wait_for_load_state()
    expect(page.locator(".invalid-feedback, .alert-danger")).to_have_count(0)
    assert page.url != live_server.url + url, "the form was refused"
    assert stored() == shown
