"""A duty completed by one of the branch's logged meetings (the evidence the README promises)."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from assessments import services
from assessments.forms import ItemCompleteForm
from assessments.models import ResponsibilityItem
from branches.models import Meeting
from tests.conftest import system


def log_meeting(organization, days_ago=10, topic="警示教育专题学习"):
    held_at = timezone.now() - timedelta(days=days_ago)
    return Meeting.objects.create(
        organization=organization,
        meeting_type="theme_day",
        held_at=held_at,
        held_on=timezone.localtime(held_at).date(),
        place="党员活动室",
        host="张一",
        topic=topic,
    )


@pytest.fixture
def duty(county, template):
    services.template_issue(template=template, root=county.town, by=system())
    return ResponsibilityItem.objects.get(organization=county.east, text="开展警示教育一次")


def test_a_secretary_completes_a_duty_with_one_of_the_branchs_meetings(county, people, signed_in, duty):
    meeting = log_meeting(county.east)
    client = signed_in(people.secretary)
    url = reverse("assessments:item", args=[duty.pk])
    assert meeting.topic in client.get(url).content.decode()  # offered, with its topic
    response = client.post(url, {"version": duty.version, "note": "", "meeting": meeting.pk})
    assert response.status_code == 302, response.content.decode()
    duty.refresh_from_db()
    assert duty.status == "done" and duty.evidence_meeting == meeting


def test_a_meeting_older_than_the_offered_ones_is_still_accepted(county, duty):
    oldest = log_meeting(county.east, days_ago=200, topic="最早的一次")
    for n in range(60):
        log_meeting(county.east, days_ago=n + 1, topic=f"第{n}次")
    form = ItemCompleteForm({"version": duty.version, "note": "", "meeting": oldest.pk}, organization=county.east)
    assert len(list(form.fields["meeting"].choices)) == 51  # the empty choice and the latest 50
    assert form.is_valid(), form.errors
    assert form.cleaned_data["meeting"] == oldest


def test_another_branchs_meeting_is_refused_by_the_form_and_by_the_service(county, people, signed_in, duty):
    theirs = log_meeting(county.south)
    client = signed_in(people.secretary)
    response = client.post(
        reverse("assessments:item", args=[duty.pk]), {"version": duty.version, "note": "", "meeting": theirs.pk}
    )
    assert response.status_code == 200 and "meeting" in response.context["form"].errors
    with pytest.raises(ValidationError) as error:
        services.item_complete(item=duty, by=people.secretary, version=duty.version, meeting=theirs)
    assert "meeting" in error.value.message_dict
    duty.refresh_from_db()
    assert duty.status == "open" and duty.evidence_meeting is None


def test_the_meetings_offered_are_those_of_the_dutys_branch_latest_first(county, duty):
    log_meeting(county.east, days_ago=30, topic="九月")
    log_meeting(county.east, days_ago=3, topic="十月")
    log_meeting(county.south, days_ago=1, topic="南村的会")
    labels = [str(label) for _value, label in ItemCompleteForm(organization=county.east).fields["meeting"].choices]
    assert [label.split("· ")[-1] for label in labels[1:]] == ["十月", "九月"]
    assert labels[1].startswith((date.today() - timedelta(days=3)).isoformat()[:4])  # the date comes first
