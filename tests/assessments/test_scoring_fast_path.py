"""The scoring engine's PostgreSQL path: the score sheets go in by COPY and are compared in SQL. It must write what the
portable path (read back, compared in Python, bulk_create / bulk_update) writes, write nothing when nothing
changed, and only what changed otherwise; the number of queries does not grow with the tree.

Over the drawn tree of test_scoring.py (甲村, 乙村, 丙村 under 东镇党委)."""

import json
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assessments import metrics, scoring, services
from assessments.models import Assessment, GradeBand, Indicator, Rubric, RubricState, Score, ScoreSheet
from branches.models import Cadre, Employment, MonthFact, MonthSummary, Organization, OrganizationKind, Post, TermState
from tests.assessments import test_scoring as drawn
from tests.assessments.conftest import figures as leaf
from tests.conftest import system

tree = drawn.tree  # the drawn tree, as a fixture of this module too


def score(assessment_round, copy=True):
    scoring.COPY_SCORES = copy
    try:
        return services.round_score(round=assessment_round, by=system(), today=drawn.AFTER)
    finally:
        scoring.COPY_SCORES = True


def figures(assessment_round):
    """What a user reads of a round, by organization: the assessment's figures and its score sheet's."""
    assessments = {
        org: (total, grade, rank, peer_size, vetoed, bottom, parts, grade_trace)
        for org, total, grade, rank, peer_size, vetoed, bottom, parts, grade_trace in Assessment.objects.filter(
            round=assessment_round
        ).values_list(
            "organization_id", "total", "grade", "rank", "peer_size", "vetoed", "bottom", "parts", "grade_trace"
        )
    }
    sheets = {
        org: (finals, leaves)
        for org, finals, leaves in ScoreSheet.objects.filter(assessment__round=assessment_round).values_list(
            "assessment__organization_id", "finals", "leaves"
        )
    }
    return assessments, sheets


def stored(assessment_round, column, by="s.assessment_id"):
    """{assessment id (or `by`): a system or text column of its score sheet, as text} for the round's sheets,
    straight from the table."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {by}, s.{column}::text FROM {ScoreSheet._meta.db_table} s "  # noqa: S608 (the model's own names)
            f"JOIN {Assessment._meta.db_table} a ON a.id = s.assessment_id WHERE a.round_id = %s",
            [assessment_round.pk],
        )
        return dict(cursor.fetchall())


def versions(assessment_round):
    """{assessment id: its sheet's row version (xmin)}: a row written again gets a new one, even with the same
    values."""
    return stored(assessment_round, "xmin")


@pytest.mark.postgres
@pytest.mark.parametrize("marked", [True, False], ids=["assessor-marked", "nothing-stored"])
def test_the_copy_path_writes_the_rows_the_portable_path_writes(tree, marked):
    """The same branches scored twice under the same rubric: over the county by the portable path, over the town
    by COPY. Every figure and every sheet (values, points, traces, to the very text) is the same, and so are the
    counts — with an assessor's scores stored before, or nothing (the round's first run inserts straight away)."""
    rubric = drawn.make_rubric()
    portable_round = drawn.open_round(rubric, tree.root)
    copied_round = drawn.open_round(rubric, tree.town)
    if marked:
        for assessment_round in (portable_round, copied_round):
            drawn.manual_scores(drawn.by_org(assessment_round), tree)

    portable = score(portable_round, copy=False)
    copied = score(copied_round)

    assert figures(copied_round) == figures(portable_round)
    texts = [stored(each, "leaves", by="a.organization_id") for each in (copied_round, portable_round)]
    assert texts[0] == texts[1]
    assert (copied.sheets_created, copied.sheets_updated, copied.assessments_changed) == (
        portable.sheets_created,
        portable.sheets_updated,
        portable.assessments_changed,
    )
    assert (copied.sheets_created, copied.sheets_updated) == (3, 0)  # one sheet for each of the three branches
    if marked:  # the assessor's points count: 甲村's 工作 55, 荣誉 3 (approved)
        a = Assessment.objects.get(round=copied_round, organization=tree.a)
        assert (leaf(a, "work").final, leaf(a, "honor").final) == (55, 3)
    a_committee = leaf(round=copied_round, organization=tree.a, code="committee")
    assert a_committee.trace["inputs"]["missing"] == [
        {"span": "2026-05", "start": "2026-05-01", "held": 0, "required": 1}
    ]


@pytest.mark.postgres
def test_a_second_run_writes_nothing_and_a_changed_input_writes_only_what_changed(tree):
    """Nothing changed: no score sheet is written again (their row versions stay). 乙村's attendance then becomes
    50 of 50 (6 → 10 points): only 乙村's sheet is written, and 乙村's total becomes 90."""
    assessment_round = drawn.open_round(drawn.make_rubric(), tree.root)
    drawn.manual_scores(drawn.by_org(assessment_round), tree)
    score(assessment_round)
    before = versions(assessment_round)

    again = score(assessment_round)

    assert (again.sheets_created, again.sheets_updated, again.assessments_changed) == (0, 0, 0)
    assert versions(assessment_round) == before

    MonthSummary.objects.filter(organization=tree.b).update(present=25)
    changed = score(assessment_round)

    b = Assessment.objects.get(round=assessment_round, organization=tree.b)
    attendance = leaf(b, "attendance")
    assert (changed.sheets_created, changed.sheets_updated) == (0, 1)
    after = versions(assessment_round)
    assert {pk for pk in after if after[pk] != before[pk]} == {b.pk}
    assert attendance.final == 10 and attendance.trace["inputs"]["present"] == 50
    assert Assessment.objects.get(round=assessment_round, organization=tree.b).total == 90


@pytest.mark.postgres
def test_a_sheet_saved_through_the_model_keeps_the_text_the_engine_wrote(tree):
    """The sheet's leaves are kept as written (`json`) and compared as text: a sheet saved whole by the model
    keeps the very text the engine wrote, and evidence the self-assessment saves on a score changes nothing the
    engine computes, so the next run finds nothing changed and writes nothing."""
    assessment_round = drawn.open_round(drawn.make_rubric(), tree.root)
    score(assessment_round)

    written = stored(assessment_round, "leaves")
    a = Assessment.objects.get(round=assessment_round, organization=tree.a)
    ScoreSheet.objects.get(assessment=a).save()
    Score.objects.create(assessment=a, code="committee", kind="computed", evidence_note="支委会记录见附件")

    assert stored(assessment_round, "leaves") == written
    assert '"missing":[{"span":"2026-05"' in written[a.pk]  # compact, as the engine writes it
    again = score(assessment_round)
    assert (again.sheets_created, again.sheets_updated) == (0, 0)


@pytest.mark.postgres
def test_names_with_tabs_and_backslashes_reach_the_trace_intact(tree):
    """A cadre's name is the organization's text: a backslash, a tab or a quote in it goes through COPY as it
    is, and the trace reads the same as the portable path's."""
    rubric = Rubric.objects.create(
        code="cadres", title="干部培训", year=2026, state=RubricState.PUBLISHED, levels=[OrganizationKind.BRANCH]
    )
    Indicator.objects.create(
        rubric=rubric,
        code="trained",
        title="干部培训",
        kind="computed",
        max_points=10,
        metric="cadres_trained",
        rule="proportional",
    )
    GradeBand.objects.create(rubric=rubric, name="合格", min_points=0)
    name = '王\\一\t"二"'
    Cadre.objects.create(
        organization=tree.a,
        name=name,
        post=Post.PARTY_AFFAIRS_STAFF,
        employment=Employment.FULL_TIME,
        term_start=date(2025, 1, 1),
    )
    copied_round = drawn.open_round(rubric, tree.root)
    portable_round = drawn.open_round(rubric, tree.town)

    score(copied_round)
    score(portable_round, copy=False)

    trace = leaf(round=copied_round, organization=tree.a, code="trained").trace
    assert trace["inputs"]["untrained"] == [name]
    assert figures(copied_round)[1] == figures(portable_round)[1]


@pytest.mark.postgres
def test_scoring_by_copy_takes_the_same_queries_for_three_or_twelve_branches(tree):
    """A round over 东镇党委's three branches and one over the county with nine more (each assessment with an
    assessor's score) take the same queries, the COPY among them."""
    other = drawn.organization(tree.root, OrganizationKind.PRIMARY_COMMITTEE, "S-2", "西镇党委")
    for i in range(9):
        branch = drawn.organization(other, OrganizationKind.BRANCH, f"S-2-{i}", f"西{i}村支部")
        drawn.monthly(branch, "committee_meeting", [1] * 12)
    rubric = drawn.make_rubric()
    counts = []
    for root in (tree.town, tree.root):
        assessment_round = drawn.open_round(rubric, root)
        assessments = drawn.by_org(assessment_round)
        for assessment in assessments.values():
            drawn.scored(assessment, "work", assessor_score=50)
        with CaptureQueriesContext(connection) as queries:
            run = score(assessment_round)
        assert run.assessments == len(assessments)
        counts.append([query["sql"][:60] for query in queries.captured_queries])
    assert len(counts[0]) == len(counts[1]), "\n".join(counts[0] + ["----"] + counts[1])
    assert any(sql.startswith("COPY") for sql in counts[1])


@pytest.mark.parametrize("name", sorted(metrics.REGISTRY))
def test_each_metric_writes_its_inputs_as_the_json_its_trace_holds(tree, name):
    """What a score's trace stores is written straight from the metric's aggregates as JSON text: it reads back
    as the inputs the "why" is told from, for every organization (with rows or without)."""
    MonthFact.objects.update_or_create(
        organization=tree.c,
        month=date(2026, 4, 1),
        defaults={"existed": True, "committee_serving": True, "term_state": TermState.OVERDUE},
    )
    Cadre.objects.create(
        organization=tree.a,
        name='王"一\\',
        post=Post.PARTY_AFFAIRS_STAFF,
        employment=Employment.FULL_TIME,
        term_start=date(2025, 1, 1),
    )
    Organization.objects.filter(pk=tree.b.pk).update(staff_headcount=120)
    params = {"meeting_type": "committee_meeting"} if name == "meetings_met" else {}
    found = metrics.compute(
        name, [o.pk for o in Organization.objects.all()], date(2026, 1, 1), date(2026, 12, 31), params
    )
    assert len(found) == 5
    for org_id in found:
        assert json.loads(found.text(org_id)) == found.inputs(org_id) == found[org_id][1]


def test_meetings_of_several_types_in_one_query_answer_as_each_alone(tree, django_assert_num_queries):
    """A rubric asking for committee meetings and general meetings reads the kept results once; each answer is
    the one the metric gives for its type alone."""
    drawn.monthly(tree.a, "general_meeting", [1, 0, 1] * 4)
    ids = [o.pk for o in Organization.objects.all()]
    period = (date(2026, 1, 1), date(2026, 12, 31))
    types = [{"meeting_type": "committee_meeting"}, {"meeting_type": "general_meeting"}]
    with django_assert_num_queries(1):
        together = metrics.compute_many("meetings_met", ids, *period, types)
    for params, answer in zip(types, together, strict=True):
        alone = metrics.compute("meetings_met", ids, *period, params)
        assert {org: answer[org] for org in ids} == {org: alone[org] for org in ids}
    assert together[1][tree.a.pk][1]["met"] == 8 and together[0][tree.a.pk][1]["met"] == 11


@pytest.mark.postgres
def test_a_large_round_leaves_the_planner_statistics_of_its_assessments(tree, monkeypatch):
    """Opening a round over thousands of organizations analyzes the assessments, so its first scoring is planned
    knowing how many there are (here the threshold is lowered to the drawn tree's three branches)."""
    monkeypatch.setattr(services, "ANALYZED_FROM", 3)
    drawn.open_round(drawn.make_rubric(), tree.root)
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [Assessment._meta.db_table])
        assert cursor.fetchone()[0] >= 3


@pytest.mark.parametrize("database", ["postgres", "any"])
def test_a_round_over_most_of_the_tree_scores_as_one_reading_only_its_own_organizations(tree, monkeypatch, database):
    """A round over most of the organizations reads its metrics over all of them (no join of every summary row to
    the round); a round over a small part reads only its own. The same branches score the same either way."""
    if database == "postgres" and connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    rubric = drawn.make_rubric()
    whole, own = drawn.open_round(rubric, tree.root), drawn.open_round(rubric, tree.town)
    drawn.manual_scores(drawn.by_org(whole), tree)
    drawn.manual_scores(drawn.by_org(own), tree)
    read = {}
    for assessment_round, share in ((whole, 3), (own, 0)):  # 3 branches of 5 organizations are a third; then never
        monkeypatch.setattr(scoring, "EVERYONE_FROM", share)
        with CaptureQueriesContext(connection) as queries:
            score(assessment_round, copy=database == "postgres")
        summaries = [q["sql"] for q in queries.captured_queries if 'FROM "branches_monthsummary"' in q["sql"]]
        read[assessment_round.pk] = [Assessment._meta.db_table in sql for sql in summaries]

    assert read == {whole.pk: [False], own.pk: [True]}
    assert figures(whole) == figures(own)
