"""A voter at 390 px: the link from the ticket's QR code, the ballot, one answer forgotten, then the thank-you page;
the same link again says the ticket is used."""

import pytest
from django.core.cache import caches
from playwright.sync_api import expect

from assessments import ratings
from assessments.models import RatingBallot
from tests.assessments.conftest import open_rating, open_workflow_round
from tests.conftest import system

pytestmark = pytest.mark.browser


@pytest.fixture
def ticket(county):
    caches["ratings_throttle"].clear()
    rating = open_rating(
        open_workflow_round(county.town),
        county.east,
        questions=[{"text": "抓基层党建工作总体评价", "scale": "grades"}, {"text": "联系服务群众", "scale": "five"}],
    )
    return rating, ratings.tickets_issue(rating=rating, by=system()).tickets[0].code


def test_a_voter_goes_from_the_link_to_the_thank_you_page_on_a_phone(ticket, page, live_server):
    rating, code = ticket
    link = f"{live_server.url}/r/{code}/"  # what the QR code holds
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(link)
    expect(page.locator("h1")).to_have_text(rating.title)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert all(url.startswith(live_server.url) for url in requests)  # nothing from elsewhere
    assert len([url for url in requests if "/static/" not in url]) == 1  # the page is one request (and its CSS)
    first, second = rating.questions.all()
    page.check(f"input[name=q{first.pk}][value=good]")
    page.click("#ballot button[type=submit]")  # the 1-5 question forgotten: the browser itself asks for it
    assert not RatingBallot.objects.exists()
    page.check(f"input[name=q{second.pk}][value='4']")
    page.fill("textarea[name=comment]", "希望多开展为民服务活动")
    page.click("#ballot button[type=submit]")
    expect(page.locator("[data-thanks]")).to_be_visible()
    assert RatingBallot.objects.get().answers == {str(first.pk): "good", str(second.pk): "4"}
    page.goto(link)
    expect(page.locator("[data-refused]")).to_contain_text("已经投过票")
