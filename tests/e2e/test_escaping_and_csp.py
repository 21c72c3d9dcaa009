"""User text is shown as text, never run; and the strict CSP breaks none of the portal's own pages."""

import pytest
from playwright.sync_api import expect

from branches.models import Member, Organization
from tests.conftest import add_member

pytestmark = pytest.mark.browser

IMG = '<img src=x onerror="window.__pwned = 1">'
SCRIPT = "<script>window.__pwned = 2</script>"


def test_script_in_stored_text_is_shown_escaped_in_a_real_browser(county, people, page, sign_in, live_server):
    """Text that came in around the forms (an old import, say) is still only text on the page."""
    add_member(county.east, "张" + IMG)
    Member.objects.filter(name="张二").update(name=SCRIPT)
    Organization.objects.filter(pk=county.group.pk).update(name="第一党小组" + SCRIPT)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    sign_in(people.secretary)
    page.goto(f"{live_server.url}/orgs/{county.east.pk}/members/")
    expect(page.get_by_text("张" + IMG)).to_be_visible()
    expect(page.get_by_text(SCRIPT, exact=True)).to_be_visible()
    page.goto(f"{live_server.url}/orgs/{county.east.pk}/")
    expect(page.get_by_text("第一党小组" + SCRIPT)).to_be_visible()

    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("img[src=x]").count() == 0
    assert dialogs == []


def test_the_portal_and_its_admin_run_under_the_content_security_policy(people, page, sign_in, live_server):
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)

    sign_in(people.admin)
    for path in (
        "/orgs/",
        f"/orgs/{Organization.objects.get(code='T-E').pk}/",
        "/admin/",
        "/admin/branches/member/",
        "/admin/branches/member/add/",
    ):
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        assert "default-src 'self'" in response.headers["content-security-policy"]
    page.goto(f"{live_server.url}/orgs/")
    page.locator("button.tree-toggle").first.click()  # our script still runs
    expect(page.locator("button.tree-toggle").first).to_have_attribute("aria-expanded", "true")
    assert violations == []


def test_script_in_minutes_is_shown_as_text(county, people, page, sign_in, live_server):
    """Minutes that came in around the form (an import, an old system) still only print as text."""
    from django.utils import timezone

    from branches.models import Meeting

    meeting = Meeting.objects.create(
        organization=county.east,
        meeting_type="committee_meeting",
        held_at=timezone.now(),
        held_on=timezone.localdate(),
        place="村部",
        host="张一",
        topic="研究工作",
        minutes="一、学习文件。\n" + SCRIPT + "\n" + IMG,
    )
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(people.secretary)
    page.goto(f"{live_server.url}/orgs/meetings/{meeting.pk}/")
    expect(page.locator(".minutes")).to_contain_text(SCRIPT)
    expect(page.locator(".minutes")).to_contain_text(IMG)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator(".minutes img").count() == 0 and dialogs == []
