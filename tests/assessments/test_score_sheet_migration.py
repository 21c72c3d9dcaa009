"""Migration assessments.0012 moves what the engine computed from one score row per indicator into one score sheet
per assessment, and back: a round scored, migrated back and forth, keeps every figure, every person's input, and
the next run finds nothing to write.

On PostgreSQL, whose schema changes are transactional: the test migrates inside its own transaction, which is
rolled back afterwards like any other test's (no other test sees the schema it went through)."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from assessments import scoring, services, workflow
from assessments.models import Assessment, Score, ScoreSheet
from tests.assessments import test_scoring as drawn
from tests.conftest import system

tree = drawn.tree  # the drawn tree of test_scoring.py, as a fixture of this module too
BEFORE = [("assessments", "0011_scoring_writes")]
AFTER = [("assessments", "0012_score_sheets")]


def migrate(target):
    with connection.cursor() as cursor:  # the rows' key checks now: a table with checks pending cannot be altered
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    executor = MigrationExecutor(connection)
    executor.migrate(target)
    return executor.loader.project_state(target).apps


@pytest.mark.postgres
def test_the_figures_go_into_the_sheets_and_back(tree):
    assessment_round = drawn.open_round(drawn.make_rubric(), tree.root)
    drawn.manual_scores(drawn.by_org(assessment_round), tree)
    services.round_score(round=assessment_round, by=system(), today=drawn.AFTER)
    sheets = {sheet.pk: (sheet.through, sheet.finals, sheet.leaves) for sheet in ScoreSheet.objects.all()}
    read = {a.pk: scoring.figures_of(a.sheet, workflow.tree_of(a)) for a in Assessment.objects.all()}
    entered = sorted(Score.objects.values_list("assessment_id", "code", "assessor_score", "approved_by_id"))
    assert len(sheets) == 3 and len(entered) == 6

    old = migrate(BEFORE)
    rows = {(row.assessment_id, row.code): row for row in old.get_model("assessments", "Score").objects.all()}
    for pk, (_through, finals, _leaves) in sheets.items():
        for code in finals:  # every indicator has its row again, with what the sheet gave
            row, figures = rows[pk, code], read[pk][code]
            assert (row.value, row.computed, row.final, row.trace) == (
                figures.value,
                figures.computed,
                figures.final,
                figures.trace,
            )
    a_committee = rows[next(pk for pk, sheet in sheets.items() if sheet[1]["committee"] == "9.166667"), "committee"]
    assert a_committee.trace["inputs"]["missing"][0]["span"] == "2026-05"
    assert a_committee.trace["through"] == "2026-12-31" and a_committee.trace["max"] == "10.00"

    migrate(AFTER)
    assert {sheet.pk: (sheet.through, sheet.finals, sheet.leaves) for sheet in ScoreSheet.objects.all()} == sheets
    # Only the scores a person entered something on are left.
    assert sorted(Score.objects.values_list("assessment_id", "code", "assessor_score", "approved_by_id")) == entered
    again = services.round_score(round=assessment_round, by=system(), today=drawn.AFTER)
    assert (again.sheets_created, again.sheets_updated, again.assessments_changed) == (0, 0, 0)
