"""Ratings by ticket (述职评议, 群众民意测评): set-up, tickets, votes, results and anonymity.

The hand-checkable example used throughout: 东村支部 is rated by 党员 (60%, 3 voters) and 群众 (40%, 2 voters) on one
question graded 好 100 / 较好 80 / 一般 60 / 差 0.

    党员: 好, 好, 一般   → (100 + 100 + 60) / 3 = 86.67
    群众: 较好, 差       → (80 + 0) / 2        = 40.00
    weighted: 0.6 × 86.666… + 0.4 × 40 = 52 + 16 = 68.00 → satisfied share 0.6800
"""

import re
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from assessments import ratings, services
from assessments.models import (
    Assessment,
    AssessmentState,
    Indicator,
    Rating,
    RatingBallot,
    RatingState,
    RatingTicket,
    SurveyResult,
)
from branches.models import SecurityEvent
from tests.assessments.conftest import figures, open_rating, open_workflow_round, workflow_rubric
from tests.conftest import system


@pytest.fixture
def assessment_round(county):
    return open_workflow_round(county.town)


@pytest.fixture
def rating(assessment_round, county):
    return open_rating(assessment_round, county.east)


def codes_by_audience(issue):
    found = {}
    for ticket in issue.tickets:
        found.setdefault(ticket.audience.kind, []).append(ticket.code)
    return found


def vote(code, rating, grade, comment=""):
    question = rating.questions.get()
    return ratings.ballot_cast(code=code, answers={str(question.pk): grade}, comment=comment)


def hand_checked_votes(rating):
    codes = codes_by_audience(ratings.tickets_issue(rating=rating, by=system()))
    for code, grade in zip(codes["members"], ("good", "good", "average"), strict=True):
        vote(code, rating, grade)
    for code, grade in zip(codes["public"], ("fairly_good", "poor"), strict=True):
        vote(code, rating, grade)
    return codes


# ------------------------------------------------------------------------------------------------- set-up


def test_a_rating_whose_weights_do_not_add_up_to_100_percent_is_refused_and_nothing_is_written(
    assessment_round, county
):
    with pytest.raises(ValidationError) as refused:
        open_rating(
            assessment_round,
            county.east,
            audiences=[
                {"kind": "members", "weight": "60", "voters": 3},
                {"kind": "public", "weight": "30", "voters": 2},
            ],
        )
    assert "90%" in str(refused.value.message_dict["audiences"])
    assert not Rating.objects.exists()


def test_markup_in_a_question_is_refused(assessment_round, county):
    with pytest.raises(ValidationError) as refused:
        open_rating(assessment_round, county.east, questions=[{"text": "<script>alert(1)</script>", "scale": "grades"}])
    assert "questions" in refused.value.message_dict
    assert not Rating.objects.exists()


def test_only_a_reviewer_of_the_organization_sets_up_a_rating(assessment_round, county, people):
    for user in (people.secretary, people.assessor, people.finance_secretary):
        with pytest.raises(PermissionDenied):
            open_rating(assessment_round, county.east, by=user)
    assert open_rating(assessment_round, county.east, by=people.town_reviewer).organization == county.east


def test_an_organization_not_assessed_in_the_round_cannot_be_rated(assessment_round, county):
    with pytest.raises(ValidationError):
        open_rating(assessment_round, county.finance)


def test_one_rating_per_organization_and_round(assessment_round, county, rating):
    with pytest.raises(ValidationError):
        open_rating(assessment_round, county.east, kind="survey")


# ------------------------------------------------------------------------------------------------- tickets


def test_tickets_are_kept_as_keyed_hashes_and_the_codes_are_unguessable(rating):
    issue = ratings.tickets_issue(rating=rating, by=system())
    assert len(issue.tickets) == 5
    codes = [ticket.code for ticket in issue.tickets]
    assert len(set(codes)) == 5
    assert all(len(code) * 5 >= 64 and re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{13}", code) for code in codes)
    stored = list(RatingTicket.objects.values_list("code_hash", flat=True))
    assert sorted(stored) == sorted(ratings.code_hash(code) for code in codes)
    # The code is nowhere in the table, and the hash is keyed: a plain SHA-256 of the code is not it.
    import hashlib

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {RatingTicket._meta.db_table}")  # noqa: S608
        dumped = repr(cursor.fetchall())
    assert not any(code in dumped for code in codes)
    assert not any(hashlib.sha256(code.encode()).hexdigest() in dumped for code in codes)
    # 65 random bits each: a thousand fresh codes never repeat.
    assert len({ratings.new_code() for _ in range(1000)}) == 1000


def test_a_typed_code_is_read_forgivingly(rating):
    code = ratings.tickets_issue(rating=rating, by=system()).tickets[0].code
    typed = " " + ratings.shown(code).lower().replace("0", "o").replace("1", "l") + " "
    assert ratings.ticket_for(typed).code_hash == ratings.code_hash(code)


def test_reissuing_voids_the_unspent_tickets_and_issues_only_what_is_still_owed(rating):
    first = codes_by_audience(ratings.tickets_issue(rating=rating, by=system()))
    vote(first["members"][0], rating, "good")
    second = ratings.tickets_issue(rating=rating, by=system())
    assert len(second.tickets) == 4 and second.voided == 4
    with pytest.raises(ratings.TicketRefused) as refused:
        vote(first["members"][1], rating, "good")
    assert refused.value.reason == ratings.VOIDED
    assert [(row.audience.kind, row.tickets, row.used) for row in ratings.turnout(rating)] == [
        ("members", 3, 1),
        ("public", 2, 0),
    ]


def test_only_a_reviewer_issues_tickets(rating, people):
    with pytest.raises(PermissionDenied):
        ratings.tickets_issue(rating=rating, by=people.secretary)
    assert not RatingTicket.objects.exists()


# ------------------------------------------------------------------------------------------------- votes


def test_a_ticket_votes_once(rating):
    code = ratings.tickets_issue(rating=rating, by=system()).tickets[0].code
    vote(code, rating, "good")
    with pytest.raises(ratings.TicketRefused) as refused:
        vote(code, rating, "poor")
    assert refused.value.reason == ratings.SPENT
    assert RatingBallot.objects.count() == 1
    assert RatingTicket.objects.filter(spent=True).count() == 1


def test_unknown_forged_expired_not_yet_open_and_closed_tickets_are_refused(assessment_round, rating, county):
    codes = [ticket.code for ticket in ratings.tickets_issue(rating=rating, by=system()).tickets]
    for typed in ("", "ABCD", ratings.new_code(), codes[0][:-1] + ("0" if codes[0][-1] != "0" else "1")):
        with pytest.raises(ratings.TicketRefused) as refused:
            vote(typed, rating, "good")
        assert refused.value.reason == ratings.UNKNOWN
    later = timezone.now() + timedelta(days=2)
    with pytest.raises(ratings.TicketRefused) as refused:
        ratings.ballot_cast(code=codes[0], answers={str(rating.questions.get().pk): "good"}, now=later)
    assert refused.value.reason == ratings.EXPIRED
    earlier = timezone.now() - timedelta(days=1)
    with pytest.raises(ratings.TicketRefused) as refused:
        ratings.ballot_cast(code=codes[0], answers={str(rating.questions.get().pk): "good"}, now=earlier)
    assert refused.value.reason == ratings.NOT_YET
    ratings.rating_close(rating=rating, by=system())
    with pytest.raises(ratings.TicketRefused) as refused:
        vote(codes[0], rating, "good")
    assert refused.value.reason == ratings.CLOSED
    assert not RatingBallot.objects.exists()
    assert not RatingTicket.objects.filter(spent=True).exists()


def test_a_missing_answer_an_unknown_answer_or_markup_in_the_comment_is_refused_and_the_ticket_stays_unspent(rating):
    code = ratings.tickets_issue(rating=rating, by=system()).tickets[0].code
    question = rating.questions.get()
    with pytest.raises(ValidationError) as refused:
        ratings.ballot_cast(code=code, answers={})
    assert f"q{question.pk}" in refused.value.message_dict
    with pytest.raises(ValidationError):
        ratings.ballot_cast(code=code, answers={str(question.pk): "excellent"})
    with pytest.raises(ValidationError) as refused:
        ratings.ballot_cast(code=code, answers={str(question.pk): "good"}, comment="<img src=x onerror=alert(1)>")
    assert "comment" in refused.value.message_dict
    # The refusal is kept, without the text or the code (they could tell who wrote what).
    event = SecurityEvent.objects.get(kind="markup_refused")
    assert event.detail == "rating" and code not in event.path
    assert not RatingBallot.objects.exists()
    vote(code, rating, "good", comment="希望多为群众办实事")
    assert RatingBallot.objects.get().comment == "希望多为群众办实事"


# ------------------------------------------------------------------------------------------------- results


def test_weights_and_aggregation_on_a_hand_checkable_example(rating):
    hand_checked_votes(rating)
    closed = ratings.rating_close(rating=rating, by=system())
    results = closed.results
    assert [(a["kind"], a["used"], a["tickets"], a["score"]) for a in results["audiences"]] == [
        ("members", 3, 3, "86.67"),
        ("public", 2, 2, "40.00"),
    ]
    assert results["score"] == "68.00" and results["share"] == "0.6800"
    assert results["grades"] == {"good": 2, "fairly_good": 1, "average": 1, "poor": 1}
    assert results["audiences"][0]["questions"][0]["counts"] == {"good": 2, "fairly_good": 0, "average": 1, "poor": 0}
    assert "5" in results["why"] and "68.00" in results["why"] and "40%" in results["why"]


def test_an_audience_that_did_not_vote_is_left_out_and_the_why_says_so(rating):
    codes = codes_by_audience(ratings.tickets_issue(rating=rating, by=system()))
    vote(codes["members"][0], rating, "fairly_good")
    results = ratings.rating_close(rating=rating, by=system()).results
    assert results["score"] == "80.00"  # 群众 cast nothing: 党员 alone
    assert results["left_out"] == ["public"]


def test_a_five_point_scale_gives_twenty_points_a_step(assessment_round, county):
    rating = open_rating(
        assessment_round,
        county.east,
        questions=[{"text": "思想建设", "scale": "five"}, {"text": "作风建设", "scale": "five"}],
        audiences=[{"kind": "members", "weight": "100", "voters": 2}],
    )
    first, second = rating.questions.all()
    for code, answers in zip(
        [t.code for t in ratings.tickets_issue(rating=rating, by=system()).tickets],
        [("5", "4"), ("3", "2")],
        strict=True,
    ):
        ratings.ballot_cast(code=code, answers={str(first.pk): answers[0], str(second.pk): answers[1]})
    results = ratings.rating_close(rating=rating, by=system()).results
    assert results["score"] == "70.00"  # (100 + 80 + 60 + 40) / 4
    assert results["fives"] == {"count": 4, "mean": "3.50"}


def test_results_exist_only_after_closing_and_publishing_writes_the_survey_result(rating, county):
    hand_checked_votes(rating)
    assert Rating.objects.get(pk=rating.pk).results == {}
    with pytest.raises(ValidationError):
        ratings.rating_publish(rating=rating, by=system())  # not closed yet
    closed = ratings.rating_close(rating=rating, by=system())
    assert closed.state == RatingState.CLOSED and closed.closed_at is not None
    assert not SurveyResult.objects.exists()  # closing alone writes nothing into the assessment
    with pytest.raises(ValidationError):
        ratings.rating_close(rating=closed, by=system())
    published = ratings.rating_publish(rating=closed, by=system())
    assert published.state == RatingState.PUBLISHED
    result = SurveyResult.objects.get(round=rating.round, organization=county.east)
    assert (result.respondents, result.satisfied_share) == (5, Decimal("0.6800"))
    assert result.note == published.results["why"]
    with pytest.raises(ValidationError):
        ratings.rating_publish(rating=published, by=system())


def test_a_rating_nobody_voted_in_cannot_be_published(rating):
    ratings.tickets_issue(rating=rating, by=system())
    closed = ratings.rating_close(rating=rating, by=system())
    assert closed.results["used"] == 0 and closed.results["score"] is None
    with pytest.raises(ValidationError):
        ratings.rating_publish(rating=closed, by=system())
    assert not SurveyResult.objects.exists()


def test_only_a_reviewer_closes_and_publishes(rating, people):
    hand_checked_votes(rating)
    for user in (people.secretary, people.assessor):
        with pytest.raises(PermissionDenied):
            ratings.rating_close(rating=rating, by=user)
    closed = ratings.rating_close(rating=rating, by=people.town_reviewer)
    with pytest.raises(PermissionDenied):
        ratings.rating_publish(rating=closed, by=people.secretary)
    assert ratings.rating_publish(rating=closed, by=people.town_reviewer).state == RatingState.PUBLISHED


def test_a_published_assessment_takes_no_rating_result(rating, county):
    hand_checked_votes(rating)
    closed = ratings.rating_close(rating=rating, by=system())
    Assessment.objects.filter(round=rating.round, organization=county.east).update(state=AssessmentState.PUBLISHED)
    with pytest.raises(ValidationError):
        ratings.rating_publish(rating=closed, by=system())
    assert not SurveyResult.objects.exists()


def test_the_published_result_is_the_survey_indicators_input_with_its_why(county):
    """A rubric whose 群众满意度 (10 points) is computed from the survey result, proportionally: 0.68 → 6.80."""
    rubric = workflow_rubric(code="with-survey")
    rubric.state = "draft"
    rubric.save()
    Indicator.objects.filter(rubric=rubric, code="service").update(max_points=50)
    Indicator.objects.create(
        rubric=rubric,
        code="satisfaction",
        title="群众满意度",
        kind="computed",
        max_points=10,
        position=1,
        metric="survey_satisfaction",
        rule="proportional",
    )
    rubric.state = "published"
    rubric.save()
    assessment_round = open_workflow_round(county.town, rubric)
    rating = open_rating(assessment_round, county.east)
    hand_checked_votes(rating)
    ratings.rating_publish(rating=ratings.rating_close(rating=rating, by=system()), by=system())
    services.round_score(round=assessment_round, by=system())
    score = figures(round=assessment_round, organization=county.east, code="satisfaction")
    assert score.final == Decimal("6.8")
    from assessments import scoring

    said = scoring.why(score.trace)
    assert "68.00" in said and "5" in said


# ------------------------------------------------------------------------------------------------- anonymity


def test_no_stored_row_links_a_ballot_to_its_ticket(rating):
    """Read every column of every ballot and ticket: a ballot holds its rating, its audience and its answers under a
    random id, and nothing a ticket holds (no ticket id, hash, batch or time) nor any time at all."""
    codes = hand_checked_votes(rating)
    ballot_columns = {column.column for column in RatingBallot._meta.get_fields() if hasattr(column, "column")}
    assert ballot_columns == {"id", "rating_id", "audience_id", "answers", "comment"}
    assert not any(field.get_internal_type() in ("DateTimeField", "DateField") for field in RatingTicket._meta.fields)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {RatingBallot._meta.db_table}")  # noqa: S608
        ballots = cursor.fetchall()
        cursor.execute(f"SELECT id, code_hash, batch FROM {RatingTicket._meta.db_table}")  # noqa: S608
        tickets = cursor.fetchall()
    ballot_text = repr(ballots)
    for _ticket_id, code_hash_, _batch in tickets:
        assert code_hash_ not in ballot_text
    for code in [c for group in codes.values() for c in group]:
        assert code not in ballot_text
    ids = [uuid.UUID(str(row[0])) for row in ballots]
    assert all(found.version == 4 for found in ids)  # random, not a sequence
    # The audit trail keeps no entry for a ballot or a spend.
    from branches.models import AuditEntry

    assert not AuditEntry.objects.filter(content_type__model__in=["ratingballot", "ratingticket"]).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_after_closing_not_even_the_databases_bookkeeping_tells_the_order_of_the_votes(county):
    """On PostgreSQL a row keeps the transaction that wrote it (xmin): a ballot and its ticket's spend share one. Closing
    rewrites every ballot and ticket of the rating in one transaction, so afterwards they all share the closing's."""
    assessment_round = open_workflow_round(county.town)
    rating = open_rating(assessment_round, county.east)
    hand_checked_votes(rating)

    def xmins(table, spent_only=False):
        spent = " AND spent" if spent_only else ""
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT xmin::text FROM {table} WHERE rating_id = %s{spent}", [rating.pk])  # noqa: S608
            return {row[0] for row in cursor.fetchall()}

    before = xmins(RatingBallot._meta.db_table)
    assert len(before) == 5 and before == xmins(RatingTicket._meta.db_table, spent_only=True), (
        "before closing each ballot shares its spend's transaction: what closing removes"
    )
    ratings.rating_close(rating=rating, by=system())
    ballot_xmins = xmins(RatingBallot._meta.db_table)
    ticket_xmins = xmins(RatingTicket._meta.db_table)
    assert len(ballot_xmins) == 1 and ballot_xmins == ticket_xmins
    assert RatingBallot.objects.filter(rating=rating).count() == 5


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_submits_of_the_same_ticket_count_once(county):
    from tests.portal.test_reminders_concurrency import at_once

    assessment_round = open_workflow_round(county.town)
    rating = open_rating(assessment_round, county.east)
    code = ratings.tickets_issue(rating=rating, by=system()).tickets[0].code
    question = str(rating.questions.get().pk)
    errors = at_once(lambda: ratings.ballot_cast(code=code, answers={question: "good"}))
    assert len(errors) == 3 and all(
        isinstance(error, ratings.TicketRefused) and error.reason == ratings.SPENT for error in errors
    )
    assert RatingBallot.objects.filter(rating=rating).count() == 1
    assert RatingTicket.objects.filter(rating=rating, spent=True).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_vote_under_way_while_the_rating_closes_is_counted_or_refused_never_lost(county):
    """Closing waits for the votes under way: each either counts in the results or is refused as closed."""
    from tests.portal.test_reminders_concurrency import at_once

    assessment_round = open_workflow_round(county.town)
    rating = open_rating(assessment_round, county.east, audiences=[{"kind": "members", "weight": "100", "voters": 3}])
    codes = [t.code for t in ratings.tickets_issue(rating=rating, by=system()).tickets]
    question = str(rating.questions.get().pk)

    def voter(code):
        return lambda: ratings.ballot_cast(code=code, answers={question: "good"})

    actions = iter([lambda: ratings.rating_close(rating=rating, by=system()), *map(voter, codes)])
    errors = at_once(lambda: next(actions)())
    closed = Rating.objects.get(pk=rating.pk)
    counted = RatingBallot.objects.filter(rating=rating).count()
    assert closed.results["used"] == counted == RatingTicket.objects.filter(spent=True).count()
    assert len(errors) == 3 - counted and all(error.reason == ratings.CLOSED for error in errors)


def test_closing_and_publishing_are_kept_in_the_audit_trail_against_the_rating(rating):
    from django.contrib.contenttypes.models import ContentType

    from branches.models import AuditEntry

    hand_checked_votes(rating)
    ratings.rating_publish(rating=ratings.rating_close(rating=rating, by=system()), by=system())
    changes = [
        (entry.changes or {}).get("state")
        for entry in AuditEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(Rating), object_pk=str(rating.pk)
        ).order_by("pk")
    ]
    assert ["open", "closed"] in changes and ["closed", "published"] in changes
