"""The round pages and the survey results: opening a round, progress, the assessment form with its "why", the
ranking (its queries fixed whatever the number of organizations) and its exports, and the survey import (the
preview is exactly what is written; a bad row writes nothing)."""

import csv
import io
import json
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import Workbook, load_workbook

from assessments import surveys
from assessments.models import Assessment, AssessmentRound, SurveyResult
from branches import services as branch_services
from branches.models import OrganizationKind, Role, Sector
from tests.assessments.conftest import open_workflow_round, workflow_rubric
from tests.conftest import system


@pytest.fixture
def town_assessor(county, make_user):
    return make_user("town_assessor", Role.ASSESSOR, county.town)


def sheet(rows, name="测评.xlsx"):
    book = Workbook()
    book.active.append(["组织代码", "参评人数", "满意率"])
    for row in rows:
        book.active.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return SimpleUploadedFile(name, buffer.getvalue())


# ----------------------------------------------------------------------------------------------- surveys


def test_a_survey_import_writes_exactly_what_its_preview_showed(county, town_assessor):
    assessment_round = open_workflow_round(county.town)
    preview = surveys.survey_import(
        round=assessment_round, by=town_assessor, file=sheet([("T-E-1", 40, 0.95), ("T-E-2", 12, "87.5%")])
    )
    assert not SurveyResult.objects.exists()  # a preview writes nothing
    shown = [(row.code, row.respondents, row.satisfied_share) for row in preview.rows]
    assert shown == [("T-E-1", 40, Decimal("0.9500")), ("T-E-2", 12, Decimal("0.8750"))]
    # The confirmation carries the preview's rows and checks them again.
    confirmed = json.loads(json.dumps([row.as_data() for row in preview.rows]))
    surveys.survey_import(round=assessment_round, by=town_assessor, rows=confirmed, preview=False)
    written = sorted(
        SurveyResult.objects.filter(round=assessment_round).values_list(
            "organization__code", "respondents", "satisfied_share"
        )
    )
    assert written == shown


@pytest.mark.parametrize(
    "bad_row",
    [
        ("T-J-1", 10, 0.9),
        ("NOPE", 10, 0.9),
        ("T-E-2", -3, 0.9),
        ("T-E-2", 10, 150),
        ("T-E-2", 10, "很好"),
        ("T-E-1", 5, 1),
    ],
    ids=["outside the assessor's subtree", "unknown", "negative", "above 100%", "not a number", "twice"],
)
def test_one_bad_row_refuses_the_whole_sheet_and_writes_nothing(county, town_assessor, bad_row):
    assessment_round = open_workflow_round(county.town)
    with pytest.raises(ValidationError) as refused:
        surveys.survey_import(
            round=assessment_round,
            by=town_assessor,
            file=sheet([("T-E-1", 40, 0.95), bad_row]),
            preview=False,
        )
    assert "3" in refused.value.messages[0]  # the row is named
    assert not SurveyResult.objects.exists()


def test_a_file_that_is_not_a_workbook_is_refused(county, town_assessor):
    assessment_round = open_workflow_round(county.town)
    with pytest.raises(ValidationError):
        surveys.survey_import(
            round=assessment_round, by=town_assessor, file=SimpleUploadedFile("x.xlsx", b"PK\x03\x04 not a zip")
        )


def test_an_assessor_enters_one_survey_result_on_the_page_and_the_engine_reads_it(
    county, town_assessor, client, people
):
    assessment_round = open_workflow_round(county.town)
    client.force_login(town_assessor)
    url = reverse("assessments:surveys", args=[assessment_round.pk])
    response = client.post(url, {"code": "T-E-1", "respondents": "30", "satisfied_share": "90%"})
    assert response.status_code == 302
    result = SurveyResult.objects.get(round=assessment_round, organization=county.east)
    assert (result.respondents, result.satisfied_share, result.entered_by) == (30, Decimal("0.9"), town_assessor)
    response = client.post(url, {"code": "T-J-1", "respondents": "30", "satisfied_share": "90%"})
    assert response.status_code == 200 and SurveyResult.objects.count() == 1
    client.force_login(people.secretary)
    assert client.get(url).status_code == 404


def test_the_survey_import_pages_preview_then_write(county, town_assessor, client):
    assessment_round = open_workflow_round(county.town)
    client.force_login(town_assessor)
    url = reverse("assessments:survey_import", args=[assessment_round.pk])
    response = client.post(url, {"file": sheet([("T-E-1", 40, 0.95)])})
    assert response.status_code == 200 and not SurveyResult.objects.exists()
    payload = response.context["payload"]
    response = client.post(url, {"payload": payload})
    assert response.status_code == 302
    assert SurveyResult.objects.get().satisfied_share == Decimal("0.95")


# ----------------------------------------------------------------------------------------------- pages


def test_a_reviewer_opens_a_round_and_sees_its_progress(
    county, people, client, jobs_at_once, django_capture_on_commit_callbacks
):
    rubric = workflow_rubric()
    client.force_login(people.town_reviewer)
    with django_capture_on_commit_callbacks(execute=True):  # a worker at hand scores it once the opening commits
        response = client.post(
            reverse("assessments:round_add", args=[county.town.pk]),
            {
                "rubric": rubric.pk,
                "year": 2026,
                "period": "year",
                "title": "2026年度考核",
                "self_assessment_due": "2026-12-20",
                "review_due": "2027-01-15",
            },
        )
    assert response.status_code == 302
    opened = AssessmentRound.objects.get()
    assert opened.assessments.count() == 2 and opened.scored_at is not None
    page = client.get(reverse("assessments:round", args=[opened.pk]))
    assert page.status_code == 200
    assert page.context["progress"].total == 2 and page.context["progress"].self_assessed == 0
    assert client.get(reverse("assessments:rounds")).status_code == 200
    # A half-year that is not one is refused with a message, nothing opened.
    response = client.post(
        reverse("assessments:round_add", args=[county.town.pk]),
        {"rubric": rubric.pk, "year": 2026, "period": "year", "self_assessment_due": "2025-12-20", "review_due": "x"},
    )
    assert response.status_code == 200 and AssessmentRound.objects.count() == 1


def test_the_secretary_sees_the_why_and_the_records_of_each_computed_indicator(county, people, client):
    assessment_round = open_workflow_round(county.town)
    assessment = Assessment.objects.get(round=assessment_round, organization=county.east)
    client.force_login(people.secretary)
    page = client.get(reverse("assessments:assessment", args=[assessment.pk]))
    assert page.status_code == 200
    committee = next(line for line in page.context["lines"] if line.code == "committee")
    assert committee.why and committee.why in page.content.decode()
    assert committee.records.startswith(reverse("branches:meetings", args=[county.east.pk]))
    assert reverse("assessments:self_assess", args=[assessment.pk]) in page.content.decode()
    # The self-assessment page saves points with a note; a point without evidence stays on the page with its error.
    form = reverse("assessments:self_assess", args=[assessment.pk])
    response = client.post(form, {"version": assessment.version, "self-work": "25"})
    assert response.status_code == 200 and "work" in response.context["errors"]
    response = client.post(form, {"version": assessment.version, "self-work": "25", "note-work": "台账齐全"})
    assert response.status_code == 302
    # The round's list shows the secretary only their own branch's assessment.
    page = client.get(reverse("assessments:round", args=[assessment_round.pk]))
    assert [a.organization_id for a in page.context["page"]] == [county.east.pk]
    assert client.get(reverse("assessments:ranking", args=[assessment_round.pk])).status_code == 404


def add_branches(county, count):
    for n in range(count):
        branch_services.organization_create(
            parent=county.town,
            kind=OrganizationKind.BRANCH,
            data={"code": f"T-E-X{n}", "name": f"新支部{n}", "sector": Sector.VILLAGE},
            by=system(),
        )


def ranking_queries(client, assessment_round):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("assessments:ranking", args=[assessment_round.pk]))
    assert response.status_code == 200
    return len(queries), response


def test_the_ranking_page_answers_in_the_same_number_of_queries_for_2_or_12_organizations(county, people, client):
    small = open_workflow_round(county.town)
    client.force_login(people.reviewer)
    few, _response = ranking_queries(client, small)
    add_branches(county, 10)
    large = open_workflow_round(county.town, rubric=workflow_rubric(code="workflow-2"))
    assert large.assessments.count() == 12
    many, response = ranking_queries(client, large)
    assert few == many
    assert len(response.context["page"].object_list) == 12


def test_the_ranking_marks_the_bottom_and_exports_the_same_rows(county, people, client):
    assessment_round = open_workflow_round(county.town)
    Assessment.objects.filter(round=assessment_round, organization=county.south).update(
        total=Decimal("55.123456"), rank=2, bottom=True, grade="一般", peer_size=2
    )
    Assessment.objects.filter(round=assessment_round, organization=county.east).update(
        total=Decimal("91.005"), rank=1, grade="好", peer_size=2
    )
    client.force_login(people.reviewer)
    page = client.get(reverse("assessments:ranking", args=[assessment_round.pk]))
    html = page.content.decode()
    assert "91.01" in html and "55.12" in html and "data-bottom" in html
    export = reverse("assessments:ranking_export", args=[assessment_round.pk])
    rows = list(csv.reader(io.StringIO(client.get(export + "?format=csv").content.decode("utf-8-sig"))))
    assert [row[0] for row in rows[1:]] == ["1", "2"]
    assert rows[1][5] == "91.01" and rows[2][5] == "55.12"
    book = load_workbook(io.BytesIO(client.get(export + "?format=xlsx").content))
    assert [row[3] for row in book.active.iter_rows(min_row=2, values_only=True)] == ["东村支部", "南村支部"]


def test_the_printable_report_holds_the_indicators_and_the_print_styles(county, people, client):
    assessment_round = open_workflow_round(county.town)
    assessment = Assessment.objects.get(round=assessment_round, organization=county.east)
    client.force_login(people.secretary)
    page = client.get(reverse("assessments:assessment_report", args=[assessment.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "report.css" in html and "支委会" in html and "服务群众" in html
    assert date(2026, 1, 1).isoformat() in html
