"""The API reference renders from vendored files under the strict CSP; a token made on its page works."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_the_api_reference_renders_with_no_csp_violation(people, page, sign_in, live_server):
    violations, outside = [], []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(live_server.url) else None)
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => "
        "(window.__violations = window.__violations || []).push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    sign_in(people.secretary)
    response = page.goto(f"{live_server.url}/api/docs/")
    assert response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Branch responsibility portal API")
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/meetings/").first).to_be_visible()
    page.locator(".opblock-summary-path", has_text="/api/v1/meetings/").first.click()  # it reacts: scripts run
    expect(page.locator(".opblock.is-open").first).to_be_visible()
    assert violations == []
    assert page.evaluate("window.__violations || []") == []
    assert outside == []  # nothing from a CDN


def test_a_token_made_in_the_browser_is_shown_once_and_works(people, page, sign_in, live_server):
    import urllib.request

    sign_in(people.secretary)
    page.goto(f"{live_server.url}/")
    page.get_by_role("button", name="菜单").click()  # the phone's menu
    page.locator(".dropdown-toggle").click()
    page.get_by_role("link", name="API 令牌").click()
    page.fill("input[name=name]", "档案系统")
    page.get_by_role("button", name="生成令牌").click()
    token = page.locator("#new-token").input_value()
    assert token
    request = urllib.request.Request(
        f"{live_server.url}/api/v1/organizations/", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request) as answer:  # noqa: S310 (the live server)
        assert answer.status == 200 and "东村支部" in answer.read().decode()
    page.goto(f"{live_server.url}/accounts/api-tokens/")
    expect(page.locator("#new-token")).to_have_count(0)
    expect(page.get_by_role("cell", name="档案系统", exact=True)).to_be_visible()
