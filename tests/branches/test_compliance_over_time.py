"""Compliance judged with the facts in force in each month, never with today's.

The county of tests/conftest.py: 中共东镇委员会 holds 东村支部 (members 张一, 张二, 张三; party group
东村第一党小组) and 南村支部 (李一); 中共县直机关工委 holds 县财政局支部. The default rules: 主题党日 and
支委会 (where a committee serves) and 党小组会 (per group) monthly, 支部党员大会 and 党课 quarterly,
24 study sessions and one 组织生活会 a year.

A fact holds in a month only when it holds on every day of it; a span (month, quarter, year) requires
ceil(minimum × owed months / months in the span), and a span owing nothing is not judged at all.
"""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from branches import compliance, periods, services
from branches.models import (
    Attendance,
    AuditEntry,
    Employment,
    Meeting,
    MeetingRequirement,
    Member,
    MemberStatus,
    Organization,
    OrganizationKind,
    Post,
)
from tests.branches.test_compliance import log
from tests.conftest import add_cadre, add_member, system

SHANGHAI = ZoneInfo("Asia/Shanghai")
AFTER_2026 = date(2027, 1, 15)  # every span of 2026 has ended
COMMITTEE = (("张一", Post.SECRETARY), ("张二", Post.ORGANIZATION_MEMBER), ("张三", Post.PUBLICITY_MEMBER))


def year(organization, today=AFTER_2026, span="2026"):
    return compliance.for_span([organization], periods.parse(span), today)[0]


def months_judged(status):
    return [count.span.start.month for count in status.counts]


def set_dates(organization, founded_on=None, dissolved_on=None):
    """Founding and dissolution dates as the tree pages record them (dissolution through the service)."""
    if founded_on is not None:
        services.organization_update(
            organization=organization, data={"code": organization.code, "founded_on": founded_on}, by=system()
        )
    if dissolved_on is not None:
        Member.objects.filter(organization=organization).update(
            status=MemberStatus.TRANSFERRED_OUT, left_on=dissolved_on + timedelta(days=1)
        )
        services.organization_dissolve(organization=organization, on=dissolved_on, reason="撤并", by=system())
    organization.refresh_from_db()
    return organization


def elect(branch, start, end=None, names=COMMITTEE):
    for name, post in names:
        services.cadre_save(
            organization=branch,
            data={
                "name": name,
                "post": post,
                "employment": Employment.PART_TIME,
                "term_start": start,
                "term_end": end,
            },
            by=system(),
        )


# --- the organization's lifetime ---------------------------------------------------------------


def test_a_branch_founded_on_1_july_owes_half_a_year(county):
    """Founded 2026-07-01, judged over 2026: 主题党日 Jul–Dec = 6; 党员大会 Q3, Q4 = 2 (Q1, Q2 not judged);
    24 study sessions × 6/12 months = 12; 组织生活会 ceil(1 × 6/12) = 1."""
    set_dates(county.south, founded_on=date(2026, 7, 1))
    row = year(county.south)
    theme, general = row.status("theme_day"), row.status("general_meeting")
    assert (theme.required, months_judged(theme)) == (6, [7, 8, 9, 10, 11, 12])
    assert (general.required, months_judged(general)) == (2, [7, 10])
    assert row.status("study_session").required == 12
    assert row.status("life_meeting").required == 1


def test_a_branch_founded_on_15_july_does_not_owe_july(county):
    """Founded 2026-07-15: July is a partial month, not owed; Q3 owes August and September,
    ceil(1 × 2/3) = 1 党员大会; the month view of July shows no 主题党日 at all (not applicable, not failed)."""
    set_dates(county.south, founded_on=date(2026, 7, 15))
    assert months_judged(year(county.south).status("theme_day")) == [8, 9, 10, 11, 12]
    assert year(county.south, span="2026-Q3").status("general_meeting").required == 1
    assert year(county.south, span="2026-07").status("theme_day") is None


def test_a_branch_dissolved_on_30_june_owes_june_and_nothing_after(county):
    """Dissolved 2026-06-30 (its last day): 主题党日 Jan–Jun owed, July on not judged."""
    set_dates(county.south, dissolved_on=date(2026, 6, 30))
    theme = year(county.south).status("theme_day")
    assert (theme.required, months_judged(theme)) == (6, [1, 2, 3, 4, 5, 6])
    q3 = year(county.south, span="2026-Q3").statuses  # only the yearly rules, judged over the year
    assert {status.period for status in q3.values()} == {"year"}


def test_a_branch_dissolved_on_15_june_does_not_owe_june(county):
    """Dissolved 2026-06-15: January to May owed (5), June is partial; a yearly rule owes ceil(1 × 5/12) = 1."""
    set_dates(county.south, dissolved_on=date(2026, 6, 15))
    row = year(county.south)
    assert months_judged(row.status("theme_day")) == [1, 2, 3, 4, 5]
    assert row.status("life_meeting").required == 1
    assert year(county.south, span="2026-06").status("theme_day") is None


def test_the_meetings_of_a_dissolved_branch_still_count_in_the_reviewers_table(county, people, signed_in):
    """南村 held its 主题党日 in January and was dissolved on 2026-01-31: January met, nothing else asked."""
    log(county.south, "theme_day", date(2026, 1, 10))
    set_dates(county.south, dissolved_on=date(2026, 1, 31))
    theme = year(county.south).status("theme_day")
    assert (theme.figure, theme.state) == ("1/1", compliance.MET)
    page = signed_in(people.town_reviewer).get(
        reverse("branches:compliance", args=[county.town.pk]), {"period": "2026"}
    )
    assert "南村支部" in page.content.decode()


# --- the committee, month by month -----------------------------------------------------------


def test_a_committee_elected_on_1_april_owes_committee_meetings_from_april(county):
    """Three committee posts from 2026-04-01: 支委会 owed April–December (9), not before."""
    elect(county.east, date(2026, 4, 1))
    status = year(county.east).status("committee_meeting")
    assert (status.required, months_judged(status)) == (9, [4, 5, 6, 7, 8, 9, 10, 11, 12])
    assert year(county.east, span="2026-03").status("committee_meeting") is None


def test_a_committee_whose_terms_ended_keeps_its_meetings_and_owes_nothing_after(county):
    """Terms 2025-01-01 … 2026-06-30, a 支委会 held each month January–June: 6/6 met over the year;
    July to December not owed (before this rule read "today", and the held meetings vanished)."""
    elect(county.east, date(2025, 1, 1), date(2026, 6, 30))
    for month in range(1, 7):
        log(county.east, "committee_meeting", date(2026, month, 8))
    status = year(county.east).status("committee_meeting")
    assert (status.figure, status.state, months_judged(status)) == ("6/6", compliance.MET, [1, 2, 3, 4, 5, 6])
    assert year(county.east, span="2026-Q3").status("committee_meeting") is None


@pytest.mark.parametrize(
    "successor_starts, may_owed",
    [(date(2026, 5, 15), True), (date(2026, 5, 16), False)],
    ids=["replaced-the-next-day", "a-day-with-two"],
)
def test_a_committee_post_handed_over_keeps_the_month_only_without_a_gap(county, successor_starts, may_owed):
    """张三 serves until 2026-05-14; 李四 from 05-15 keeps three on every day of May; from 05-16, the 15th has two."""
    elect(county.east, date(2025, 1, 1), names=COMMITTEE[:2])
    elect(county.east, date(2025, 1, 1), date(2026, 5, 14), names=COMMITTEE[2:])
    elect(county.east, successor_starts, names=[("李四", Post.DISCIPLINE_MEMBER)])
    may = year(county.east, span="2026-05").status("committee_meeting")
    assert (may is not None) == may_owed
    assert year(county.east, span="2026-06").status("committee_meeting") is not None


# --- party groups ----------------------------------------------------------------------------


def test_a_party_group_founded_on_1_march_owes_from_march(county):
    """东村第一党小组 founded 2026-03-01: 党小组会 owed March–December, not January or February."""
    set_dates(county.group, founded_on=date(2026, 3, 1))
    status = year(county.east).status("group_meeting")
    assert months_judged(status) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]


def test_a_dissolved_party_group_keeps_its_missed_months(county):
    """A second group 东村第二党小组 dissolved 2026-09-30: each month January–September owes two group
    meetings (one per group); October on, one. The first group met every month; the second never did.
    Judged on 2026-11-30 (December has not begun)."""
    second = services.organization_create(
        parent=county.east,
        kind=OrganizationKind.PARTY_GROUP,
        data={"code": "T-E-1-G2", "name": "东村第二党小组", "sector": "village"},
        by=system(),
    )
    for month in range(1, 12):
        log(county.east, "group_meeting", date(2026, month, 6), group=county.group)
    services.organization_dissolve(organization=second, on=date(2026, 9, 30), reason="合并", by=system())
    counts = year(county.east, today=date(2026, 11, 30)).status("group_meeting").counts
    assert [(c.held, c.required) for c in counts] == [(1, 2)] * 9 + [(1, 1)] * 2
    assert [c.state for c in counts] == [compliance.NOT_MET] * 9 + [compliance.MET] * 2


# --- time, and rule versions -----------------------------------------------------------------


def test_a_meeting_at_2330_on_31_march_counts_for_march_and_one_at_0010_on_1_april_for_april(county):
    """Beijing time decides: 23:30 on 31 March is March and Q1; 00:10 on 1 April (16:10 UTC on 31 March) is April, Q2."""
    log(county.east, "general_meeting", datetime(2026, 3, 31, 23, 30, tzinfo=SHANGHAI))
    log(county.east, "theme_day", datetime(2026, 3, 31, 16, 10, tzinfo=ZoneInfo("UTC")))
    assert year(county.east, span="2026-Q1").status("general_meeting").held == 1
    assert year(county.east, span="2026-Q2").status("general_meeting").held == 0
    assert year(county.east, span="2026-03").status("theme_day").held == 0
    assert year(county.east, span="2026-04").status("theme_day").held == 1
    assert year(county.east, span="2026-Q2").status("theme_day").held == 1


def test_a_rule_changed_from_1_january_2027_leaves_2026_judged_by_the_old_one(county):
    """24 study sessions a year, changed to 30 on 2026-11-30: from 2027-01-01; 2026 still requires 24."""
    rule = MeetingRequirement.objects.get(meeting_type="study_session", sector="")
    successor = services.requirement_change(
        requirement=rule, data={"minimum": 30}, today=date(2026, 11, 30), by=system()
    )
    assert successor.effective_from == date(2027, 1, 1)
    assert year(county.east).status("study_session").required == 24
    assert year(county.east, today=date(2027, 3, 1), span="2027").status("study_session").required == 30


# --- the secretary's page of a dissolved branch ------------------------------------------------


def test_a_dissolved_branchs_secretary_reads_its_records_and_is_asked_for_nothing(county, people, signed_in, make_user):
    log(county.south, "theme_day", date(2026, 5, 10))
    secretary = make_user("south_secretary", "secretary", county.south)
    set_dates(county.south, dissolved_on=date(2026, 6, 15))
    client = signed_in(secretary)
    page = client.get(reverse("branches:meetings_owed", args=[county.south.pk])).content.decode()
    assert "本支部已于2026-06-15撤销" in page
    assert "owed-card" not in page and "登记会议" not in page
    assert compliance.owed(county.south, date(2026, 11, 30)).statuses == {}
    meeting = Meeting.objects.get(organization=county.south)
    assert client.get(reverse("branches:meetings", args=[county.south.pk])).status_code == 200
    assert client.get(reverse("branches:meeting", args=[meeting.pk])).status_code == 200
    assert client.get(reverse("branches:meeting_add", args=[county.south.pk])).status_code == 404
    assert client.get(reverse("branches:meeting_edit", args=[meeting.pk])).status_code == 404


# --- meetings stay consistent, whatever edits them ---------------------------------------------


def test_changing_a_meetings_time_in_the_admin_moves_it_to_its_new_month(county, people, signed_in):
    meeting = log(county.east, "theme_day", datetime(2026, 3, 31, 23, 30, tzinfo=SHANGHAI))
    client = signed_in(people.admin)
    url = reverse("admin:branches_meeting_change", args=[meeting.pk])
    form = {
        "held_at": "2026-04-01T00:10",
        "place": meeting.place,
        "host": meeting.host,
        "topic": meeting.topic,
        "minutes": meeting.minutes,
    }
    assert client.post(url, form).status_code == 302
    meeting.refresh_from_db()
    assert meeting.held_on == date(2026, 4, 1) and meeting.organization_id == county.east.pk
    assert year(county.east, span="2026-03").status("theme_day").held == 0
    assert year(county.east, span="2026-04").status("theme_day").held == 1
    assert meeting.updated_by == people.admin


def test_the_admin_refuses_a_time_before_a_member_joined_and_keeps_the_meeting(county, people, signed_in):
    """张三 joined on 2026-03-01: moving a meeting he attended to February needs his attendance taken again."""
    meeting = log(county.east, "theme_day", date(2026, 3, 10))
    response = signed_in(people.admin).post(
        reverse("admin:branches_meeting_change", args=[meeting.pk]),
        {"held_at": "2026-02-10T09:00", "place": "村部", "host": "张一", "topic": "学习"},
    )
    assert response.status_code == 200 and "重新登记出席情况" in response.content.decode()
    meeting.refresh_from_db()
    assert meeting.held_on == date(2026, 3, 10)


def test_the_admin_moves_a_committee_meeting_whose_attendance_is_the_committee(county, people, signed_in):
    """A 支委会 expects the committee, not the whole branch: moving it to a day with the same committee is fine."""
    for name, post in (("张一", "secretary"), ("张二", "organization_member")):
        cadre = add_cadre(county.east, name, post, date(2024, 1, 1))
        cadre.member = Member.objects.get(name=name)
        cadre.save()
    meeting = log(county.east, "committee_meeting", date(2026, 3, 10))
    assert meeting.expected_count == 2
    response = signed_in(people.admin).post(
        reverse("admin:branches_meeting_change", args=[meeting.pk]),
        {"held_at": "2026-03-12T09:00", "place": "村部", "host": "张一", "topic": "学习"},
    )
    assert response.status_code == 302
    meeting.refresh_from_db()
    assert meeting.held_on == date(2026, 3, 12) and meeting.expected_count == 2


def test_the_admin_cannot_move_a_meeting_to_another_branch(county, people, signed_in):
    meeting = log(county.east, "theme_day", date(2026, 3, 10))
    client = signed_in(people.admin)
    url = reverse("admin:branches_meeting_change", args=[meeting.pk])
    form = {"organization": county.south.pk, "meeting_type": "theme_day", "held_at": "2026-03-10T09:00"}
    client.post(url, {**form, "place": "村部", "host": "张一", "topic": "学习改"})
    meeting.refresh_from_db()
    assert meeting.organization_id == county.east.pk and meeting.topic == "学习改"


def test_a_meeting_saved_any_way_takes_its_date_from_its_time_in_beijing(county):
    meeting = log(county.east, "theme_day", date(2026, 3, 10))
    meeting.held_at = datetime(2026, 4, 30, 16, 30, tzinfo=ZoneInfo("UTC"))  # 00:30 on 1 May in Beijing
    meeting.save(update_fields=["held_at"])
    assert Meeting.objects.get(pk=meeting.pk).held_on == date(2026, 5, 1)


def test_a_transfer_recorded_after_a_meeting_takes_the_member_off_its_attendance(county):
    """张二 attends on 2026-10-08 and 2026-10-20; his transfer from 2026-10-15 is recorded later:
    the meeting of the 20th no longer expects him (3 → 2), the one of the 8th still does."""
    before = log(county.east, "theme_day", date(2026, 10, 8))
    after = log(county.east, "general_meeting", date(2026, 10, 20), present=["张一", "张三"])
    zhang_er = Member.objects.get(name="张二")
    services.member_save(
        organization=county.east,
        member=zhang_er,
        data={"status": MemberStatus.TRANSFERRED_OUT, "left_on": date(2026, 10, 15)},
        by=system(),
    )
    after.refresh_from_db()
    before.refresh_from_db()
    assert (after.expected_count, after.present_count) == (2, 2)
    assert not Attendance.objects.filter(meeting=after, member=zhang_er).exists()
    assert (before.expected_count, before.present_count) == (3, 3)
    entries = AuditEntry.objects.filter(content_type__model="meeting", object_pk=str(after.pk))
    [entry] = [e for e in entries if (e.changes or {}).get("expected_count") == [3, 2]]
    assert "张二" in entry.changes["attendance"][0] and "张二" not in entry.changes["attendance"][1]


# --- bad input: a clear Chinese message, nothing saved -----------------------------------------


def test_a_membership_cannot_end_before_it_starts(county):
    zhang_san = Member.objects.get(name="张三")  # joined 2026-03-01
    with pytest.raises(ValidationError) as refused:
        services.member_save(
            organization=county.east,
            member=zhang_san,
            data={"status": MemberStatus.TRANSFERRED_OUT, "left_on": date(2026, 2, 1)},
            by=system(),
        )
    assert refused.value.message_dict["left_on"] == ["离开本支部日期不能早于转入本支部日期。"]
    assert Member.objects.get(pk=zhang_san.pk).left_on is None


def test_a_party_group_cannot_be_dissolved_before_it_was_founded(county):
    set_dates(county.group, founded_on=date(2026, 3, 1))
    with pytest.raises(ValidationError) as refused:
        services.organization_dissolve(organization=county.group, on=date(2026, 2, 1), reason="合并", by=system())
    assert refused.value.message_dict["on"] == ["撤销日期不能早于成立日期。"]
    assert Organization.objects.get(pk=county.group.pk).is_active


def test_an_organization_cannot_be_dissolved_before_a_meeting_it_held(county):
    log(county.south, "theme_day", date(2026, 5, 20))
    Member.objects.filter(organization=county.south).update(status="transferred_out", left_on=date(2026, 6, 1))
    with pytest.raises(ValidationError) as refused:
        services.organization_dissolve(organization=county.south, on=date(2026, 5, 19), reason="合并", by=system())
    assert "2026年5月20日" in refused.value.message_dict["on"][0]
    assert Organization.objects.get(pk=county.south.pk).is_active
    services.organization_dissolve(
        organization=county.south, on=date(2026, 5, 20), reason="合并", by=system()
    )  # its last day


def test_a_party_group_cannot_be_dissolved_before_a_meeting_it_held(county):
    log(county.east, "group_meeting", date(2026, 9, 10), group=county.group)
    with pytest.raises(ValidationError) as refused:
        services.organization_dissolve(organization=county.group, on=date(2026, 9, 1), reason="合并", by=system())
    assert "2026年9月10日" in refused.value.message_dict["on"][0]


def test_a_requirement_version_cannot_start_inside_a_quarter(db):
    version = MeetingRequirement(
        meeting_type="general_meeting", period="quarter", minimum=2, effective_from=date(2027, 2, 1)
    )
    with pytest.raises(ValidationError) as refused:
        version.full_clean()
    assert "effective_from" in refused.value.message_dict


# --- query counts ------------------------------------------------------------------------------


@pytest.mark.parametrize("branches", [2, 30])
def test_the_year_table_over_changing_facts_takes_a_fixed_number_of_queries(
    county, people, signed_in, django_assert_max_num_queries, branches
):
    """Branches founded and dissolved in the year, groups founded late, committees elected mid-year:
    the reviewer's table reads the same number of queries for 2 branches as for 30."""
    for n in range(branches):
        branch = services.organization_create(
            parent=county.town,
            kind="branch",
            data={"code": f"Y-{n}", "name": f"年村{n}", "sector": "village", "founded_on": date(2026, 1 + n % 6, 1)},
            by=system(),
        )
        services.organization_create(
            parent=branch,
            kind="party_group",
            data={
                "code": f"Y-{n}-1",
                "name": f"年村{n}第一党小组",
                "sector": "village",
                "founded_on": date(2026, 4, 1),
            },
            by=system(),
        )
        add_member(branch, f"年党员{n}", joined=date(2026, 6, 1))
        elect(branch, date(2026, 5, 1), names=[(f"干部{n}-{k}", post) for k, (_name, post) in enumerate(COMMITTEE)])
        log(branch, "theme_day", date(2026, 7, 3))
    client = signed_in(people.reviewer)
    url = reverse("branches:compliance", args=[county.root.pk])
    # A branch table is ranked and paged in SQL, its cells read in one query (no rule version read); a committee
    # table sums up its branches.
    for query, most in (
        ({"period": "2026"}, 10),
        ({"period": "2026-Q3"}, 10),
        ({"period": "2026", "kind": "primary_committee"}, 12),
    ):
        with django_assert_max_num_queries(most):
            assert client.get(url, query).status_code == 200


def test_the_reminder_job_asks_a_branch_founded_mid_month_nothing_for_that_month(county, people):
    """东村 founded 2026-11-10: November is not owed, so on 3 December no 主题党日 is overdue for it."""
    from portal.models import Notification, NotificationKind, ReminderRule, Timing, Topic
    from portal.services import reminders_send

    ReminderRule.objects.all().delete()
    ReminderRule.objects.create(topic=Topic.MEETING, timing=Timing.OVERDUE, days=7)
    set_dates(county.east, founded_on=date(2026, 11, 10))
    reminders_send(today=date(2026, 12, 3))
    overdue = Notification.objects.filter(recipient=people.secretary, kind=NotificationKind.MEETING_OVERDUE)
    assert not overdue.filter(subject__contains="theme_day").exists()


def test_the_reminder_job_asks_a_branch_dissolved_last_month_nothing(county, people):
    """东村 dissolved 2026-11-30 with its November unmet: on 3 December its secretary is reminded of nothing."""
    from portal.models import Notification, ReminderRule, Timing, Topic
    from portal.services import reminders_send

    ReminderRule.objects.all().delete()
    ReminderRule.objects.create(topic=Topic.MEETING, timing=Timing.OVERDUE, days=7)
    set_dates(county.east, dissolved_on=date(2026, 11, 30))
    reminders_send(today=date(2026, 12, 3))
    assert not Notification.objects.filter(organization=county.east).exists()
    assert not Notification.objects.filter(recipient=people.secretary).exists()


def test_the_reviewers_table_shows_a_month_before_founding_as_not_applicable(county, people, signed_in):
    """南村 founded 2026-07-15: in the table of July its 主题党日 cell reads 不适用, never 未达标."""
    set_dates(county.south, founded_on=date(2026, 7, 15))
    log(county.east, "theme_day", date(2026, 7, 3))
    page = signed_in(people.town_reviewer).get(
        reverse("branches:compliance", args=[county.town.pk]), {"period": "2026-07"}
    )
    row = page.content.decode().split("南村支部")[1].split("</tr>")[0]
    # 党小组会 (南村 has no group) and 主题党日 (July is not owed); the quarter and the year are judged
    assert row.count('data-state="not_applicable"') == 2 and "不适用" in row
    july = compliance.for_span([county.south], periods.parse("2026-07"), date(2026, 11, 30))[0]
    assert july.status("theme_day") is None
