from datetime import date

import pytest

from assessments.models import ResponsibilityTemplate, TemplateItem


@pytest.fixture
def template(county):
    """The county's 2026 list for branches: three duties across the building areas."""
    template = ResponsibilityTemplate.objects.create(owner=county.root, year=2026, title="2026年党支部责任清单")
    for position, (area, text, due) in enumerate(
        [
            ("ideological", "每季度开展一次专题学习", date(2026, 3, 31)),
            ("organizational", "按期完成支部换届", date(2026, 6, 30)),
            ("integrity", "开展警示教育一次", date(2026, 12, 31)),
        ]
    ):
        TemplateItem.objects.create(template=template, area=area, text=text, due_on=due, position=position)
    return template


def workflow_rubric(code="workflow", year=2026):
    """A published rubric for branches (100 points), small enough to check by hand:

    - org 组织建设 (capped sum, 40): committee 支委会 (computed, meetings_met committee_meeting, proportional, 10);
      work 业务工作 (manual, 30)
    - service 服务群众 (manual, 60)
    - honor 表彰 (bonus, 5); minus 通报扣分 (deduction, 10); veto 一票否决 (veto)
    Bands: 好 ≥ 90, 较好 ≥ 70, 一般 ≥ 0.
    """
    from assessments.models import GradeBand, Indicator, Rubric, RubricState

    rubric = Rubric.objects.create(
        code=code, title="工作流细则", year=year, state=RubricState.PUBLISHED, levels=["branch"]
    )
    org = Indicator.objects.create(rubric=rubric, code="org", title="组织建设", kind="group", max_points=40)
    Indicator.objects.create(
        rubric=rubric,
        parent=org,
        code="committee",
        title="支委会",
        kind="computed",
        max_points=10,
        metric="meetings_met",
        params={"meeting_type": "committee_meeting"},
        rule="proportional",
    )
    Indicator.objects.create(
        rubric=rubric, parent=org, position=1, code="work", title="业务工作", kind="manual", max_points=30
    )
    Indicator.objects.create(rubric=rubric, code="service", title="服务群众", kind="manual", max_points=60, position=1)
    Indicator.objects.create(rubric=rubric, code="honor", title="表彰", kind="bonus", max_points=5, position=2)
    Indicator.objects.create(rubric=rubric, code="minus", title="通报扣分", kind="deduction", max_points=10, position=3)
    Indicator.objects.create(rubric=rubric, code="veto", title="一票否决", kind="veto", position=4)
    for name, points in (("好", 90), ("较好", 70), ("一般", 0)):
        GradeBand.objects.create(rubric=rubric, name=name, min_points=points)
    return rubric


def open_workflow_round(root, rubric=None, *, year=2026, self_assessment_due=None, review_due=None):
    """A year's round of the workflow rubric over `root`, opened and scored by the system."""
    from assessments import services
    from tests.conftest import system

    assessment_round = services.round_open(
        rubric=rubric or workflow_rubric(year=year),
        root=root,
        period_start=date(year, 1, 1),
        period_end=date(year, 12, 31),
        self_assessment_due=self_assessment_due or date(year, 12, 20),
        review_due=review_due or date(year + 1, 1, 15),
        by=system(),
    )
    services.round_score(round=assessment_round, by=system())
    return assessment_round


def open_rating(assessment_round, organization, *, audiences=None, questions=None, window=None, by=None, **data):
    """A rating of `organization` in the round, set up by the system: by default 党员 60% (3 voters) and 群众 40%
    (2 voters), one grades question, voting open from an hour ago for a day."""
    from datetime import timedelta

    from django.utils import timezone

    from assessments import ratings
    from tests.conftest import system

    now = timezone.now()
    opens_at, closes_at = window or (now - timedelta(hours=1), now + timedelta(days=1))
    setup = ratings.Setup(
        data={
            "kind": "report",
            "title": f"{organization.name}书记抓基层党建工作述职评议",
            "subject": "张一",
            "opens_at": opens_at,
            "closes_at": closes_at,
            "allow_comment": True,
            **data,
        },
        questions=questions or [{"text": "总体评价", "scale": "grades"}],
        audiences=audiences
        or [{"kind": "members", "weight": "60", "voters": 3}, {"kind": "public", "weight": "40", "voters": 2}],
    )
    return ratings.rating_save(round=assessment_round, organization=organization, setup=setup, by=by or system())


def figures(assessment=None, code="", **lookup):
    """What the engine made of one indicator (LeafFigures: value, computed, final, trace) of the assessment, or of
    the one `lookup` finds (e.g. round=…, organization=…); empty figures before the round is scored."""
    from assessments import scoring, workflow
    from assessments.models import Assessment, LeafFigures, ScoreSheet

    assessment = assessment if assessment is not None else Assessment.objects.get(**lookup)
    sheet = ScoreSheet.objects.filter(assessment=assessment).first()
    return scoring.figures_of(sheet, workflow.tree_of(assessment)).get(code) or LeafFigures()


def finals(assessment):
    """{code: final points} of every indicator of the assessment as the engine left them."""
    from decimal import Decimal

    from assessments.models import ScoreSheet

    sheet = ScoreSheet.objects.filter(assessment=assessment).first()
    return {code: Decimal(final) for code, final in sheet.finals.items()} if sheet is not None else {}
