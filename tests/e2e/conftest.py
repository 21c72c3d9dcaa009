"""Browser fixtures: Debian's chromium driven by Playwright against pytest-django's live_server."""

import os

import pytest
from django.db import DEFAULT_DB_ALIAS, connections

from tests.conftest import CHROMIUM, PASSWORD

# Playwright's sync API runs an event loop in the main thread; without this Django's ORM
# refuses to run in the test's own thread ("You cannot call this from an async context").
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

PHONE = {"width": 390, "height": 844}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(autouse=True)
def _migration_data(django_db_serialized_rollback):
    """live_server's transactional_db empties every table after each test, rows seeded by data
    migrations (term rules, meeting requirements) included: Django serializes them once and puts them back."""


@pytest.fixture(scope="session")
def browser(django_db_setup):
    from playwright.sync_api import sync_playwright

    seeded = getattr(connections[DEFAULT_DB_ALIAS], "_test_serialized_contents", None)
    playwright = sync_playwright().start()
    # Playwright's event loop now counts as running in this thread, so Django's connections (an asgiref
    # Local) hand out new connection objects: give them the serialized rows, or nothing is put back.
    if seeded is not None:
        connections[DEFAULT_DB_ALIAS]._test_serialized_contents = seeded
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=PHONE, locale="zh-CN")  # the portal's users browse in Chinese
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def sign_in(page, live_server):
    """Sign in through the real form and return the page on wherever the portal lands."""

    def sign_in(user):
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", PASSWORD)
        page.click("form button[type=submit]")
        page.wait_for_load_state()
        return page

    return sign_in
