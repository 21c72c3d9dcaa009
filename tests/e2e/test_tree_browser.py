"""The tree browser in a real browser at phone width (390 px)."""

import re
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def node(page, name):
    """The tree node whose own row links to the organization `name`."""
    return page.locator("li.tree-node").filter(has=page.locator(":scope > .tree-row a.tree-name", has_text=name))


def expand(page, name):
    toggle = node(page, name).locator(":scope > .tree-row > button.tree-toggle")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(toggle).to_have_text("−")
    expect(page.locator(f"ul#{toggle.get_attribute('aria-controls')}")).to_be_visible()


def test_a_reviewer_signs_in_and_expands_the_tree_at_phone_width(page, live_server, people, sign_in, tmp_path):
    static = {}
    page.on(
        "response", lambda r: static.__setitem__(r.url.split("/static/")[-1], r.status) if "/static/" in r.url else None
    )

    sign_in(people.reviewer)
    expect(page).to_have_url(f"{live_server.url}/dashboard/")  # a reviewer lands on the dashboard
    page.goto(f"{live_server.url}/orgs/")

    expect(node(page, "中共测试县委员会")).to_be_visible()
    expand(page, "中共测试县委员会")
    expect(node(page, "中共东镇委员会")).to_be_visible()
    expect(node(page, "中共县直机关工委")).to_be_visible()
    expand(page, "中共东镇委员会")
    expect(node(page, "东村支部")).to_be_visible()

    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # The static files are served by live_server, and Bootstrap's CSS is applied.
    assert static.get("vendor/bootstrap/css/bootstrap.min.css") == 200, static
    assert static.get("portal/tree.js") == 200, static
    assert page.evaluate("getComputedStyle(document.body).margin") == "0px"  # the browser default is 8px
    assert page.evaluate("getComputedStyle(document.querySelector('.btn-sm')).paddingLeft") == "8px"  # .btn-sm: .5rem
    page.screenshot(path=tmp_path / "tree-390.png", full_page=True)


def test_a_town_reviewer_sees_only_their_subtree_in_the_browser(page, live_server, people, sign_in):
    sign_in(people.town_reviewer)
    page.goto(f"{live_server.url}/orgs/")

    roots = page.locator("#org-tree > li.tree-node > .tree-row a.tree-name")
    expect(roots).to_have_text(["中共东镇委员会"])
    expand(page, "中共东镇委员会")
    expand(page, "东村支部")
    expect(node(page, "东村第一党小组")).to_be_visible()
    expect(page.get_by_text("县财政局支部")).to_have_count(0)
    expect(page.get_by_text("中共测试县委员会")).to_have_count(0)

    search = page.locator("#org-search")
    search.fill("东村")
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"/orgs/\?q="))
    expect(page.locator("ul.list-group a", has_text="东村支部")).to_be_visible()  # the search box works ...

    search = page.locator("#org-search")
    search.fill("财政")
    search.press("Enter")
    expect(page).to_have_url(re.compile(re.escape(f"q={quote('财政')}")))
    expect(page.locator("ul.list-group a")).to_have_count(0)  # ... but finds nothing outside the town
    expect(page.get_by_text("县财政局支部")).to_have_count(0)
