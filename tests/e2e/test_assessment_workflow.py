"""At phone width a secretary self-assesses and applies for acceptance, an assessor takes, scores and approves it,
and a reviewer publishes it: the assessment is locked, with its total and grade."""

import pytest
from playwright.sync_api import expect

from assessments.models import Assessment, AssessmentState, AssessmentStep
from branches.models import Role
from tests.assessments.conftest import open_workflow_round

pytestmark = pytest.mark.browser


@pytest.fixture
def assessment(county, people, make_user, settings, tmp_path, jobs_at_once):
    # The approval's scoring job runs in the server as the approval commits (eagerly): no worker here.
    settings.MEDIA_ROOT = tmp_path
    people.town_assessor = make_user("town_assessor", Role.ASSESSOR, county.town)
    assessment_round = open_workflow_round(county.town)
    return Assessment.objects.get(round=assessment_round, organization=county.east)


def step(page, to_state):
    page.click(f"[data-step={to_state}]")
    page.click("#step-form button[type=submit]")
    expect(page.locator("[data-state]")).to_have_attribute("data-state", to_state)


def test_a_secretary_submits_an_assessor_scores_and_a_reviewer_publishes(
    assessment, people, page, sign_in, live_server
):
    detail = f"{live_server.url}/work/assessments/{assessment.pk}/"

    # The secretary: points and a note beside each manual indicator, then 申请验收.
    sign_in(people.secretary)
    page.goto(detail)
    expect(page.locator("[data-code=committee]")).to_contain_text("支委会")  # the computed one, with its why
    page.click(f"a[href='/work/assessments/{assessment.pk}/self-assessment/']")
    page.fill("input[name=self-work]", "25")
    page.fill("textarea[name=note-work]", "全年业务目标全部完成，考核台账已归档")
    page.fill("input[name=self-service]", "52")
    page.fill("textarea[name=note-service]", "为民服务事项办结率98%")
    page.click("#self-assessment button[type=submit]")
    expect(page.locator("[data-state]")).to_have_attribute("data-state", "self_assessed")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    step(page, "submitted")

    # The assessor: takes it, scores the manual indicators (one above its maximum first), approves.
    page.context.clear_cookies()
    sign_in(people.town_assessor)
    page.goto(detail)
    step(page, "under_review")
    page.click(f"a[href='/work/assessments/{assessment.pk}/scoring/']")
    page.fill("input[name=points-work]", "31")
    page.fill("input[name=points-service]", "55")
    page.click("#assessor-scoring button[type=submit]")
    expect(page.locator("[data-code=work] .invalid-feedback")).to_contain_text("30")
    page.fill("input[name=points-work]", "28")
    page.click("#assessor-scoring button[type=submit]")
    expect(page.locator("[data-provisional]")).not_to_have_text("0.00")
    step(page, "approved")

    # The reviewer publishes it; it is locked.
    page.context.clear_cookies()
    sign_in(people.town_reviewer)
    page.goto(detail)
    page.click("[data-step=published]")
    expect(page.locator("#step-form button[type=submit]")).to_have_class("btn btn-danger")
    page.click("#step-form button[type=submit]")
    expect(page.locator("[data-state]")).to_have_attribute("data-state", "published")
    expect(page.locator("[data-step]")).to_have_count(0)

    published = Assessment.objects.get(pk=assessment.pk)
    assert published.state == AssessmentState.PUBLISHED and published.total is not None and published.grade
    assert list(AssessmentStep.objects.filter(assessment=published).values_list("to_state", flat=True)) == [
        "self_assessed",
        "submitted",
        "under_review",
        "approved",
        "published",
    ]
