"""Tickets of a rating sent to the inboxes of the portal users who vote: the superior committee's people and the
secretaries of the peer organizations. One each, never twice, never voided by a reprint, and the vote cast with one
is as anonymous as a printed ticket's."""

import re

import pytest
from django.core.cache import caches
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from assessments import ratings
from assessments.models import RatingBallot, RatingTicket
from branches.models import Role
from portal import notices, services
from portal.models import Notification, NotificationKind
from tests.assessments.conftest import open_rating, open_workflow_round
from tests.conftest import system

AUDIENCES = [
    {"kind": "superior", "weight": "40", "voters": 3},
    {"kind": "peers", "weight": "30", "voters": 2},
    {"kind": "members", "weight": "30", "voters": 2},
]


@pytest.fixture(autouse=True)
def fresh_throttle():
    caches["ratings_throttle"].clear()


@pytest.fixture
def rating(county):
    return open_rating(open_workflow_round(county.town), county.east, audiences=AUDIENCES)


def audience(rating, kind):
    return rating.audiences.get(kind=kind)


def test_the_superior_committees_people_get_one_ticket_each_in_their_inbox(
    rating, people, signed_in, make_user, county
):
    town_admin = make_user("town_admin", Role.ADMIN, county.town)
    client = signed_in(people.town_reviewer)
    response = client.post(reverse("rating_tickets_send", args=[rating.pk, audience(rating, "superior").pk]))
    assert response.status_code == 302
    sent = Notification.objects.filter(kind=NotificationKind.RATING_TICKET)
    assert set(sent.values_list("recipient__username", flat=True)) == {"town_reviewer", town_admin.username}
    assert RatingTicket.objects.filter(by_inbox=True, audience__kind="superior").count() == 2
    # the county reviewer holds a role above the town, not on it: not of the superior committee of 东村
    assert not sent.filter(recipient=people.reviewer).exists()

    # the holder opens it from the inbox and votes on the voter's page
    inbox = client.get(reverse("inbox")).content.decode()
    assert rating.title in inbox and "上级党组织" in inbox
    mine = sent.get(recipient=people.town_reviewer)
    ballot = client.get(reverse("notification_open", args=[mine.pk]))
    assert ballot.status_code == 302 and ballot.url == mine.link and mine.link.startswith("/r/")
    code = mine.link.split("/")[2]
    question = str(rating.questions.get().pk)
    ratings.ballot_cast(code=code, answers={question: "good"})
    row = {t.audience.kind: t for t in ratings.turnout(rating)}["superior"]
    assert (row.tickets, row.used, row.in_inboxes) == (2, 1, 1)
    # the ballot keeps no link to the ticket, nor to the person: the same columns as a printed ticket's ballot
    assert {field.name for field in RatingBallot._meta.get_fields()} == {
        "id",
        "rating",
        "audience",
        "answers",
        "comment",
    }


def test_sending_again_reaches_only_those_without_a_ticket(rating, people, make_user, county):
    superior = audience(rating, "superior")
    assert services.rating_tickets_send(rating=rating, audience=superior, by=people.town_reviewer) == 1
    with pytest.raises(ValidationError):
        services.rating_tickets_send(rating=rating, audience=superior, by=people.town_reviewer)
    make_user("town_assessor", Role.ASSESSOR, county.town)
    assert services.rating_tickets_send(rating=rating, audience=superior, by=people.town_reviewer) == 1
    assert RatingTicket.objects.filter(by_inbox=True).count() == 2
    assert Notification.objects.filter(kind=NotificationKind.RATING_TICKET).count() == 2


def test_the_peers_are_the_secretaries_of_the_sister_organizations(rating, people, make_user, county):
    make_user("south_secretary", Role.SECRETARY, county.south)
    services.rating_tickets_send(rating=rating, audience=audience(rating, "peers"), by=people.town_reviewer)
    assert list(
        Notification.objects.filter(kind=NotificationKind.RATING_TICKET).values_list("recipient__username", flat=True)
    ) == ["south_secretary"]  # not 东村's own secretary, not 县财政局's (another parent)


def test_reprinting_the_sheets_keeps_the_inbox_tickets(rating, people):
    services.rating_tickets_send(rating=rating, audience=audience(rating, "superior"), by=people.town_reviewer)
    issue = ratings.tickets_issue(rating=rating, by=system())
    printed = dict.fromkeys(("superior", "peers", "members"), 0)
    for ticket in issue.tickets:
        printed[ticket.audience.kind] += 1
    assert printed == {"superior": 2, "peers": 2, "members": 2}  # 3 superior voters, one holds an inbox ticket
    ratings.tickets_issue(rating=rating, by=system())  # a reprint voids the first sheet, not the inbox
    assert RatingTicket.objects.filter(by_inbox=True, voided=False).count() == 1


def test_an_audience_that_is_full_or_not_of_users_is_refused_and_nothing_is_sent(rating, people, make_user, county):
    for n in range(3):
        make_user(f"peer{n}", Role.SECRETARY, county.south)  # three peers for two voters
    with pytest.raises(ValidationError) as refused:
        services.rating_tickets_send(rating=rating, audience=audience(rating, "peers"), by=people.town_reviewer)
    assert "2" in refused.value.messages[0]
    with pytest.raises(ValidationError):
        services.rating_tickets_send(rating=rating, audience=audience(rating, "members"), by=people.town_reviewer)
    assert not Notification.objects.filter(kind=NotificationKind.RATING_TICKET).exists()
    assert not RatingTicket.objects.exists()


def test_only_the_ratings_reviewers_send_tickets(rating, people, signed_in):
    superior = audience(rating, "superior")
    with pytest.raises(PermissionDenied):
        services.rating_tickets_send(rating=rating, audience=superior, by=people.secretary)
    response = signed_in(people.secretary).post(reverse("rating_tickets_send", args=[rating.pk, superior.pk]))
    assert response.status_code == 404
    assert not RatingTicket.objects.exists()


def test_the_tickets_page_offers_the_inbox_for_the_audiences_of_users(rating, people, signed_in):
    page = signed_in(people.town_reviewer).get(reverse("assessments:rating_tickets", args=[rating.pk]))
    html = page.content.decode()
    superior = html[html.index('data-audience="superior"') :]
    assert reverse("rating_tickets_send", args=[rating.pk, audience(rating, "superior").pk]) in superior
    members = html[html.index('data-audience="members"') :]
    assert "rating_tickets_send" not in members and "打印" in members[: members.index("</tr>")]


def test_the_notification_reads_in_chinese_with_the_deadline(rating, people):
    services.rating_tickets_send(rating=rating, audience=audience(rating, "superior"), by=people.town_reviewer)
    notification = Notification.objects.get(kind=NotificationKind.RATING_TICKET)
    title = notices.title(notification)
    assert rating.title in title and "上级党组织" in title and notification.params["closes"] in title
    subject, body = notices.email_one(notification, people.town_reviewer)
    assert "/r/" in body


def send_button(client, rating, kind):
    """The send button of an audience's row on the tickets page: (its count, disabled, its text)."""
    page = client.get(reverse("assessments:rating_tickets", args=[rating.pk])).content.decode()
    row = page[page.index(f'data-audience="{kind}"') :]
    row = row[: row.index("</tr>")]
    button = re.search(r"<button([^>]*)>(.*?)</button>", row, re.S)
    count = re.search(r'data-send="(\d+)"', button[1])[1]
    return int(count), "disabled" in button[1], " ".join(button[2].split())


def test_the_send_button_counts_those_still_without_a_ticket_and_says_when_all_have_one(
    rating, people, signed_in, make_user, county
):
    make_user("town_admin", Role.ADMIN, county.town)
    client = signed_in(people.town_reviewer)
    assert send_button(client, rating, "superior") == (2, False, "发送到 2 名用户的收件箱")

    client.post(reverse("rating_tickets_send", args=[rating.pk, audience(rating, "superior").pk]))

    assert send_button(client, rating, "superior") == (0, True, "已全部发送（2 人）")
    # one of them votes with it: still theirs, nobody new to send to
    code = Notification.objects.filter(kind=NotificationKind.RATING_TICKET).first().link.split("/")[2]
    ratings.ballot_cast(code=code, answers={str(rating.questions.get().pk): "good"})
    assert send_button(client, rating, "superior")[:2] == (0, True)
    # someone joins the town committee: one to send
    make_user("town_assessor", Role.ASSESSOR, county.town)
    assert send_button(client, rating, "superior") == (1, False, "发送到 1 名用户的收件箱")
