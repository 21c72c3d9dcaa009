"""A reminder whose subject is done shows as done at once, and the bell no longer counts it."""

from datetime import date, datetime, time

import pytest
from django.urls import reverse
from django.utils import timezone

from assessments import services as duty_services
from branches import summaries
from branches.models import Meeting
from portal.models import Notification, NotificationKind
from tests.conftest import system
from tests.portal.test_hardening import PNG, upload
from tests.portal.test_inbox import bell


def remind(user, organization, kind, object_id=None, due_on=date(2026, 3, 31), **params):
    return Notification.objects.create(
        recipient=user,
        kind=kind,
        subject=f"{kind}:{object_id}:{params.get('meeting_type', '')}",
        window=str(due_on),
        organization=organization,
        object_id=object_id,
        due_on=due_on,
        params={"text": "提醒", "due": due_on.isoformat(), "days": 3, **params},
        link="/work/",
    )


def log(organization, meeting_type, day, party_group=None):
    """A meeting written straight to the table, with its month summary brought up to date as a service does."""
    meeting = Meeting.objects.create(
        organization=organization,
        party_group=party_group,
        meeting_type=meeting_type,
        held_at=timezone.make_aware(datetime.combine(day, time(9))),
        held_on=day,
        place="活动室",
        host="张一",
        topic="学习",
    )
    summaries.refresh([summaries.key_of(meeting)])
    return meeting


def inbox(client, query=""):
    page = client.get(reverse("inbox") + query).content.decode()
    return page, bell(page)


@pytest.fixture
def duty(county):
    return duty_services.item_add(
        organization=county.east,
        year=2026,
        data={"area": "integrity", "text": "开展警示教育一次", "due_on": date(2026, 12, 10)},
        by=system(),
    )


def test_a_reminder_of_a_completed_duty_shows_done_and_is_not_counted(county, people, signed_in, duty):
    remind(people.secretary, county.east, NotificationKind.DUTY_DUE, duty.pk, text=duty.text)
    client = signed_in(people.secretary)
    page, unread = inbox(client)
    assert unread == 1 and 'data-done="no"' in page
    duty_services.item_complete(item=duty, by=people.secretary, version=duty.version, note="已开展")
    page, unread = inbox(client)
    assert unread == 0
    assert 'data-done="yes"' in page and "已完成" in page
    assert 'data-kind="duty_due"' not in inbox(client, "?show=unread")[0]


def test_a_reminder_of_a_submitted_rectification_shows_done(county, people, signed_in, make_user, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    inspector = make_user("inspector", "assessor", county.town)
    inspection = duty_services.inspection_create(
        organization=county.east, by=inspector, data={"held_on": date(2026, 1, 5), "title": "督查"}
    )
    finding = duty_services.finding_add(
        inspection=inspection,
        by=inspector,
        data={
            "severity": "minor",
            "description": "台账不全",
            "required_rectification": "补齐",
            "deadline": date(2026, 3, 31),
        },
    )
    remind(people.secretary, county.east, NotificationKind.RECTIFICATION_DUE, finding.pk)
    client = signed_in(people.secretary)
    assert inbox(client)[1] == 1
    duty_services.finding_submit(
        finding=finding, by=people.secretary, version=finding.version, note="已补齐", upload=upload("a.png", PNG)
    )
    page, unread = inbox(client)
    assert unread == 0 and 'data-done="yes"' in page


def test_a_meeting_reminder_is_done_once_the_meetings_required_in_its_period_are_held(county, people, signed_in):
    remind(
        people.secretary,
        county.east,
        NotificationKind.MEETING_DUE,
        meeting_type="theme_day",
        period="month",
        span="2026-03",
        held=0,
        required=2,
    )
    remind(
        people.secretary,
        county.east,
        NotificationKind.MEETING_OVERDUE,
        meeting_type="general_meeting",
        period="quarter",
        span="2026-Q1",
        held=0,
        required=1,
    )
    client = signed_in(people.secretary)
    log(county.east, "theme_day", date(2026, 3, 5))
    log(county.east, "theme_day", date(2026, 2, 27))  # another month
    log(county.south, "theme_day", date(2026, 3, 6))  # another branch
    log(county.east, "general_meeting", date(2025, 12, 20))  # another quarter
    log(county.east, "party_lecture", date(2026, 2, 1))  # another type
    assert inbox(client)[1] == 2
    log(county.east, "theme_day", date(2026, 3, 31))
    log(county.east, "general_meeting", date(2026, 1, 10))
    page, unread = inbox(client)
    assert unread == 0
    assert page.count('data-done="yes"') == 2


def test_group_meetings_count_each_party_group_once(county, people, signed_in):
    remind(
        people.secretary,
        county.east,
        NotificationKind.MEETING_DUE,
        meeting_type="group_meeting",
        period="month",
        span="2026-03",
        held=0,
        required=1,
    )
    client = signed_in(people.secretary)
    log(county.east, "group_meeting", date(2026, 3, 2), party_group=county.group)
    assert inbox(client)[1] == 0
    other = Notification.objects.get()
    Notification.objects.filter(pk=other.pk).update(params={**other.params, "required": 2})  # two groups owe
    log(county.east, "group_meeting", date(2026, 3, 20), party_group=county.group)
    assert inbox(client)[1] == 1  # one group meeting twice does not make up for a silent group


def test_a_read_reminder_of_a_done_duty_still_shows_done(county, people, signed_in, duty):
    note = remind(people.secretary, county.east, NotificationKind.DUTY_OVERDUE, duty.pk, text=duty.text)
    Notification.objects.filter(pk=note.pk).update(read_at=timezone.now())
    duty_services.item_complete(item=duty, by=people.secretary, version=duty.version, note="已开展")
    page, unread = inbox(signed_in(people.secretary))
    assert unread == 0 and 'data-done="yes"' in page
