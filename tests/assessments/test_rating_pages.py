"""The reviewer's and the organization's pages of a rating by ticket: set-up, tickets (PDF and CSV), turnout, closing,
publishing, the report."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.core.cache import caches
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from assessments import ratings
from assessments.models import Rating, RatingTicket, SurveyResult
from tests.assessments.conftest import open_rating, open_workflow_round
from tests.conftest import system

CODE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]")


@pytest.fixture(autouse=True)
def fresh_throttle():
    caches["ratings_throttle"].clear()


@pytest.fixture
def assessment_round(county):
    return open_workflow_round(county.town)


@pytest.fixture
def rating(assessment_round, county):
    return open_rating(assessment_round, county.east)


def form_data(**changes):
    now = timezone.localtime()
    data = {
        "code": "T-E-1",
        "kind": "report",
        "title": "东村支部书记述职评议",
        "subject": "张一",
        "opens_at": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "closes_at": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
        "allow_comment": "on",
        "question_0": "抓基层党建工作总体评价",
        "scale_0": "grades",
        "question_1": "联系服务群众",
        "scale_1": "five",
        "weight_superior": "30",
        "voters_superior": "5",
        "weight_members": "70",
        "voters_members": "20",
        "points_good": "100",
        "points_fairly_good": "80",
        "points_average": "60",
        "points_poor": "0",
    }
    data.update(changes)
    return data


def test_a_reviewer_sets_up_a_rating_from_the_round(assessment_round, people, signed_in):
    client = signed_in(people.town_reviewer)
    page = client.get(reverse("assessments:rating_add", args=[assessment_round.pk]))
    assert page.status_code == 200
    response = client.post(reverse("assessments:rating_add", args=[assessment_round.pk]), form_data())
    rating = Rating.objects.get()
    assert response.status_code == 302 and response.url == reverse("assessments:rating", args=[rating.pk])
    assert [(q.text, q.scale) for q in rating.questions.all()] == [
        ("抓基层党建工作总体评价", "grades"),
        ("联系服务群众", "five"),
    ]
    assert sorted((a.kind, int(a.weight), a.voters) for a in rating.audiences.all()) == [
        ("members", 70, 20),
        ("superior", 30, 5),
    ]


def test_weights_that_do_not_add_up_are_shown_and_nothing_is_saved(assessment_round, people, signed_in):
    client = signed_in(people.town_reviewer)
    response = client.post(
        reverse("assessments:rating_add", args=[assessment_round.pk]), form_data(weight_members="60")
    )
    assert response.status_code == 200
    assert "90%" in response.content.decode() and "100%" in response.content.decode()
    assert not Rating.objects.exists()


def test_an_organization_outside_the_reviewers_subtree_cannot_be_rated(assessment_round, people, signed_in, county):
    client = signed_in(people.town_reviewer)
    response = client.post(reverse("assessments:rating_add", args=[assessment_round.pk]), form_data(code="T-J-1"))
    assert response.status_code == 200 and not Rating.objects.exists()


def test_the_tickets_come_as_an_a4_pdf_with_the_codes_and_fonts_embedded(rating, people, signed_in):
    client = signed_in(people.town_reviewer)
    response = client.post(reverse("assessments:rating_tickets", args=[rating.pk]), {"format": "pdf"})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "no-store"
    reader = PdfReader(io.BytesIO(response.content))
    page = reader.pages[0]
    width, height = float(page.mediabox.width), float(page.mediabox.height)
    assert abs(width - 595.3) < 1 and abs(height - 841.9) < 1  # A4 in points
    text = "".join(p.extract_text() for p in reader.pages)
    codes = CODE.findall(text)
    assert len(codes) == 5 and rating.title in text
    fonts = [font for p in reader.pages for font in p["/Resources"]["/Font"].values()]
    assert fonts and all(_embedded(font) for font in fonts)
    # Every printed code is a real ticket: it opens its ballot.
    voter = client.__class__()
    assert all(voter.get(reverse("vote:ballot", args=[ratings.normalized(code)])).status_code == 200 for code in codes)


def _embedded(font):
    """Is the font's program in the file (its descriptor, or its descendant's, holds a FontFile)?"""
    font = font.get_object()
    if "/DescendantFonts" in font:
        font = font["/DescendantFonts"][0].get_object()
    descriptor = font["/FontDescriptor"].get_object()
    return any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3"))


def test_the_tickets_come_as_csv_for_a_mail_merge_and_issuing_again_voids_the_unused(rating, people, signed_in):
    client = signed_in(people.town_reviewer)
    first = client.post(reverse("assessments:rating_tickets", args=[rating.pk]), {"format": "csv"})
    rows = list(csv.reader(io.StringIO(first.content.decode("utf-8-sig"))))
    assert len(rows) == 6 and all(CODE.fullmatch(row[2]) and row[3].endswith("/") for row in rows[1:])
    assert rows[1][3].endswith(reverse("vote:ballot", args=[ratings.normalized(rows[1][2])]))
    page = client.get(reverse("assessments:rating_tickets", args=[rating.pk]))
    assert "作废" in page.content.decode()  # the page says what issuing again does
    client.post(reverse("assessments:rating_tickets", args=[rating.pk]), {"format": "csv"})
    assert RatingTicket.objects.filter(voided=True).count() == 5
    with pytest.raises(ratings.TicketRefused):
        ratings.ticket_for(rows[1][2])


def test_turnout_is_live_and_the_results_wait_for_closing_and_the_secretary_for_publishing(
    rating, people, signed_in, client
):
    codes = [t.code for t in ratings.tickets_issue(rating=rating, by=system()).tickets]
    question = str(rating.questions.get().pk)
    ratings.ballot_cast(code=codes[0], answers={question: "good"}, comment="工作扎实")
    reviewer = signed_in(people.town_reviewer)
    url = reverse("assessments:rating", args=[rating.pk])
    page = reviewer.get(url).content.decode()
    assert "1/3" in page and "data-results" not in page and "工作扎实" not in page
    assert reviewer.post(reverse("assessments:rating_close", args=[rating.pk])).status_code == 302
    page = reviewer.get(url).content.decode()
    assert "data-results" in page and "工作扎实" in page and "100.00" in page
    client.force_login(people.secretary)
    assert "data-results" not in client.get(url).content.decode()
    reviewer.force_login(people.town_reviewer)
    assert reviewer.post(reverse("assessments:rating_publish", args=[rating.pk])).status_code == 302
    assert SurveyResult.objects.get().note
    client.force_login(people.secretary)
    assert "data-results" in client.get(url).content.decode()


def test_the_round_lists_its_ratings_and_flags_the_lowest_closed_one(
    assessment_round, county, people, signed_in, django_assert_max_num_queries
):
    scores = {}
    for organization, grade in ((county.east, "good"), (county.south, "poor")):
        rating = open_rating(
            assessment_round, organization, audiences=[{"kind": "members", "weight": "100", "voters": 1}]
        )
        code = ratings.tickets_issue(rating=rating, by=system()).tickets[0].code
        ratings.ballot_cast(code=code, answers={str(rating.questions.get().pk): grade})
        scores[organization.pk] = ratings.rating_close(rating=rating, by=system())
    client = signed_in(people.town_reviewer)
    url = reverse("assessments:ratings", args=[assessment_round.pk])
    with django_assert_max_num_queries(12):
        page = client.get(url).content.decode()
    flagged = re.findall(r'data-rating="(\d+)">.*?</tr>', page, re.S)
    assert len(flagged) == 2
    south = scores[county.south.pk]
    row = page[page.index(f'data-rating="{south.pk}"') :]
    assert "data-bottom" in row[: row.index("</tr>")]
    export = client.get(url, {"format": "csv"}).content.decode("utf-8-sig")
    assert "南村支部" in export and "0.00" in export


def test_the_secretary_writes_the_report_and_sees_the_three_lists(rating, people, signed_in, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client = signed_in(people.secretary)
    response = client.post(reverse("assessments:rating_report", args=[rating.pk]), {"report_text": "一年来，支部……"})
    assert response.status_code == 302
    page = client.get(reverse("assessments:rating", args=[rating.pk])).content.decode()
    assert "一年来" in page and "data-three-lists" in page
    refused = client.post(reverse("assessments:rating_report", args=[rating.pk]), {"report_text": "<script>x</script>"})
    assert refused.status_code == 200 and Rating.objects.get().report_text == "一年来，支部……"


def test_the_assessment_links_to_its_rating(rating, people, signed_in, county):
    from assessments.models import Assessment

    assessment = Assessment.objects.get(round=rating.round, organization=county.east)
    page = signed_in(people.secretary).get(reverse("assessments:assessment", args=[assessment.pk])).content.decode()
    assert reverse("assessments:rating", args=[rating.pk]) in page


def test_the_rounds_workbook_carries_its_ratings_and_their_results(assessment_round, county, people, signed_in):
    """Results are exported with the round: a third sheet of the ranking's workbook, or `table=ratings` as CSV."""
    from openpyxl import load_workbook

    rating = open_rating(assessment_round, county.east, audiences=[{"kind": "members", "weight": "100", "voters": 2}])
    codes = [ticket.code for ticket in ratings.tickets_issue(rating=rating, by=system()).tickets]
    ratings.ballot_cast(code=codes[0], answers={str(rating.questions.get().pk): "good"})
    ratings.rating_close(rating=rating, by=system())
    open_rating(assessment_round, county.south)  # still collecting votes: listed, no score yet
    client = signed_in(people.town_reviewer)
    url = reverse("assessments:ranking_export", args=[assessment_round.pk])
    book = load_workbook(io.BytesIO(client.get(url, {"format": "xlsx"}).content))
    assert book.sheetnames == ["排名", "下级组织汇总", "评议测评"]
    rows = list(book["评议测评"].iter_rows(values_only=True))
    assert rows[0][:2] == ("组织代码", "党组织")
    by_name = {row[1]: row for row in rows[1:]}
    assert set(by_name) == {"东村支部", "南村支部"}
    east = by_name["东村支部"]
    assert (east[5], east[6]) == (2, 1)  # two tickets, one used
    assert east[7] == 100  # a number a spreadsheet can sum
    assert "收回1张" in east[9] and "好 100%" in east[9]
    assert by_name["南村支部"][7] in (None, "")
    text = client.get(url, {"format": "csv", "table": "ratings"}).content.decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    assert [row[1] for row in table[1:]] == ["东村支部", "南村支部"]
    # the town's reviewer sees the ratings of the town only; another subtree's reviewer of the same round none
    client.force_login(people.reviewer)
    others = list(
        csv.reader(io.StringIO(client.get(url, {"format": "csv", "table": "ratings"}).content.decode("utf-8-sig")))
    )
    assert len(others) == 3  # the county reviewer oversees the town: both ratings
