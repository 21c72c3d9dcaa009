"""The metrics the rubrics name, over the drawn county of tests/conftest.py (县财政局支部 has 80 staff and one
part-time secretary, 王一, serving since 2024)."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assessments import metrics
from assessments.models import AssessmentRound, DutyMonthSummary, Rubric, RubricState, SurveyResult
from branches.models import Cadre, Employment, MonthFact, MonthSummary, Organization, Post, TermState, TrainingRecord

YEAR = (date(2026, 1, 1), date(2026, 12, 31))


def run(name, organizations, params=None, period=YEAR, round=None):  # noqa: A002
    return metrics.compute(name, [o.pk for o in organizations], *period, params or {}, round=round)


def test_cadres_trained_is_the_share_of_serving_cadres_with_training_in_the_period(county):
    """王一 (4 hours in March 2026) and 赵二 (full-time, trained only in 2025): 1 of 2 → 0.5; needing 8 hours: 0.
    东村 has no cadre: no value."""
    wang = Cadre.objects.get(organization=county.finance, name="王一")
    zhao = Cadre.objects.create(
        organization=county.finance,
        name="赵二",
        post=Post.PARTY_AFFAIRS_STAFF,
        employment=Employment.FULL_TIME,
        term_start=date(2025, 1, 1),
    )
    TrainingRecord.objects.create(
        cadre=wang, course="党务培训", organizer="县委组织部", held_on=date(2026, 3, 2), hours=4
    )
    TrainingRecord.objects.create(
        cadre=zhao, course="党务培训", organizer="县委组织部", held_on=date(2025, 3, 2), hours=8
    )
    found = run("cadres_trained", [county.finance, county.east])
    assert found[county.finance.pk] == (
        Decimal("0.5"),
        {"cadres": 2, "trained": 1, "untrained": ["赵二"], "min_hours": "0"},
    )
    assert found[county.east.pk][0] is None
    assert run("cadres_trained", [county.finance], {"min_hours": 8})[county.finance.pk][0] == 0


def test_staffing_ratio_weighs_full_time_staff_against_one_percent_of_the_headcount(county):
    """80 staff: 1% → 1 required (rounded up), 2% → 1.6; one full-time cadre → 1; at 2% → 1 of 2 → 0.5.
    东村 has no headcount recorded: no value."""
    Cadre.objects.create(
        organization=county.finance,
        name="赵二",
        post=Post.PARTY_AFFAIRS_STAFF,
        employment=Employment.FULL_TIME,
        term_start=date(2025, 1, 1),
    )
    found = run("staffing_ratio", [county.finance, county.east])
    assert found[county.finance.pk] == (
        Decimal(1),
        {"headcount": 80, "share": "0.01", "required": 1, "upper": 1, "full_time": 1},
    )
    assert found[county.east.pk][0] is None
    assert run("staffing_ratio", [county.finance], {"share": "0.02"})[county.finance.pk][0] == Decimal("0.5")


def test_committee_term_overdue_counts_the_months_ended_overdue(county):
    for month in (3, 4):
        MonthFact.objects.update_or_create(
            organization=county.finance,
            month=date(2026, month, 1),
            defaults={"existed": True, "committee_serving": True, "term_state": TermState.OVERDUE},
        )
    found = run("committee_term_overdue", [county.finance])
    assert found[county.finance.pk] == (Decimal(2), {"count": 2, "months": ["2026-03", "2026-04"]})
    half = run("committee_term_overdue", [county.finance], period=(date(2026, 1, 1), date(2026, 3, 31)))
    assert half[county.finance.pk][0] == 1


def test_rectifications_and_attendance_read_the_month_summaries(county):
    """Findings closed: 4, one late → 0.75. Attendance of general meetings 18 of 20 → 0.9; of every type 18 of 30
    (a lecture 0 of 10) → 0.6."""
    DutyMonthSummary.objects.create(
        organization=county.east, month=date(2026, 5, 1), findings_closed=4, findings_closed_late=1
    )
    MonthSummary.objects.update_or_create(
        organization=county.east,
        month=date(2026, 4, 1),
        meeting_type="general_meeting",
        party_group=0,
        defaults={"held": 1, "expected": 20, "present": 18},
    )
    MonthSummary.objects.update_or_create(
        organization=county.east,
        month=date(2026, 4, 1),
        meeting_type="party_lecture",
        party_group=0,
        defaults={"held": 1, "expected": 10, "present": 0},
    )
    assert run("rectifications_on_time", [county.east])[county.east.pk] == (Decimal("0.75"), {"closed": 4, "late": 1})
    assert run("attendance_rate", [county.east], {"meeting_type": "general_meeting"})[county.east.pk][0] == Decimal(
        "0.9"
    )
    assert run("attendance_rate", [county.east])[county.east.pk][0] == Decimal("0.6")


def test_survey_satisfaction_reads_the_round_result(county):
    rubric = Rubric.objects.create(code="s", title="测评", year=2026, state=RubricState.PUBLISHED)
    assessment_round = AssessmentRound.objects.create(
        rubric=rubric,
        root=county.root,
        period_start=YEAR[0],
        period_end=YEAR[1],
        self_assessment_due=date(2027, 1, 15),
        review_due=date(2027, 1, 31),
    )
    SurveyResult.objects.create(
        round=assessment_round, organization=county.east, respondents=30, satisfied_share="0.85"
    )
    found = run("survey_satisfaction", [county.east, county.south], round=assessment_round)
    assert found[county.east.pk] == (Decimal("0.85"), {"respondents": 30, "satisfied_share": "0.8500"})
    assert found[county.south.pk][0] is None
    assert run("survey_satisfaction", [county.east], {"min_respondents": 50})[county.east.pk][0] is None


@pytest.mark.parametrize("name", sorted(metrics.REGISTRY))
def test_every_metric_answers_for_every_organization_in_a_fixed_number_of_queries(county, name):
    params = {"meeting_type": "general_meeting"} if name == "meetings_met" else {}
    counts = []
    for organizations in ([county.east], list(Organization.objects.all())):
        with CaptureQueriesContext(connection) as queries:
            found = run(name, organizations, params)
        assert set(found) == {o.pk for o in organizations}
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 2
    assert metrics.get(name).doc and metrics.validate(name, params) == []
