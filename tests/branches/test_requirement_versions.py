"""Changing a meeting rule in force: it takes effect from the start of the rule's next period, never inside
a period that has begun, and the admin says the exact day."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from branches import services
from branches.models import MeetingRequirement
from tests.conftest import system

TODAY = date(2026, 11, 15)


@pytest.mark.parametrize(
    "meeting_type, from_day",
    [
        ("theme_day", date(2026, 12, 1)),  # monthly: next month
        ("party_lecture", date(2027, 1, 1)),  # quarterly: next quarter
        ("life_meeting", date(2027, 1, 1)),  # yearly: next year
        ("general_meeting", date(2027, 1, 1)),
    ],
)
def test_a_rule_in_force_changes_from_the_start_of_its_next_period(county, meeting_type, from_day):
    rule = MeetingRequirement.objects.get(meeting_type=meeting_type, sector="")
    successor = services.requirement_change(requirement=rule, data={"minimum": 2}, today=TODAY, by=system())
    rule.refresh_from_db()
    assert (successor.effective_from, successor.minimum) == (from_day, 2)
    assert rule.effective_to == from_day - timedelta(days=1)  # the old version judges every period begun


def test_a_yearly_rule_changed_in_january_waits_for_the_next_year(county):
    rule = MeetingRequirement.objects.get(meeting_type="study_session", sector="")
    successor = services.requirement_change(requirement=rule, data={"minimum": 12}, today=date(2027, 1, 2), by=system())
    assert successor.effective_from == date(2028, 1, 1)


def test_a_monthly_rule_made_yearly_waits_for_the_next_year(county):
    rule = MeetingRequirement.objects.get(meeting_type="theme_day", sector="")
    successor = services.requirement_change(
        requirement=rule, data={"period": "year", "minimum": 12}, today=TODAY, by=system()
    )
    assert successor.effective_from == date(2027, 1, 1)


def test_a_rule_not_yet_in_force_is_edited_in_place(county):
    rule = MeetingRequirement.objects.create(
        meeting_type="theme_day", period="month", minimum=2, sector="village", effective_from=date(2027, 1, 1)
    )
    changed = services.requirement_change(requirement=rule, data={"minimum": 3}, today=TODAY, by=system())
    assert (changed.pk, changed.minimum, changed.effective_from) == (rule.pk, 3, date(2027, 1, 1))


@pytest.mark.parametrize(
    "period, day, field, message",
    [
        ("year", date(2027, 3, 1), "effective_from", "按年考核的规则须自年初起施行：同一年不能按两个版本的规则考核。"),
        (
            "quarter",
            date(2027, 2, 1),
            "effective_from",
            "按季度考核的规则须自季度初起施行：同一季度不能按两个版本的规则考核。",
        ),
        (
            "month",
            date(2027, 2, 15),
            "effective_from",
            "按月考核的规则须自月初起施行：同一月不能按两个版本的规则考核。",
        ),
    ],
)
def test_a_version_cannot_start_inside_a_period_it_cannot_split(county, period, day, field, message):
    rule = MeetingRequirement(meeting_type="theme_day", period=period, minimum=1, effective_from=day)
    with pytest.raises(ValidationError) as refused:
        rule.full_clean()
    assert refused.value.message_dict[field] == [message]


def test_a_quarterly_version_cannot_end_inside_a_quarter(county):
    rule = MeetingRequirement(
        meeting_type="theme_day",
        period="quarter",
        minimum=1,
        effective_from=date(2027, 1, 1),
        effective_to=date(2027, 2, 28),
    )
    with pytest.raises(ValidationError) as refused:
        rule.full_clean()
    assert refused.value.message_dict["effective_to"] == ["按季度考核的规则须在季度末终止。"]


def _admin_form(rule, **changes):
    form = {
        "meeting_type": rule.meeting_type,
        "period": rule.period,
        "minimum": str(rule.minimum),
        "organization_kind": rule.organization_kind,
        "sector": rule.sector,
        "effective_from": rule.effective_from.isoformat(),
        "effective_to": "",
    }
    return {**form, **changes}


def test_the_admin_says_a_yearly_rule_changes_from_1_january_next_year(county, people, signed_in, monkeypatch):
    monkeypatch.setattr(timezone, "localdate", lambda *args: TODAY)
    rule = MeetingRequirement.objects.get(meeting_type="life_meeting", sector="")
    client = signed_in(people.admin)
    url = reverse("admin:branches_meetingrequirement_change", args=[rule.pk])
    page = client.post(url, _admin_form(rule, minimum="2"), follow=True).content.decode()
    assert "修改后的规则自2027年1月1日起施行（下一年的第一天）" in page
    assert MeetingRequirement.objects.get(meeting_type="life_meeting", effective_to__isnull=True).effective_from == (
        date(2027, 1, 1)
    )


def test_the_admin_refuses_a_new_rule_starting_in_a_period_that_has_begun(county, people, signed_in, monkeypatch):
    monkeypatch.setattr(timezone, "localdate", lambda *args: TODAY)
    client = signed_in(people.admin)
    form = _admin_form(
        MeetingRequirement(
            meeting_type="party_lecture",
            period="quarter",
            minimum=2,
            sector="village",
            effective_from=date(2026, 10, 1),
        )
    )
    page = client.post(reverse("admin:branches_meetingrequirement_add"), form).content.decode()
    assert "规则不能在已开始的周期内施行，请选择2027年1月1日或之后的日期。" in page
    assert not MeetingRequirement.objects.filter(sector="village").exists()
    page = client.post(reverse("admin:branches_meetingrequirement_add"), {**form, "effective_from": "2026-12-01"})
    assert "按季度考核的规则须自季度初起施行" in page.content.decode()
    client.post(reverse("admin:branches_meetingrequirement_add"), {**form, "effective_from": "2027-01-01"})
    assert MeetingRequirement.objects.filter(sector="village").get().effective_from == date(2027, 1, 1)
