"""A reviewer opens a round in the browser: the page answers at once and says that the computed indicators are being
calculated; once the queued job has run, the page refreshes itself (a static script, under the strict content
security policy) and shows the totals and ranks, and the ranking offers its exports."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from assessments import tasks
from assessments.models import AssessmentRound
from tests.assessments.conftest import workflow_rubric

pytestmark = pytest.mark.browser


def test_the_round_page_refreshes_itself_once_its_first_scoring_is_done(
    county, people, page, sign_in, live_server, queued
):
    rubric = workflow_rubric()
    sign_in(people.town_reviewer)
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(f"{live_server.url}{reverse('assessments:round_add', args=[county.town.pk])}")
    page.select_option("select[name=rubric]", str(rubric.pk))
    page.fill("input[name=year]", "2026")
    page.select_option("select[name=period]", "year")
    page.fill("input[name=title]", "2026年度考核")
    page.fill("input[name=self_assessment_due]", "2026-12-20")
    page.fill("input[name=review_due]", "2027-01-15")
    page.click("main form button[type=submit]")

    banner = page.locator("[data-first-scoring]")
    expect(banner).to_contain_text("正在计算…")
    expect(banner).to_contain_text("本页每 15 秒自动刷新一次")
    opened = AssessmentRound.objects.get()
    assert queued == [("assessments.rescore_round", {"round_id": opened.pk})]

    assert tasks.rescore_round(round_id=opened.pk) == 2  # the worker runs the job
    expect(banner).to_have_count(0, timeout=25_000)  # the page reloads itself within 15 seconds
    first = page.locator("table tbody tr").first.locator("td")
    expect(first.nth(2)).to_have_text(re.compile(r"^\d+\.\d\d$"))  # its total
    expect(first.nth(4)).to_have_text(re.compile(r"^[12]$"))  # its rank
    page.goto(f"{live_server.url}{reverse('assessments:ranking', args=[opened.pk])}")
    expect(page.locator("[data-exports] a")).to_have_count(4)  # Excel, CSV, the roll-ups' and the ratings' CSV
    assert not [e for e in errors if "Content Security Policy" in e], errors
