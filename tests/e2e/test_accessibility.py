"""Accessibility in a real browser.

axe-core finds no serious or critical violation on the main pages of each role, at phone (390 px) and
desktop (1366 px) width; and the keyboard and screen-reader walk works: the skip link, a tree node that
expands, the error summary of a refused form, attendance boxes never hidden under the sticky Save bar.

axe-core is vendored (static/vendor/axe-core/, never served by a template) and evaluated in the page
through the browser's devtools protocol, so the page keeps the Content-Security-Policy users get."""

from io import StringIO

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from playwright.sync_api import expect

from branches import demo, services
from branches.models import Meeting, Organization, OrganizationKind, Role, RoleAssignment
from portal import services as portal_services
from tests.conftest import system
from tests.e2e.conftest import PHONE

pytestmark = pytest.mark.browser

AXE = settings.BASE_DIR / "static" / "vendor" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1366, "height": 900}
BLOCKING = ("serious", "critical")


def axe_violations(page):
    """axe-core's serious and critical violations on the page as it is now, one readable line each."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    violations = page.evaluate(
        "axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(v => ({"
        "id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map(n => n.target.join(' '))})))"
    )
    return [
        f"{page.url}: {v['id']} ({v['impact']}) {v['help']} -> {' | '.join(v['targets'])}"
        for v in violations
        if v["impact"] in BLOCKING
    ]


@pytest.fixture
def demo_county(db):
    """The demo county (seed_demo at its smallest) with the day's reminders in the inboxes; returns the logins.

    The assessor also reviews a town, so that their landing page is the list of their organizations."""
    call_command("seed_demo", orgs=12, quiet_logins=True, stdout=StringIO())
    portal_services.reminders_send()
    town = Organization.objects.filter(kind=OrganizationKind.PRIMARY_COMMITTEE).order_by("path").first()
    services.role_assign(
        user=get_user_model().objects.get(username="kaohe"), organization=town, role=Role.REVIEWER, by=system()
    )
    return {login.username: login for login in demo.ensure_demo_users()}


def organization_of(username, role):
    return RoleAssignment.objects.select_related("organization").get(user__username=username, role=role).organization


@pytest.fixture
def browse(browser, live_server, demo_county):
    """A page at the given width, signed in as a demo user (or not signed in)."""
    contexts = []

    def browse(viewport, username=None, **options):
        context = browser.new_context(viewport=viewport, locale="zh-CN", **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        if username:
            page.goto(f"{live_server.url}/accounts/login/")
            page.fill("input[name=username]", username)
            page.fill("input[name=password]", demo_county[username].password)
            page.click("form button[type=submit]")
            page.wait_for_load_state()
            assert "/accounts/login/" not in page.url, f"{username} could not sign in"
        return page

    yield browse
    for context in contexts:
        context.close()


def open_path(path):
    def step(page, base):
        page.goto(base + path)

    step.__name__ = path
    return step


def refused_meeting_form(branch):
    def step(page, base):
        page.goto(base + reverse("branches:meeting_add", args=[branch.pk]))
        page.click("#meeting-form button[type=submit]")
        expect(page.locator("[data-error-summary]")).to_be_visible()

    return step


def restored_draft(branch):
    """The meeting form with the notice that an unsaved draft was put back (and its Discard button)."""

    def step(page, base):
        url = base + reverse("branches:meeting_add", args=[branch.pk])
        page.goto(url)
        page.fill("input[name=topic]", "学习上级文件")
        page.goto(url)
        expect(page.locator("#draft-restored")).to_be_visible()

    return step


def refused_organization_form(organization):
    def step(page, base):
        page.goto(base + reverse("branches:organization_edit", args=[organization.pk]))
        page.fill("input[name=name]", "")
        page.click("main form button[type=submit]")
        expect(page.locator("[data-error-summary]")).to_be_visible()

    return step


def expanded_tree(page, base):
    page.goto(base + reverse("branches:tree"))
    page.locator(".tree-toggle").first.click()
    expect(page.locator(".tree-children:not([hidden]) > li").first).to_be_visible()


def failed_sign_in(page, base):
    page.goto(base + reverse("login"))
    page.fill("input[name=username]", "nobody")
    page.fill("input[name=password]", "wrong password")
    page.click("form button[type=submit]")
    expect(page.locator("[role=alert]")).to_be_visible()


def secretary_pages():
    branch = organization_of("shuji", Role.SECRETARY)
    meeting = Meeting.objects.filter(organization=branch).order_by("-held_at").first()
    return [
        open_path("/"),  # lands on the meetings owed
        open_path(reverse("assessments:todo", args=[branch.pk])),
        open_path(reverse("branches:tree")),
        open_path(reverse("branches:organization", args=[branch.pk])),
        open_path(reverse("branches:members", args=[branch.pk])),
        open_path(reverse("branches:meetings", args=[branch.pk])),
        open_path(reverse("branches:meeting", args=[meeting.pk])),
        open_path(reverse("branches:meeting_add", args=[branch.pk])),
        refused_meeting_form(branch),
        restored_draft(branch),
        open_path(reverse("inbox")),
    ]


def reviewer_pages():
    root = organization_of("zuzhibu", Role.REVIEWER)
    branch = organization_of("shuji", Role.SECRETARY)
    three_lists = reverse("assessments:three_lists", args=[root.pk])
    return [
        open_path("/"),  # lands on the dashboard
        expanded_tree,
        open_path(reverse("branches:compliance", args=[root.pk])),
        open_path(three_lists),
        open_path(three_lists + "?list=duties"),
        open_path(three_lists + "?list=rectifications"),
        open_path(reverse("assessments:findings_queue", args=[root.pk])),
        open_path(reverse("branches:organization", args=[root.pk])),
        open_path(reverse("branches:organization", args=[branch.pk])),
        open_path(reverse("branches:organization_history", args=[root.pk])),
        open_path(reverse("branches:meetings", args=[branch.pk])),
        open_path(reverse("inbox")),
    ]


def assessor_pages():
    organs = organization_of("kaohe", Role.ASSESSOR)
    return [
        open_path("/"),  # two organizations: the list of them
        open_path(reverse("assessments:findings_queue", args=[organs.pk])),
        open_path(reverse("branches:organization", args=[organs.pk])),
        open_path(reverse("branches:tree")),
        open_path(reverse("inbox")),
    ]


def admin_pages():
    root = organization_of("admin", Role.ADMIN)
    return [
        open_path("/"),
        open_path(reverse("jobs")),
        open_path(reverse("branches:organization", args=[root.pk])),
        open_path(reverse("branches:organization_edit", args=[root.pk])),
        refused_organization_form(root),
        open_path(reverse("branches:organization_history", args=[root.pk])),
        open_path(reverse("inbox")),
    ]


ROLES = {
    None: lambda: [open_path(reverse("login")), failed_sign_in],
    "shuji": secretary_pages,
    "zuzhibu": reviewer_pages,
    "kaohe": assessor_pages,
    "admin": admin_pages,
}


@pytest.mark.parametrize(
    "username",
    [
        pytest.param(None, id="signed-out"),
        pytest.param("shuji", id="secretary"),
        pytest.param("zuzhibu", id="reviewer"),
        pytest.param("kaohe", id="assessor"),
        pytest.param("admin", id="admin"),
    ],
)
def test_the_main_pages_of_each_role_have_no_serious_accessibility_violation(browse, live_server, username):
    failures = []
    for viewport in (PHONE, DESKTOP):  # both widths on one seeded county: seeding is the slow part
        page = browse(viewport, username)
        for step in ROLES[username]():
            step(page, live_server.url)
            page.wait_for_load_state()
            failures += [f"{viewport['width']}px {line}" for line in axe_violations(page)]
    assert not failures, "axe-core found serious or critical violations:\n" + "\n".join(failures)


def active(page):
    """What has the keyboard focus: tag, id, classes and role."""
    return page.evaluate(
        "(() => { const e = document.activeElement;"
        " return {tag: e.tagName, id: e.id, cls: e.className, role: e.getAttribute('role'),"
        " text: e.textContent.trim().slice(0, 40)}; })()"
    )


def test_the_skip_link_is_the_first_tab_stop_and_moves_the_focus_to_the_main_content(browse, live_server):
    page = browse(DESKTOP, "zuzhibu")
    page.goto(live_server.url + reverse("branches:tree"))

    page.keyboard.press("Tab")
    skip = page.locator("a.portal-skip")
    expect(skip).to_be_focused()
    expect(skip).to_have_text("跳到正文")
    expect(skip).to_be_visible()  # hidden until it has the focus, then shown
    page.keyboard.press("Enter")
    assert active(page)["tag"] == "MAIN"
    page.keyboard.press("Tab")  # the next stop is inside the page's content, past the menu
    assert page.evaluate("document.querySelector('main').contains(document.activeElement)")


def test_expanding_a_tree_node_from_the_keyboard_keeps_the_focus_on_its_toggle(browse, live_server):
    page = browse(PHONE, "zuzhibu")
    page.goto(live_server.url + reverse("branches:tree"))
    toggle = page.locator(".tree-toggle").first

    toggle.focus()
    page.keyboard.press("Enter")

    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.locator(f"#{toggle.get_attribute('aria-controls')} > li").first).to_be_visible()
    assert active(page)["tag"] != "BODY"
    expect(toggle).to_be_focused()
    page.keyboard.press("Enter")  # and closes again from the keyboard
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_be_focused()


def test_a_refused_meeting_form_puts_the_focus_on_an_error_summary_that_links_to_the_fields(browse, live_server):
    branch = organization_of("shuji", Role.SECRETARY)
    page = browse(PHONE, "shuji")
    page.goto(live_server.url + reverse("branches:meeting_add", args=[branch.pk]))

    page.click("#meeting-form button[type=submit]")

    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary).to_have_attribute("role", "alert")
    expect(summary).to_have_attribute("tabindex", "-1")
    expect(summary).to_contain_text("请更正以下问题")
    link = summary.locator("a[href='#id_place']")
    expect(link).to_contain_text("地点")
    link.click()
    expect(page.locator("#id_place")).to_be_focused()


def test_a_refused_organization_form_puts_the_focus_on_its_error_summary(browse, live_server):
    root = organization_of("admin", Role.ADMIN)
    page = browse(DESKTOP, "admin")
    page.goto(live_server.url + reverse("branches:organization_edit", args=[root.pk]))

    page.fill("input[name=name]", "")
    page.click("main form button[type=submit]")

    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary).to_have_attribute("role", "alert")
    expect(summary.locator("a[href='#id_name']")).to_have_count(1)


def test_a_failed_sign_in_is_announced_and_takes_the_focus(browse, live_server):
    page = browse(PHONE)
    failed_sign_in(page, live_server.url)

    alert = page.locator("[role=alert]")
    expect(alert).to_have_count(1)
    expect(alert).to_contain_text("用户名")
    expect(alert).to_be_focused()


def test_a_focused_attendance_box_is_never_hidden_under_the_sticky_save_bar(browse, live_server):
    branch = organization_of("shuji", Role.SECRETARY)
    # Without animation, so that each box has reached its place when it is measured.
    page = browse(PHONE, "shuji", reduced_motion="reduce")
    page.goto(live_server.url + reverse("branches:meeting_add", args=[branch.pk]))
    boxes = page.locator(".attendance-present")
    assert boxes.count() >= 5, "the demo branch needs enough members to fill more than a screen"
    bar = page.locator("#meeting-form .sticky-bottom")

    page.locator("input[name=files]").focus()
    for n in range(boxes.count()):
        page.keyboard.press("Tab")
        focused = boxes.nth(n)
        expect(focused).to_be_focused()
        box, covering = focused.bounding_box(), bar.bounding_box()
        assert box["y"] + box["height"] <= covering["y"], f"box {n + 1} is under the Save bar: {box} / {covering}"
        assert box["y"] >= 0, f"box {n + 1} is above the screen: {box}"


def test_a_focused_field_shows_a_strong_focus_ring(browse, live_server):
    branch = organization_of("shuji", Role.SECRETARY)
    page = browse(PHONE, "shuji")
    page.goto(live_server.url + reverse("branches:meeting_add", args=[branch.pk]))

    page.locator("input[name=place]").focus()

    ring = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return {style: s.outlineStyle, width: parseFloat(s.outlineWidth)}; })()"
    )
    assert ring["style"] == "solid" and 2 <= ring["width"] <= 4, ring


def test_show_more_in_the_tree_hands_the_focus_to_the_first_organization_it_brought(browse, live_server, monkeypatch):
    monkeypatch.setattr("branches.views.organizations.CHILDREN_PAGE_SIZE", 1)
    page = browse(PHONE, "zuzhibu")
    page.goto(live_server.url + reverse("branches:tree"))
    page.locator(".tree-toggle").first.click()
    children = page.locator(".tree-children:not([hidden]) > li.tree-node")
    expect(children).to_have_count(1)

    page.locator("[data-more-url]").first.focus()
    page.keyboard.press("Enter")

    expect(children).to_have_count(2)
    expect(children.nth(1).locator(".tree-name")).to_be_focused()
