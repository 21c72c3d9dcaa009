"""The voter's page (/r/): no sign-in, Chinese only, one page, refusals that say what is wrong and nothing more."""

import pytest
from django.core.cache import caches
from django.test import Client
from django.urls import reverse

from assessments import ratings
from assessments.models import RatingBallot, RatingTicket
from tests.assessments.conftest import open_rating, open_workflow_round
from tests.conftest import system


@pytest.fixture(autouse=True)
def fresh_throttle():
    caches["ratings_throttle"].clear()
    yield
    caches["ratings_throttle"].clear()


@pytest.fixture
def rating(county):
    return open_rating(open_workflow_round(county.town), county.east)


@pytest.fixture
def codes(rating):
    return [ticket.code for ticket in ratings.tickets_issue(rating=rating, by=system()).tickets]


def ballot_url(code):
    return reverse("vote:ballot", args=[code])


def test_a_voter_opens_the_link_and_votes_without_signing_in_with_the_form_token_set_by_the_page(rating, codes):
    voter = Client(enforce_csrf_checks=True)
    page = voter.get(ballot_url(codes[0]))
    assert page.status_code == 200
    text = page.content.decode()
    assert rating.title in text and "党员" in text and "较好" in text and "提交" in text
    assert page["Cache-Control"] == "no-store" and page["Content-Language"] == "zh-hans"
    assert "<script" not in text and "style=" not in text
    token = voter.cookies["csrftoken"].value
    question = rating.questions.get()
    done = voter.post(
        reverse("vote:start"),
        {"csrfmiddlewaretoken": token, "code": codes[0], f"q{question.pk}": "good", "comment": "多办实事"},
    )
    assert done.status_code == 302 and done.url == reverse("vote:thanks")
    assert "感谢" in voter.get(done.url).content.decode()
    assert RatingTicket.objects.filter(spent=True).count() == RatingBallot.objects.count() == 1
    assert "sessionid" not in voter.cookies  # no session was needed


def test_a_vote_without_the_pages_token_is_refused(rating, codes):
    question = rating.questions.get()
    refused = Client(enforce_csrf_checks=True).post(
        reverse("vote:start"), {"code": codes[0], f"q{question.pk}": "good"}
    )
    assert refused.status_code == 403
    assert not RatingBallot.objects.exists()


def test_the_page_speaks_chinese_whatever_language_was_chosen(client, codes):
    client.cookies["django_language"] = "en"
    text = client.get(ballot_url(codes[0])).content.decode()
    assert "提交" in text and "Submit" not in text


def test_a_used_ticket_an_unknown_code_and_a_closed_rating_are_refused_with_a_clear_message_and_nothing_else(
    client, rating, codes
):
    question = rating.questions.get()
    client.post(reverse("vote:start"), {"code": codes[0], f"q{question.pk}": "good"})
    used = client.get(ballot_url(codes[0]))
    assert used.status_code == 410 and "已经投过票" in used.content.decode()
    unknown = client.get(ballot_url(ratings.new_code()))
    assert unknown.status_code == 404 and "票码无效" in unknown.content.decode()
    typed = client.get(reverse("vote:start"), {"code": "not a code"})
    assert typed.status_code == 404
    ratings.rating_close(rating=rating, by=system())
    closed = client.get(ballot_url(codes[1]))
    assert closed.status_code == 410 and "已结束" in closed.content.decode()
    for response in (used, unknown, closed):  # a refusal names no rating
        text = response.content.decode()
        assert rating.title not in text and rating.organization.name not in text and "张一" not in text


def test_a_typed_code_leads_to_its_ballot(client, codes):
    typed = client.get(reverse("vote:start"), {"code": ratings.shown(codes[0]).lower()})
    assert typed.status_code == 302 and typed.url == ballot_url(codes[0])


def test_a_vote_missing_an_answer_comes_back_with_what_was_typed_and_counts_nothing(client, rating, codes):
    response = client.post(reverse("vote:start"), {"code": codes[0], "comment": "意见"})
    assert response.status_code == 400
    text = response.content.decode()
    assert "请回答此项" in text and "意见" in text
    assert not RatingBallot.objects.exists() and not RatingTicket.objects.filter(spent=True).exists()


def test_markup_in_the_comment_is_refused(client, rating, codes):
    question = rating.questions.get()
    response = client.post(
        reverse("vote:start"), {"code": codes[0], f"q{question.pk}": "good", "comment": "<script>x</script>"}
    )
    assert response.status_code == 400 and "HTML" in response.content.decode()
    assert not RatingBallot.objects.exists()


def test_the_ballot_page_reads_the_same_few_rows_whatever_the_rating(client, rating, codes, django_assert_num_queries):
    with django_assert_num_queries(2):  # the ticket with its rating and audience; the questions
        assert client.get(ballot_url(codes[0])).status_code == 200


def test_an_address_asking_too_often_is_throttled(client, codes, settings):
    settings.RATING_RATE_ADDRESS = "3/min"
    for _ in range(3):
        assert client.get(ballot_url(codes[0])).status_code == 200
    refused = client.get(ballot_url(codes[0]))
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "请求过于频繁" in refused.content.decode()
    other = Client(REMOTE_ADDR="10.9.9.9")
    assert other.get(ballot_url(codes[1])).status_code == 200  # another address has its own budget


def test_a_ticket_tried_too_often_is_throttled_from_any_address(rating, codes, settings):
    settings.RATING_RATE_TICKET = "2/min"
    for number in range(2):
        assert Client(REMOTE_ADDR=f"10.0.0.{number}").get(ballot_url(codes[0])).status_code == 200
    assert Client(REMOTE_ADDR="10.0.0.9").get(ballot_url(codes[0])).status_code == 429
    assert Client(REMOTE_ADDR="10.0.0.9").get(ballot_url(codes[1])).status_code == 200
