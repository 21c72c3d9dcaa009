"""Meeting compliance: held against required, by period, kind, sector and party group."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.utils import timezone

from branches import compliance, periods, services, summaries
from branches.models import Meeting, MeetingRequirement, Organization
from tests.conftest import add_cadre, system

SHANGHAI = ZoneInfo("Asia/Shanghai")


def log(branch, meeting_type, when, group=None, present=None):
    """A meeting logged through the service, everyone present unless `present` names who was."""
    held_at = when if isinstance(when, datetime) else datetime(when.year, when.month, when.day, 9, 0, tzinfo=SHANGHAI)
    members = list(services.selectors.expected_on(branch, timezone.localtime(held_at).date(), meeting_type, group))
    attendance = {
        m.pk: ((present is None or m.name in present), "" if present is None or m.name in present else "sick")
        for m in members
    }
    meeting, warnings = services.meeting_save(
        organization=branch,
        attendance=attendance,
        data={
            "meeting_type": meeting_type,
            "held_at": held_at,
            "party_group": group,
            "place": "村部",
            "host": "张一",
            "topic": "学习",
            "minutes": "记录",
        },
        by=system(),
    )
    return meeting


def test_a_meeting_at_2330_on_31_march_in_beijing_counts_for_q1(county):
    late = datetime(2026, 3, 31, 23, 30, tzinfo=SHANGHAI)  # 15:30 UTC, still 31 March in Beijing
    meeting = log(county.east, "general_meeting", late)
    assert meeting.held_on == date(2026, 3, 31)
    q1 = periods.parse("2026-Q1")
    q2 = periods.parse("2026-Q2")
    row_q1 = compliance.for_span([county.east], q1, date(2026, 11, 1))[0]
    row_q2 = compliance.for_span([county.east], q2, date(2026, 11, 1))[0]
    assert row_q1.status("general_meeting").held == 1 and row_q1.status("general_meeting").fulfilled
    assert row_q2.status("general_meeting").held == 0 and not row_q2.status("general_meeting").fulfilled


def test_a_meeting_at_0030_on_1_april_in_beijing_counts_for_q2_though_it_is_march_in_utc(county):
    early = datetime(2026, 3, 31, 16, 30, tzinfo=ZoneInfo("UTC"))  # 00:30 on 1 April in Beijing
    meeting = log(county.east, "general_meeting", early)
    assert meeting.held_on == date(2026, 4, 1)
    row = compliance.for_span([county.east], periods.parse("2026-Q2"), date(2026, 11, 1))[0]
    assert row.status("general_meeting").fulfilled


def test_monthly_requirements_over_a_quarter_are_judged_month_by_month(county):
    log(county.east, "theme_day", date(2026, 7, 5))
    log(county.east, "theme_day", date(2026, 7, 20))  # two in July do not make up for August
    log(county.east, "theme_day", date(2026, 9, 1))
    row = compliance.for_span([county.east], periods.parse("2026-Q3"), date(2026, 11, 1))[0]
    status = row.status("theme_day")
    # Each month counts up to its minimum: July's second meeting does not count for August.
    assert (status.held, status.required, status.periods_met, len(status.counts)) == (2, 3, 2, 3)
    assert not status.fulfilled and status.state == compliance.NOT_MET


def test_the_current_year_counts_only_months_that_have_begun(county):
    row = compliance.for_span([county.east], periods.parse("2026"), date(2026, 5, 10))[0]
    assert row.status("theme_day").required == 5  # January to May
    assert row.status("life_meeting").required == 1


def test_party_group_meetings_count_per_group(county):
    second = services.organization_create(
        parent=county.east,
        kind="party_group",
        data={"code": "T-E-1-G2", "name": "东村第二党小组", "sector": "village"},
        by=system(),
    )
    from branches.models import Member

    Member.objects.filter(name="张二").update(party_group=second)
    log(county.east, "group_meeting", date(2026, 10, 8), group=county.group)
    log(county.east, "group_meeting", date(2026, 10, 9), group=county.group)  # a busy group…
    row = compliance.owed(county.east, date(2026, 10, 20))
    status = row.status("group_meeting")
    assert (status.held, status.required) == (1, 2)  # …cannot make up for the silent one
    log(county.east, "group_meeting", date(2026, 10, 10), group=second)
    assert compliance.owed(county.east, date(2026, 10, 20)).status("group_meeting").fulfilled


def test_a_branch_without_groups_or_committee_owes_neither(county):
    row = compliance.owed(county.south, date(2026, 10, 20))
    assert row.status("group_meeting") is None
    assert row.status("committee_meeting") is None
    assert row.status("general_meeting") is not None


def test_committee_meetings_are_owed_where_a_committee_serves(county):
    for name, post in (("张一", "secretary"), ("张二", "organization_member"), ("张三", "publicity_member")):
        add_cadre(county.east, name, post, date(2024, 1, 1))
    row = compliance.owed(county.east, date(2026, 10, 20))
    assert row.status("committee_meeting").required == 1


def test_a_sector_rule_overrides_the_general_one(county):
    MeetingRequirement.objects.create(
        meeting_type="theme_day", period="month", minimum=2, sector="village", effective_from=date(2019, 1, 1)
    )
    village = compliance.owed(county.east, date(2026, 10, 20)).status("theme_day")
    organ = compliance.owed(county.finance, date(2026, 10, 20)).status("theme_day")
    assert (village.required, organ.required) == (2, 1)


def test_changing_a_rule_does_not_rewrite_past_periods(county):
    rule = MeetingRequirement.objects.get(meeting_type="general_meeting", sector="")
    log(county.east, "general_meeting", date(2026, 2, 10))
    q1 = periods.parse("2026-Q1")
    before = compliance.for_span([county.east], q1, date(2026, 11, 1))[0].status("general_meeting")
    assert before.fulfilled
    services.requirement_change(requirement=rule, data={"minimum": 2}, today=date(2026, 6, 15), by=system())
    after = compliance.for_span([county.east], q1, date(2026, 11, 1))[0].status("general_meeting")
    assert (after.required, after.fulfilled) == (1, True)
    q3 = compliance.for_span([county.east], periods.parse("2026-Q3"), date(2026, 11, 1))[0]
    assert q3.status("general_meeting").required == 2
    assert MeetingRequirement.objects.filter(meeting_type="general_meeting").count() == 2


def test_compliance_for_many_organizations_is_a_fixed_number_of_queries(county, django_assert_max_num_queries):
    branches = []
    for n in range(30):
        branch = services.organization_create(
            parent=county.town,
            kind="branch",
            data={"code": f"C-{n}", "name": f"村{n}", "sector": "village"},
            by=system(),
        )
        branches.append(branch)
        Meeting.objects.create(
            organization=branch,
            meeting_type="theme_day",
            held_at=timezone.now(),
            held_on=timezone.localdate(),
            place="村部",
            host="x",
            topic="x",
        )
    summaries.rebuild()  # meetings written straight to the table: their summaries are built from them
    span = periods.span_of("year", timezone.localdate())
    with django_assert_max_num_queries(5):
        rows = compliance.for_span(branches, span, timezone.localdate())
    assert len(rows) == 30 and all(r.status("theme_day").held == 1 for r in rows)
    assert Organization.objects.count() > 30


def test_an_admin_edit_of_a_rule_in_force_becomes_a_new_version_from_next_month(county, people, signed_in, monkeypatch):
    from django.urls import reverse

    today = date(2026, 11, 15)
    monkeypatch.setattr(timezone, "localdate", lambda *args: today)
    rule = MeetingRequirement.objects.get(meeting_type="theme_day", sector="")
    client = signed_in(people.admin)
    url = reverse("admin:branches_meetingrequirement_change", args=[rule.pk])
    form = {
        "meeting_type": "theme_day",
        "period": "month",
        "minimum": "2",
        "organization_kind": "branch",
        "sector": "",
        "effective_from": rule.effective_from.isoformat(),
        "effective_to": "",
    }
    response = client.post(url, form, follow=True)
    assert "自2026年12月1日起施行" in response.content.decode()
    versions = MeetingRequirement.objects.filter(meeting_type="theme_day").order_by("effective_from")
    assert [(v.minimum, v.effective_to) for v in versions] == [(1, date(2026, 11, 30)), (2, None)]
    assert versions[1].effective_from == date(2026, 12, 1)
    assert compliance.owed(county.east, today).status("theme_day").required == 1  # November is not rewritten
    assert compliance.owed(county.east, date(2026, 12, 2)).status("theme_day").required == 2
    reviewer = signed_in(people.reviewer)
    assert reviewer.post(url, form).status_code == 302  # sent to the admin sign-in: reviewers have no admin
    assert MeetingRequirement.objects.filter(meeting_type="theme_day").count() == 2
