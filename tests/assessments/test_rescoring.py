"""Approving an assessment scores its round again as a job queued when the approval commits: the page answers at
once and says that scores are being recalculated; the job then updates totals, ranks and grades (quotas included)
and keeps the approval's frozen copy of the figures. Publishing waits for that job; published assessments are
never recomputed.

The round: the workflow rubric (tests/assessments/conftest.py) over 中共东镇委员会, with 好 (≥ 90) capped at half of
the peer group, so one of the town's two branches can have it. 支委会 gives both branches its full 10 points (the
fixture's branches owe no meeting). 南村 is scored 25 + 60: 35 + 60 = 95, 好, rank 1. 东村 is then scored 30 + 60
and a bonus of 3: 40 + 60 + 3, capped at the rubric's 100. Once its approval is scored it ranks first and takes
the one 好; 南村 drops to 较好 by the quota.
"""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from assessments import services, tasks, workflow
from assessments.models import Assessment, AssessmentRound, AssessmentState, AssessmentStep, GradeBand, Score
from tests.assessments.conftest import open_workflow_round, workflow_rubric
from tests.assessments.test_workflow import at, crew, fresh, score  # noqa: F401 (crew is a fixture)
from tests.conftest import system

S = AssessmentState


@pytest.fixture
def town_round(county, crew, settings, tmp_path):  # noqa: F811
    settings.MEDIA_ROOT = tmp_path
    rubric = workflow_rubric()
    GradeBand.objects.filter(rubric=rubric, name="好").update(max_share=Decimal("0.5"))
    assessment_round = open_workflow_round(county.town, rubric)
    south = Assessment.objects.get(round=assessment_round, organization=county.south)
    at(south, S.UNDER_REVIEW, work=25, service=60)
    services.round_score(round=assessment_round, by=system())
    return assessment_round


def east_scored(round_, county, crew):  # noqa: F811
    east = Assessment.objects.select_related("round", "organization").get(round=round_, organization=county.east)
    east = at(east, S.UNDER_REVIEW)
    east = score(east, crew.town_assessor, work={"points": "30"}, service={"points": "60"}, honor={"points": "3"})
    return workflow.adjustments_approve(assessment=east, by=crew.town_reviewer, version=east.version, codes=["honor"])


def figures(round_, county):
    rows = Assessment.objects.filter(round=round_).select_related("organization")
    return {a.organization.name: (a.rank, a.grade) for a in rows}


def test_approving_answers_at_once_and_the_queued_job_then_ranks_and_grades_with_the_quota(
    client,
    county,
    crew,  # noqa: F811
    town_round,
    queued,
    django_capture_on_commit_callbacks,
):
    east = east_scored(town_round, county, crew)
    assert Score.objects.get(assessment=east, code="committee").final == 10
    assert figures(town_round, county) == {"东村支部": (2, "一般"), "南村支部": (1, "好")}
    scored_at = AssessmentRound.objects.get(pk=town_round.pk).scored_at

    client.force_login(crew.town_assessor)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("assessments:assessment_step", args=[east.pk, "approved"]),
            {"version": east.version, "comment": "同意"},
        )
    assert response.status_code == 302
    # Approved at once; the round is not scored in the request: the job waits in the queue.
    assert queued == [("assessments.rescore_round", {"round_id": town_round.pk})]
    assert fresh(east).state == S.APPROVED
    assert AssessmentRound.objects.get(pk=town_round.pk).scored_at == scored_at
    assert figures(town_round, county) == {"东村支部": (2, "一般"), "南村支部": (1, "好")}
    step = AssessmentStep.objects.get(assessment=east, to_state=S.APPROVED)
    assert step.figures_pending and step.snapshot == {}
    page = client.get(response.url).content.decode()
    assert "正在重新计算本轮分数，排名和等次稍后更新" in page  # the message after the step
    assert "本考核通过后正在重新计算本轮分数" in page and "data-being-scored" in page
    client.force_login(crew.town_reviewer)
    for name in ("round", "ranking"):
        page = client.get(reverse(f"assessments:{name}", args=[town_round.pk])).content.decode()
        assert "有 1 份考核刚通过，正在重新计算本轮分数" in page, name
    # Publishing waits for the job, so what is published counts the assessor's points.
    page = client.get(reverse("assessments:assessment_step", args=[east.pk, "published"])).content.decode()
    assert "考核通过后本轮分数正在重新计算，请在分数更新后再公布" in page
    with pytest.raises(ValidationError):
        workflow.publish(assessment=fresh(east), by=crew.town_reviewer, version=fresh(east).version)
    assert fresh(east).state == S.APPROVED

    assert tasks.rescore_round(round_id=town_round.pk) == 2  # the worker runs the job
    east = fresh(east)
    assert east.total == 100
    assert Assessment.objects.get(round=town_round, organization=county.south).total == 95
    assert figures(town_round, county) == {"东村支部": (1, "好"), "南村支部": (2, "较好")}
    south = Assessment.objects.get(round=town_round, organization=county.south)
    assert south.grade_trace == {"reasons": ["quota:好"]}
    step.refresh_from_db()
    assert not step.figures_pending
    assert step.snapshot["total"] == str(east.total) and step.snapshot["grade"] == "好" and step.snapshot["rank"] == 1
    assert "data-being-scored" not in client.get(reverse("assessments:ranking", args=[town_round.pk])).content.decode()
    # A second job for the same approvals finds nothing waiting and does not score the round again.
    scored_at = AssessmentRound.objects.get(pk=town_round.pk).scored_at
    assert tasks.rescore_round(round_id=town_round.pk) is None
    assert AssessmentRound.objects.get(pk=town_round.pk).scored_at == scored_at

    published = workflow.publish(assessment=east, by=crew.town_reviewer, version=east.version)
    assert published.state == S.PUBLISHED
    assert AssessmentStep.objects.get(assessment=east, to_state=S.PUBLISHED).snapshot["grade"] == "好"


def test_with_a_worker_at_hand_the_approval_is_scored_as_soon_as_it_commits(
    county,
    crew,  # noqa: F811
    town_round,
    jobs_at_once,
    django_capture_on_commit_callbacks,
):
    east = east_scored(town_round, county, crew)
    with django_capture_on_commit_callbacks(execute=True):
        east = workflow.approve(assessment=east, by=crew.town_assessor, version=east.version)
        assert fresh(east).rank == 2  # inside the transaction: not scored yet
    assert figures(town_round, county) == {"东村支部": (1, "好"), "南村支部": (2, "较好")}
    assert not AssessmentStep.objects.filter(figures_pending=True).exists()


def test_without_a_queue_the_approval_is_scored_after_it_commits(
    county,
    crew,  # noqa: F811
    town_round,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    from branches import jobs

    monkeypatch.setattr(jobs, "ENQUEUE", [lambda task, **kwargs: False])  # the broker is away
    east = east_scored(town_round, county, crew)
    with django_capture_on_commit_callbacks(execute=True):
        workflow.approve(assessment=east, by=crew.town_assessor, version=east.version)
    assert figures(town_round, county) == {"东村支部": (1, "好"), "南村支部": (2, "较好")}


def test_an_approval_that_is_rolled_back_queues_nothing(
    county,
    crew,  # noqa: F811
    town_round,
    queued,
    django_capture_on_commit_callbacks,
):
    east = east_scored(town_round, county, crew)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError):
        workflow.approve(assessment=east, by=crew.town_assessor, version=east.version - 1)  # a stale page
    assert queued == []


def test_the_nightly_run_also_keeps_the_figures_of_waiting_approvals(
    county,
    crew,  # noqa: F811
    town_round,
    queued,
    django_capture_on_commit_callbacks,
):
    """A job lost with its queue does not leave an approval waiting for ever: any scoring of the round settles it."""
    east = east_scored(town_round, county, crew)
    with django_capture_on_commit_callbacks(execute=True):
        workflow.approve(assessment=east, by=crew.town_assessor, version=east.version)
    services.rounds_score_open(by=system())
    step = AssessmentStep.objects.get(assessment=east, to_state=S.APPROVED)
    assert not step.figures_pending and step.snapshot["rank"] == 1
