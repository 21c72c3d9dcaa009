"""The write services of duties, inspections, rubrics, assessments and ratings, called with the worst values a form,
an API client or a script can hand them: each does its work or refuses (ValidationError, PermissionDenied); never
another exception, and a refusal writes nothing. See tests/branches/test_hostile_services.py for the rules.
"""

import json
import os
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from hypothesis import assume, given
from hypothesis import strategies as st

from assessments import ratings, rubrics, services, surveys, workflow
from assessments.models import (
    Assessment,
    AssessmentRound,
    AssessmentState,
    Finding,
    FindingState,
    FindingTransition,
    GradeBand,
    Indicator,
    Inspection,
    Rating,
    RatingAudience,
    RatingBallot,
    RatingQuestion,
    RatingTicket,
    ResponsibilityItem,
    Rubric,
    Score,
    SurveyResult,
)
from branches.models import Attachment, Role
from tests.assessments.conftest import open_rating, open_workflow_round, workflow_rubric
from tests.branches.test_hostile_services import Attempts, maybe
from tests.conftest import system
from tests.hostile import CLASSICS, CONTENTS, DATES, DECIMALS, HOSTILE_SETTINGS, INTEGERS, MOMENTS, NUMBER, TEXT, VALUE
from tests.portal.test_hardening import PNG
from tests.portal.test_hostile_commands import JSON_VALUE, _damaged, _paths

# A number as a form, an API client or a file may give it: typed, or as text.
ANY_NUMBER = st.one_of(DECIMALS, INTEGERS, NUMBER, st.floats())


def upload_of(name, content):
    assume(os.path.basename(name) not in {"", ".", ".."})  # Django refuses a nameless file before any view
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


UPLOAD = st.one_of(
    st.none(),
    st.builds(upload_of, st.one_of(TEXT, TEXT.map(lambda text: text + ".png")), st.one_of(CONTENTS, st.just(PNG))),
)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


# --- duties ------------------------------------------------------------------------------------------------------


@given(
    year=maybe(INTEGERS, 2026),
    area=maybe(TEXT, "ideological"),
    text=maybe(TEXT, "开展主题党日"),
    due_on=maybe(DATES, date(2026, 6, 30)),
    post=maybe(TEXT, "secretary"),
)
@HOSTILE_SETTINGS
def test_item_add_refuses_what_it_cannot_keep(county, people, year, area, text, due_on, post):
    attempts = Attempts("service item_add", ResponsibilityItem)
    data = {"area": area, "text": text, "due_on": due_on, "responsible_post": post}
    attempts.call(services.item_add, organization=county.east, year=year, data=data, by=people.secretary)
    attempts.done()


@given(note=TEXT, upload=UPLOAD)
@HOSTILE_SETTINGS
def test_item_complete_refuses_what_it_cannot_keep(county, people, media, note, upload):
    item = ResponsibilityItem.objects.filter(organization=county.east, status="open").first() or services.item_add(
        organization=county.east,
        year=2026,
        data={"area": "ideological", "text": "开展主题党日", "due_on": date(2026, 6, 30)},
        by=people.secretary,
    )
    attempts = Attempts("service item_complete", ResponsibilityItem, Attachment)
    attempts.call(
        services.item_complete, item=item, version=item.version, note=note, upload=upload, by=people.secretary
    )
    attempts.done()


# --- inspections and findings ------------------------------------------------------------------------------------


@given(held_on=DATES, title=maybe(TEXT, "年中检查"), summary=maybe(TEXT, ""))
@HOSTILE_SETTINGS
def test_inspection_create_refuses_what_it_cannot_keep(county, people, held_on, title, summary):
    attempts = Attempts("service inspection_create", Inspection)
    data = {"held_on": held_on, "title": title, "summary": summary}
    attempts.call(services.inspection_create, organization=county.east, data=data, by=people.town_reviewer)
    attempts.done()


@pytest.fixture
def inspection(county, people):
    return services.inspection_create(
        organization=county.east,
        data={"held_on": timezone.localdate() - timedelta(days=10), "title": "年中检查"},
        by=people.town_reviewer,
    )


@given(
    severity=maybe(TEXT, "minor"),
    description=maybe(TEXT, "台账不全"),
    rectification=maybe(TEXT, "补齐台账"),
    deadline=maybe(DATES, date(2100, 1, 1)),
)
@HOSTILE_SETTINGS
def test_finding_add_refuses_what_it_cannot_keep(inspection, people, severity, description, rectification, deadline):
    attempts = Attempts("service finding_add", Finding)
    data = {
        "severity": severity,
        "description": description,
        "required_rectification": rectification,
        "deadline": deadline,
    }
    attempts.call(services.finding_add, inspection=inspection, data=data, by=people.town_reviewer)
    attempts.done()


@given(to_state=maybe(TEXT, FindingState.IN_PROGRESS), note=TEXT, version=maybe(INTEGERS, None), upload=UPLOAD)
@HOSTILE_SETTINGS
def test_finding_move_refuses_what_it_cannot_keep(inspection, people, media, to_state, note, version, upload):
    finding = Finding.objects.filter(inspection=inspection).first() or services.finding_add(
        inspection=inspection,
        data={
            "severity": "minor",
            "description": "台账不全",
            "required_rectification": "补齐台账",
            "deadline": date(2100, 1, 1),
        },
        by=people.town_reviewer,
    )
    attempts = Attempts("service finding_move", Finding, FindingTransition, Attachment)
    version = finding.version if version is None else version
    attempts.call(
        services.finding_move,
        finding=finding,
        to_state=to_state,
        version=version,
        note=note,
        upload=upload,
        by=people.secretary,
    )
    finding.refresh_from_db()
    attempts.call(
        services.finding_submit, finding=finding, version=finding.version, note=note, upload=upload, by=people.secretary
    )
    attempts.done()


# --- rubrics -----------------------------------------------------------------------------------------------------


@given(
    code=maybe(TEXT, "fuzz"),
    title=maybe(TEXT, "细则"),
    year=maybe(INTEGERS, 2026),
    sectors=st.lists(TEXT, max_size=3),
    levels=st.lists(maybe(TEXT, "branch"), max_size=3),
    total=maybe(ANY_NUMBER, Decimal(100)),
    description=maybe(TEXT, ""),
)
@HOSTILE_SETTINGS
def test_rubric_create_and_edit_refuse_what_they_cannot_keep(
    county, people, code, title, year, sectors, levels, total, description
):
    attempts = Attempts("service rubric_create/edit", Rubric)
    data = {
        "code": code,
        "title": title,
        "year": year,
        "sectors": sectors,
        "levels": levels,
        "total_points": total,
        "description": description,
    }
    attempts.call(services.rubric_create, data=data, by=people.admin)
    draft = Rubric.objects.filter(code="draft").first() or services.rubric_create(
        data={"code": "draft", "title": "草稿", "year": 2026, "levels": ["branch"]}, by=people.admin
    )
    attempts.call(services.rubric_edit, rubric=draft, data=data, by=people.admin)
    attempts.done()


@pytest.fixture
def draft(people):
    rubric = services.rubric_create(
        data={"code": "draft", "title": "草稿", "year": 2026, "levels": ["branch"]}, by=people.admin
    )
    services.indicator_add(
        rubric=rubric, data={"code": "work", "title": "业务", "kind": "manual", "max_points": 60}, by=people.admin
    )
    services.band_add(rubric=rubric, data={"name": "好", "min_points": 90}, by=people.admin)
    return rubric


@given(
    field=st.sampled_from(
        ["code", "title", "guidance", "kind", "max_points", "aggregation", "weight", "formula", "metric", "rule"]
        + ["params", "rule_params"]
    ),
    value=st.one_of(TEXT, ANY_NUMBER, JSON_VALUE.filter(lambda value: value is not ...)),
)
@HOSTILE_SETTINGS
def test_indicator_add_and_edit_refuse_what_they_cannot_keep(draft, people, field, value):
    attempts = Attempts("service indicator_add/edit", Indicator)
    data = {"code": "extra", "title": "其他", "kind": "manual", "max_points": 10, field: value}
    attempts.call(services.indicator_add, rubric=draft, data=data, by=people.admin)
    work = Indicator.objects.filter(rubric=draft).order_by("pk").first()  # work, or what an earlier example made it
    attempts.call(services.indicator_edit, indicator=work, data={field: value}, by=people.admin)
    attempts.done()


@given(
    field=st.sampled_from(["name", "min_points", "max_share", "min_share", "children_share"]),
    value=st.one_of(TEXT, ANY_NUMBER),
)
@HOSTILE_SETTINGS
def test_band_add_and_edit_refuse_what_they_cannot_keep(draft, people, field, value):
    attempts = Attempts("service band_add/edit", GradeBand)
    attempts.call(
        services.band_add, rubric=draft, data={"name": "较好", "min_points": 70, field: value}, by=people.admin
    )
    band = GradeBand.objects.filter(rubric=draft).order_by("pk").first()  # 好, or what an earlier example made it
    attempts.call(services.band_edit, band=band, data={field: value}, by=people.admin)
    attempts.done()


@pytest.fixture
def exported(db):
    """A good rubric's file, as data, under a code no rubric has yet."""
    exported = json.loads(rubrics.dumps(rubrics.rubric_export(workflow_rubric(code="fuzzed"))))
    exported["code"] = "imported"
    return exported


@given(data=st.data(), preview=st.booleans())
@HOSTILE_SETTINGS
def test_rubric_import_refuses_a_damaged_rubric(county, people, exported, data, preview):
    """A good rubric file with any one value replaced by another of any type, or removed."""
    path = data.draw(st.sampled_from([path for path in _paths(exported) if path]), label="path")
    value = data.draw(st.one_of(JSON_VALUE, TEXT, ANY_NUMBER), label="value")
    attempts = Attempts("service rubric_import", Rubric, Indicator, GradeBand)
    attempts.call(services.rubric_import, data=_damaged(exported, path, value), preview=preview, by=people.admin)
    attempts.done()


@given(name=TEXT, content=st.one_of(CONTENTS, TEXT.map(lambda text: text.encode("utf-8", "surrogatepass"))))
@HOSTILE_SETTINGS
def test_rubric_import_refuses_files_it_cannot_read(county, people, name, content):
    attempts = Attempts("service rubric_import file", Rubric, Indicator, GradeBand)
    for suffix in ("", ".json", ".yaml", ".xlsx"):
        upload = upload_of(name + suffix, content)
        attempts.call(services.rubric_import, file=upload, preview=False, by=people.admin)
    attempts.done()


# --- assessments ---------------------------------------------------------------------------------------------------


@pytest.fixture
def assessed(county, people, make_user, media):
    people.town_assessor = make_user("town_assessor", Role.ASSESSOR, county.town)
    assessment_round = open_workflow_round(county.town)
    return Assessment.objects.select_related("round", "organization").get(
        round=assessment_round, organization=county.east
    )


ENTRY = st.fixed_dictionaries(
    {},
    optional={
        "points": st.one_of(ANY_NUMBER, TEXT, st.none()),
        "adjusted": st.one_of(ANY_NUMBER, TEXT, st.none()),
        "note": TEXT,
        "reason": TEXT,
        "comment": TEXT,
    },
)
ENTRIES = st.dictionaries(
    st.one_of(st.sampled_from(["work", "service", "committee", "honor", "minus", "veto"]), TEXT), ENTRY, max_size=4
)


@given(entries=ENTRIES, comment=TEXT)
@HOSTILE_SETTINGS
def test_self_assess_refuses_what_it_cannot_keep(assessed, people, entries, comment):
    attempts = Attempts("service self_assess", Assessment, Score, Attachment)
    assessment = Assessment.objects.select_related("round", "organization").get(pk=assessed.pk)
    attempts.call(
        workflow.self_assess,
        assessment=assessment,
        version=assessment.version,
        entries=entries,
        comment=comment,
        by=people.secretary,
    )
    attempts.done()


@given(entries=ENTRIES)
@HOSTILE_SETTINGS
def test_assessor_score_refuses_what_it_cannot_keep(assessed, people, entries):
    Assessment.objects.filter(pk=assessed.pk).update(state=AssessmentState.UNDER_REVIEW)
    assessment = Assessment.objects.select_related("round", "organization").get(pk=assessed.pk)
    attempts = Attempts("service assessor_score", Assessment, Score)
    attempts.call(
        workflow.assessor_score,
        assessment=assessment,
        version=assessment.version,
        entries=entries,
        by=people.town_assessor,
    )
    attempts.done()


# --- ratings -------------------------------------------------------------------------------------------------------


QUESTION = st.fixed_dictionaries({"text": maybe(TEXT, "总体评价"), "scale": maybe(TEXT, "grades")})
AUDIENCE = st.fixed_dictionaries(
    {
        "kind": maybe(TEXT, "members"),
        "weight": maybe(st.one_of(ANY_NUMBER, TEXT), "100"),
        "voters": maybe(st.one_of(INTEGERS, NUMBER, TEXT), 3),
    }
)


@given(
    title=maybe(TEXT, "述职评议"),
    subject=maybe(TEXT, "张一"),
    kind=maybe(TEXT, "report"),
    opens_at=maybe(MOMENTS, None),
    closes_at=maybe(MOMENTS, None),
    grade_points=maybe(st.dictionaries(TEXT, st.one_of(INTEGERS, TEXT), max_size=5), None),
    questions=st.lists(QUESTION, max_size=3),
    audiences=st.lists(AUDIENCE, max_size=3),
)
@HOSTILE_SETTINGS
def test_rating_save_refuses_what_it_cannot_keep(
    assessed, people, title, subject, kind, opens_at, closes_at, grade_points, questions, audiences
):
    now = timezone.now()
    data = {
        "kind": kind,
        "title": title,
        "subject": subject,
        "opens_at": opens_at or now,
        "closes_at": closes_at or now + timedelta(days=1),
        "allow_comment": True,
    }
    if grade_points is not None:
        data["grade_points"] = grade_points
    setup = ratings.Setup(data=data, questions=questions, audiences=audiences)
    attempts = Attempts("service rating_save", Rating, RatingQuestion, RatingAudience)
    attempts.call(
        ratings.rating_save, round=assessed.round, organization=assessed.organization, setup=setup, by=people.admin
    )
    attempts.done()


@pytest.fixture
def rating(assessed):
    return open_rating(assessed.round, assessed.organization)


@given(text=TEXT, upload=UPLOAD)
@HOSTILE_SETTINGS
def test_report_save_refuses_what_it_cannot_keep(rating, people, text, upload):
    attempts = Attempts("service report_save", Rating, Attachment)
    uploads = [upload] if upload is not None else []
    attempts.call(ratings.report_save, rating=rating, text=text, uploads=uploads, by=people.secretary)
    attempts.done()


@given(code=maybe(TEXT, None), answer=VALUE, comment=TEXT, key=maybe(TEXT, None))
@HOSTILE_SETTINGS
def test_ballot_cast_refuses_what_it_cannot_keep(rating, code, answer, comment, key):
    issued = ratings.tickets_issue(rating=rating, by=system())
    question = rating.questions.first()
    attempts = Attempts("service ballot_cast", RatingBallot, RatingTicket)
    attempts.call(
        ratings.ballot_cast,
        code=issued.tickets[0].code if code is None else code,
        answers={str(question.pk) if key is None else key: answer},
        comment=comment,
    )
    attempts.call(ratings.ballot_cast, code=issued.tickets[1].code, answers={str(question.pk): "优秀"}, comment=comment)
    attempts.done()


def test_every_classic_value_in_free_text_is_kept_as_typed_or_refused(assessed, people):
    """Each hostile classic (NUL bytes, lone surrogates, markup, formulas, oversized text) in the free text of a vote,
    a report and an inspection: kept exactly as typed, or refused."""
    audiences = [{"kind": "members", "weight": "100", "voters": len(CLASSICS)}]
    rating = open_rating(assessed.round, assessed.organization, audiences=audiences)
    issued = ratings.tickets_issue(rating=rating, by=system())
    question = str(rating.questions.first().pk)
    attempts = Attempts("service free text classics", RatingBallot, RatingTicket, Rating, Inspection)
    comments = []
    for ticket, text in zip(issued.tickets, CLASSICS, strict=True):
        if attempts.call(ratings.ballot_cast, code=ticket.code, answers={question: "good"}, comment=text):
            comments.append(text.strip())
        kept = attempts.call(ratings.report_save, rating=rating, text=text, by=people.secretary)
        if kept is not None:
            assert Rating.objects.get(pk=rating.pk).report_text == text.strip()
        data = {"held_on": date(2026, 1, 5), "title": text, "summary": text}
        kept = attempts.call(services.inspection_create, organization=rating.organization, data=data, by=people.admin)
        if kept is not None:
            assert Inspection.objects.get(pk=kept.pk).title == text
    assert sorted(RatingBallot.objects.filter(rating=rating).values_list("comment", flat=True)) == sorted(comments)
    attempts.done()


# --- rounds and surveys --------------------------------------------------------------------------------------------


@pytest.fixture
def published(db):
    return workflow_rubric(code="round-fuzz")


@given(
    title=maybe(TEXT, ""),
    period_start=maybe(DATES, date(2026, 1, 1)),
    period_end=maybe(DATES, date(2026, 12, 31)),
    self_assessment_due=maybe(st.one_of(st.none(), DATES), date(2026, 12, 20)),
    review_due=maybe(st.one_of(st.none(), DATES), date(2027, 1, 15)),
)
@HOSTILE_SETTINGS
def test_round_open_refuses_what_it_cannot_keep(
    county, people, published, title, period_start, period_end, self_assessment_due, review_due
):
    attempts = Attempts("service round_open", AssessmentRound, Assessment)
    attempts.call(
        services.round_open,
        rubric=published,
        root=county.town,
        period_start=period_start,
        period_end=period_end,
        self_assessment_due=self_assessment_due,
        review_due=review_due,
        title=title,
        by=people.admin,
    )
    attempts.done()


SURVEY_VALUE = st.one_of(ANY_NUMBER, TEXT, st.none(), st.booleans())


@given(respondents=SURVEY_VALUE, share=SURVEY_VALUE, line=st.one_of(INTEGERS, TEXT), code=maybe(TEXT, "T-E-1"))
@HOSTILE_SETTINGS
def test_survey_save_and_import_refuse_what_they_cannot_keep(assessed, people, respondents, share, line, code):
    attempts = Attempts("service survey_save/import", SurveyResult)
    attempts.call(
        surveys.survey_save,
        round=assessed.round,
        organization=assessed.organization,
        respondents=respondents,
        satisfied_share=share,
        by=people.town_assessor,
    )
    rows = [{"line": line, "code": code, "respondents": respondents, "satisfied_share": share}]
    attempts.call(surveys.survey_import, round=assessed.round, rows=rows, preview=False, by=people.town_assessor)
    attempts.done()


@given(name=TEXT, content=CONTENTS)
@HOSTILE_SETTINGS
def test_survey_import_refuses_files_it_cannot_read(assessed, people, name, content):
    attempts = Attempts("service survey_import file", SurveyResult)
    upload = upload_of(name + ".xlsx", content)
    attempts.call(surveys.survey_import, round=assessed.round, file=upload, preview=False, by=people.town_assessor)
    attempts.done()
