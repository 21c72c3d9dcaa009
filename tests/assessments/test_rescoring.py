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

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation

from assessments import services, tasks, workflow
from assessments.models import Assessment, AssessmentRound, AssessmentState, AssessmentStep, GradeBand, ScoreSheet
from tests.assessments.conftest import figures as leaf
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
    assert leaf(east, "committee").final == 10
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


# ------------------------------------------------------------------------------------ a round's first scoring
# Opening a round does not score it in the request: its first scoring is the same job, queued once the opening
# commits. Until it has run, every page of the round says that the computed indicators are being calculated, and
# nothing can be self-assessed, submitted, scored or published.

OPEN_FORM = {
    "rubric": None,
    "year": 2026,
    "period": "year",
    "title": "2026年度考核",
    "self_assessment_due": "2026-12-20",
    "review_due": "2027-01-15",
}
CALCULATING = "正在计算…"


def open_on_the_page(client, county, rubric):
    return client.post(reverse("assessments:round_add", args=[county.town.pk]), {**OPEN_FORM, "rubric": rubric.pk})


def test_opening_a_round_answers_at_once_and_the_queued_job_fills_in_the_computed_indicators(
    client,
    county,
    crew,  # noqa: F811
    queued,
    django_capture_on_commit_callbacks,
):
    client.force_login(crew.town_reviewer)
    with django_capture_on_commit_callbacks(execute=True):
        response = open_on_the_page(client, county, workflow_rubric())
    assert response.status_code == 302
    opened = AssessmentRound.objects.get()
    # Opened at once, with an assessment per branch, but nothing scored in the request: the job waits in the queue.
    assert queued == [("assessments.rescore_round", {"round_id": opened.pk})]
    assert opened.assessments.count() == 2 and opened.scored_at is None and opened.first_scoring_pending
    assert not ScoreSheet.objects.exists()
    assert not Assessment.objects.filter(round=opened, total__isnull=False).exists()
    page = client.get(response.url).content.decode()
    assert "考核轮次已开启。系统正在根据台账计算各项计算指标" in page  # the message after opening
    pages = {
        "round": reverse("assessments:round", args=[opened.pk]),
        "ranking": reverse("assessments:ranking", args=[opened.pk]),
        "surveys": reverse("assessments:surveys", args=[opened.pk]),
        "rounds": reverse("assessments:rounds"),
    }
    east = Assessment.objects.get(round=opened, organization=county.east)
    for user, names in (
        (crew.town_reviewer, ["round", "ranking", "rounds"]),
        (crew.town_assessor, ["surveys"]),
        (crew.secretary, ["assessment", "report", "self_assess"]),
    ):
        client.force_login(user)
        pages |= {
            "assessment": reverse("assessments:assessment", args=[east.pk]),
            "report": reverse("assessments:assessment_report", args=[east.pk]),
            "self_assess": reverse("assessments:self_assess", args=[east.pk]),
        }
        for name in names:
            html = client.get(pages[name]).content.decode()
            assert CALCULATING in html and "data-first-scoring" in html, name
            if name != "rounds":
                assert "计算完成后即显示总分、等次和排名" in html and "portal/refresh.js" in html, name
    # The secretary is not offered a self-assessment form on figures that do not exist yet.
    html = client.get(pages["self_assess"]).content.decode()
    assert "保存自评" not in html and " disabled" in html
    assert pages["self_assess"] not in client.get(pages["assessment"]).content.decode()
    # The ranking offers no export, and an export asked for answers with the reason, on the ranking.
    client.force_login(crew.town_reviewer)
    assert "data-exports" not in client.get(pages["ranking"]).content.decode()
    export = client.get(reverse("assessments:ranking_export", args=[opened.pk]), {"format": "xlsx"}, follow=True)
    assert export.redirect_chain == [(pages["ranking"], 302)]
    assert "正在计算…：本轮考核的计算指标尚未算出，请在计算完成后再导出。" in export.content.decode()

    assert tasks.rescore_round(round_id=opened.pk) == 2  # the worker runs the job
    opened.refresh_from_db()
    assert opened.scored_at is not None and not opened.first_scoring_pending
    assert leaf(east, "committee").final == 10
    assert Assessment.objects.filter(round=opened, total__isnull=False, rank__isnull=False).count() == 2
    for name in ("round", "ranking", "rounds"):
        html = client.get(pages[name]).content.decode()
        assert "data-first-scoring" not in html and CALCULATING not in html, name
    export = client.get(reverse("assessments:ranking_export", args=[opened.pk]), {"format": "xlsx"})
    assert export.status_code == 200 and export["Content-Type"].startswith("application/vnd.openxmlformats")
    # A job queued again (a retry, a second opening's run) finds nothing to do.
    scored_at = opened.scored_at
    assert tasks.rescore_round(round_id=opened.pk) is None
    assert AssessmentRound.objects.get(pk=opened.pk).scored_at == scored_at


def test_a_round_refused_at_opening_queues_nothing(
    client,
    county,
    crew,  # noqa: F811
    queued,
    django_capture_on_commit_callbacks,
):
    client.force_login(crew.town_reviewer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("assessments:round_add", args=[county.town.pk]),
            {**OPEN_FORM, "rubric": workflow_rubric().pk, "review_due": "2026-12-01"},  # before the self-assessment
        )
    assert response.status_code == 200 and "复核截止日不能早于自评截止日" in response.content.decode()
    assert not AssessmentRound.objects.exists() and queued == []


def test_with_the_broker_away_the_round_is_scored_once_its_opening_commits(
    client,
    county,
    crew,  # noqa: F811
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    from branches import jobs

    monkeypatch.setattr(jobs, "ENQUEUE", [lambda task, **kwargs: False])  # the broker is away
    client.force_login(crew.town_reviewer)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = open_on_the_page(client, county, workflow_rubric())
    assert response.status_code == 302 and len(callbacks) == 1
    opened = AssessmentRound.objects.get()
    assert opened.scored_at is not None  # scored in the request, after the commit, as before
    assert Assessment.objects.filter(round=opened, total__isnull=False, rank__isnull=False).count() == 2
    assert "data-first-scoring" not in client.get(response.url).content.decode()


@pytest.fixture
def unscored(county, crew, settings, tmp_path):  # noqa: F811
    """A round over the town opened, its first scoring not run yet (its job is never run in these tests)."""
    settings.MEDIA_ROOT = tmp_path
    return services.round_open(
        rubric=workflow_rubric(),
        root=county.town,
        period_start=date(2026, 1, 1),
        period_end=date(2026, 12, 31),
        self_assessment_due=date(2026, 12, 20),
        review_due=date(2027, 1, 15),
        by=system(),
    )


WAIT = "本轮考核的计算指标正在根据台账计算，请稍候，待计算完成后再操作。"


def refused(call):
    with translation.override("zh-hans"), pytest.raises(ValidationError) as refusal:
        call()
    return refusal.value.messages


def test_nothing_is_self_assessed_submitted_scored_or_published_before_the_first_scoring(
    county,
    crew,  # noqa: F811
    unscored,
):
    east = Assessment.objects.select_related("round", "organization").get(round=unscored, organization=county.east)
    before = (list(Assessment.objects.values_list("pk", "state", "version")), ScoreSheet.objects.count())
    assert refused(
        lambda: workflow.self_assess(
            assessment=east, by=crew.secretary, version=east.version, entries={"work": {"points": "25", "note": "台账"}}
        )
    ) == [WAIT]
    # Whatever the state (set here as the steps would have), every step and every score is refused the same way.
    for state, call in (
        (S.SELF_ASSESSED, lambda a: workflow.submit(assessment=a, by=crew.secretary, version=a.version)),
        (S.SUBMITTED, lambda a: workflow.take(assessment=a, by=crew.town_assessor, version=a.version)),
        (S.UNDER_REVIEW, lambda a: score(a, crew.town_assessor, work={"points": "28"})),
        (
            S.UNDER_REVIEW,
            lambda a: workflow.adjustments_approve(
                assessment=a, by=crew.town_reviewer, version=a.version, codes=["honor"]
            ),
        ),
        (S.UNDER_REVIEW, lambda a: workflow.approve(assessment=a, by=crew.town_assessor, version=a.version)),
        (S.APPROVED, lambda a: workflow.publish(assessment=a, by=crew.town_reviewer, version=a.version)),
    ):
        Assessment.objects.filter(pk=east.pk).update(state=state)
        assert refused(lambda call=call: call(fresh(east))) == [WAIT], state
    Assessment.objects.filter(pk=east.pk).update(state=S.OPEN)
    assert (list(Assessment.objects.values_list("pk", "state", "version")), ScoreSheet.objects.count()) == before
    assert not AssessmentStep.objects.exists()

    services.round_score(round=unscored, by=system())  # the job has run: the same call is taken
    done = workflow.self_assess(
        assessment=fresh(east),
        by=crew.secretary,
        version=east.version,
        entries={"work": {"points": "25", "note": "台账"}},
    )
    assert done.state == S.SELF_ASSESSED


def test_the_self_assessment_page_refuses_a_post_before_the_first_scoring_and_keeps_what_was_typed(
    client,
    county,
    crew,  # noqa: F811
    unscored,
):
    east = Assessment.objects.get(round=unscored, organization=county.east)
    client.force_login(crew.secretary)
    response = client.post(
        reverse("assessments:self_assess", args=[east.pk]),
        {"version": east.version, "self-work": "25", "note-work": "台账齐全"},
    )
    html = response.content.decode()
    assert response.status_code == 200 and WAIT in html and "台账齐全" in html
    assert not ScoreSheet.objects.exists() and fresh(east).state == S.OPEN
