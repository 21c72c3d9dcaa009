"""The organization department's dashboard in a real browser: a reviewer signs in, lands on it, picks last year,
drills down twice and climbs back by the breadcrumb; charts are drawn under the strict CSP, with no console error,
at desktop (1280 px) and phone (390 px) width."""

import pytest
from playwright.sync_api import expect

from branches.models import Role
from tests.portal.test_dashboard import build_tree

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def county(db):
    return build_tree()


def watch(page):
    """Console errors, uncaught exceptions and CSP violations of the page, as they happen."""
    problems = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda m: problems.append(f"CSP: {m.text}") if "Content Security Policy" in m.text else None,
    )
    return problems


def charts_drawn(page):
    expect(page.locator('[data-chart="compliance"] canvas').first).to_be_attached()
    expect(page.locator('[data-chart="grades"] canvas').first).to_be_attached()
    assert page.evaluate("typeof window.echarts") == "object"


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "390px"])
def test_a_reviewer_lands_on_the_dashboard_and_drills_down_twice(
    browser, live_server, county, make_user, tmp_path, viewport
):
    reviewer = make_user("county_reviewer", Role.REVIEWER, county.root)
    context = browser.new_context(viewport=viewport, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems = watch(page)
    width = viewport["width"]

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", reviewer.username)
    page.fill("input[name=password]", "test-password-42")
    page.click("form button[type=submit]")
    expect(page).to_have_url(f"{live_server.url}/dashboard/")
    expect(page.locator("h1")).to_contain_text("中共看板县委员会")

    page.fill("#period", str(county.year))
    page.get_by_role("button", name="查询").click()
    expect(page.locator("h1")).to_contain_text(str(county.year))
    charts_drawn(page)
    expect(page.locator('[data-table="compliance"] tr[data-type="theme_day"] [data-not-met]')).to_have_text("1")
    red = page.locator(f'tr[data-row="{county.organs.pk}"] td[data-month="{county.year}-03"]')
    expect(red).to_have_attribute("data-state", "not_met")
    expect(red.locator("a")).to_have_attribute("href", f"/orgs/{county.organs.pk}/compliance/?period={county.year}-03")
    wide = page.evaluate(
        "Array.from(document.querySelectorAll('main *')).filter(e => e.scrollWidth > "
        + str(width)
        + ").slice(0, 12).map(e => e.tagName + '.' + e.className + ' ' + e.scrollWidth + '/' + e.clientWidth)"
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= width, wide  # the tables scroll inside themselves
    if width < 576:  # the tiles stack, one a row
        tiles = page.locator(".dashboard-tiles > div")
        boxes = [tiles.nth(i).bounding_box() for i in range(tiles.count())]
        assert len({round(box["x"]) for box in boxes}) == 1, boxes
    page.screenshot(path=tmp_path / f"dashboard-county-{width}.png", full_page=True)

    page.locator("a[data-drill]", has_text="机关第一党总支").click()
    expect(page.locator("h1")).to_contain_text("机关第一党总支")
    expect(page.locator(".breadcrumb-item")).to_have_text(["中共看板县委员会", "机关第一党总支"])
    expect(page.locator("tr[data-row]")).to_have_count(2)
    charts_drawn(page)
    page.screenshot(path=tmp_path / f"dashboard-general-branch-{width}.png", full_page=True)

    page.locator("a[data-drill]", has_text="二支部").click()
    expect(page.locator("h1")).to_contain_text("二支部")
    expect(page.locator("h1")).to_contain_text(str(county.year))  # the period travels down
    expect(page.locator(".breadcrumb-item")).to_have_text(["中共看板县委员会", "机关第一党总支", "二支部"])
    expect(page.locator(f'tr[data-row="{county.two.pk}"] td[data-month="{county.year}-03"]')).to_have_attribute(
        "data-state", "not_met"
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=tmp_path / f"dashboard-branch-{width}.png", full_page=True)

    page.locator(".breadcrumb-item a", has_text="中共看板县委员会").click()
    expect(page.locator("h1")).to_contain_text("中共看板县委员会")
    expect(page.locator("tr[data-row]")).to_have_count(2)

    page.fill("#period", "2026-13")
    page.get_by_role("button", name="查询").click()
    expect(page.locator("#period-error")).to_have_text("没有13月：月份应为1至12。")
    assert (tmp_path / f"dashboard-branch-{width}.png").stat().st_size > 10_000
    assert problems == [], problems
    context.close()
