"""Month summaries: what every table reads, kept current by the services and rebuilt from the records.

Drawn on the county of tests/conftest.py: 东村支部 (张一, 张二, 张三; group 东村第一党小组 holds 张一),
南村支部 (李一), 县财政局支部 (王一).
"""

from datetime import date, datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Max, Q
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from branches import compliance, periods, results, selectors, services, standings, summaries
from branches.models import (
    ComplianceResult,
    ComplianceSetting,
    Meeting,
    MeetingRequirement,
    Member,
    MemberStatus,
    MonthSummary,
    Organization,
    OrganizationKind,
    Post,
    SummaryRun,
)
from tests.conftest import add_member, system


def held_at(day, hour=9):
    """That day at `hour`, Beijing time; today before that hour: its first minute (a meeting is never ahead)."""
    moment = timezone.make_aware(datetime.combine(day, time(hour)))
    return min(moment, timezone.make_aware(datetime.combine(day, time(0)))) if moment > timezone.now() else moment


def log(branch, day, meeting_type="theme_day", group=None, meeting=None, absent=()):
    """A meeting logged (or corrected) through the service, everyone expected present but `absent`."""
    expected = selectors.expected_on(branch, day, meeting_type, group)
    attendance = {m.pk: (False, "sick") if m.name in absent else (True, "") for m in expected}
    data = {"meeting_type": meeting_type, "held_at": held_at(day), "place": "村部", "host": "张一", "topic": "学习"}
    if group is not None:
        data["party_group"] = group
    saved, _warnings = services.meeting_save(
        organization=branch, data=data, attendance=attendance, meeting=meeting, by=system()
    )
    return saved


def summary(branch, month, meeting_type="theme_day"):
    row = MonthSummary.objects.filter(organization=branch, month=month, meeting_type=meeting_type, held__gt=0).first()
    return row and (row.held, row.expected, row.present)


def in_step():
    """The summaries hold exactly what the records say, counted both ways (SQL aggregate and row by row)."""
    stored = summaries.stored()
    assert stored == summaries.recomputed()
    assert stored == summaries._counted(Meeting.objects.all())
    return stored


@pytest.fixture
def today():
    return timezone.localdate()


@pytest.fixture
def last_month(today):
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


def test_a_logged_meeting_is_in_its_months_summary_at_once(county, last_month):
    log(county.east, last_month + timedelta(days=4), absent={"张二"})
    assert summary(county.east, last_month) == (1, 3, 2)
    in_step()


def test_a_meeting_corrected_into_another_month_leaves_the_old_month(county, last_month):
    meeting = log(county.east, last_month + timedelta(days=4))
    earlier = (last_month - timedelta(days=1)).replace(day=1)
    log(county.east, earlier + timedelta(days=9), meeting=meeting)
    assert summary(county.east, last_month) is None
    assert summary(county.east, earlier) == (1, 3, 3)
    in_step()


def test_a_deleted_meeting_no_longer_counts_in_the_reviewers_table(county, last_month):
    meeting = log(county.east, last_month + timedelta(days=4))
    span = periods.span_of("month", last_month)
    assert compliance.for_span([county.east], span, last_month)[0].status("theme_day").held == 1
    services.meeting_delete(meeting=meeting, by=system())
    assert summary(county.east, last_month) is None
    assert compliance.for_span([county.east], span, last_month)[0].status("theme_day").held == 0
    in_step()


def test_a_member_recorded_as_gone_before_a_meeting_is_no_longer_expected_in_its_summary(county, last_month):
    log(county.east, last_month + timedelta(days=20), absent={"张二"})
    zhang_er = Member.objects.get(name="张二")
    services.member_save(
        organization=county.east,
        member=zhang_er,
        data={"status": MemberStatus.TRANSFERRED_OUT, "left_on": last_month + timedelta(days=2)},
        by=system(),
    )
    assert summary(county.east, last_month) == (1, 2, 2)
    in_step()


def test_a_party_group_meeting_is_summarized_for_its_group(county, last_month):
    log(county.east, last_month + timedelta(days=3), "group_meeting", group=county.group)
    row = MonthSummary.objects.get(organization=county.east, month=last_month)
    assert (row.party_group, row.held, row.expected) == (county.group.pk, 1, 1)
    in_step()


def test_moving_and_dissolving_a_branch_keep_its_summaries_in_step(county, last_month, today):
    log(county.south, last_month + timedelta(days=3))
    services.organization_move(organization=county.south, new_parent=county.organs, by=system())
    south = Organization.objects.get(pk=county.south.pk)
    li_yi = Member.objects.get(name="李一")
    services.member_save(
        organization=south, member=li_yi, data={"status": MemberStatus.TRANSFERRED_OUT, "left_on": today}, by=system()
    )
    services.organization_dissolve(organization=south, on=today, reason="合并", by=system())
    assert summary(county.south, last_month) == (1, 1, 1)
    assert summaries.rebuild() == 0
    organs = compliance.for_span([south], periods.span_of("month", last_month), today, within=county.organs)
    assert organs[0].status("theme_day").held == 1


def test_a_meeting_logged_more_than_the_set_days_late_counts_as_late_and_the_days_are_data(county, people, today):
    held = today - timedelta(days=10)
    log(county.east, held)
    assert MonthSummary.objects.get(organization=county.east).logged_late == 1  # 10 days > 7
    services.compliance_setting_save(data={"late_log_days": 14}, by=people.admin)
    assert ComplianceSetting.current().late_log_days == 14
    assert MonthSummary.objects.get(organization=county.east).logged_late == 0
    in_step()


def test_only_an_admin_of_the_whole_tree_changes_the_late_days(county, people):
    with pytest.raises(services.PermissionDenied):
        services.compliance_setting_save(data={"late_log_days": 1}, by=people.town_reviewer)
    assert ComplianceSetting.current().late_log_days == 7


def test_a_record_logged_in_its_months_last_two_weeks_is_counted_as_such(county, last_month):
    meeting = log(county.east, last_month + timedelta(days=1))
    end = summaries.month_end(last_month)
    Meeting.objects.filter(pk=meeting.pk).update(logged_at=held_at(end - timedelta(days=3), 22))
    assert summaries.rebuild() == 1
    row = MonthSummary.objects.get(organization=county.east)
    assert (row.logged_late, row.logged_last_two_weeks) == (1, 1)
    Meeting.objects.filter(pk=meeting.pk).update(logged_at=held_at(end - timedelta(days=14), 22))
    summaries.rebuild()
    assert MonthSummary.objects.get(organization=county.east).logged_last_two_weeks == 0
    in_step()


def test_a_change_behind_the_services_back_is_found_as_drift_and_fixed(county, last_month):
    meeting = log(county.east, last_month + timedelta(days=4))
    log(county.south, last_month + timedelta(days=4))
    Meeting.objects.filter(pk=meeting.pk).update(present_count=0)
    MonthSummary.objects.filter(organization=county.south).delete()
    assert summaries.rebuild(within=county.east) == 1  # only the subtree asked for
    assert summaries.rebuild() == 1
    assert summaries.rebuild() == 0
    assert summary(county.east, last_month) == (1, 3, 0)


def test_a_first_build_into_an_empty_table_writes_every_row_as_the_records_say(county, last_month):
    log(county.east, last_month + timedelta(days=4))
    log(county.east, last_month + timedelta(days=6), "group_meeting", group=county.group)
    log(county.south, last_month + timedelta(days=5))
    expected = summaries.recomputed()
    MonthSummary.objects.all().delete()
    assert summaries.rebuild() == len(expected) == 3
    assert summaries.stored() == expected
    assert summaries.rebuild() == 0


def test_the_command_reports_the_drift_and_the_jobs_page_lists_the_run(county, people, signed_in, last_month, capsys):
    meeting = log(county.east, last_month + timedelta(days=4))
    Meeting.objects.filter(pk=meeting.pk).update(expected_count=9)
    call_command("rebuild_summaries", "--org", str(county.town.pk), "--year", str(last_month.year))
    assert "1" in capsys.readouterr().out
    run = SummaryRun.objects.get()
    assert (run.source, run.organization, run.year, run.drift) == ("command", county.town, last_month.year, 1)
    call_command("rebuild_summaries")
    assert SummaryRun.objects.order_by("-pk").first().drift == 0
    page = signed_in(people.admin).get(reverse("jobs")).content.decode()
    assert "中共东镇委员会" in page and "每日汇总重算" in page


def test_the_command_refuses_an_unknown_organization(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("rebuild_summaries", "--org", "999999")


def test_the_nightly_job_rebuilds_this_year_and_last_year_in_january(db):
    from portal import tasks

    assert [r["year"] for r in tasks.rebuild_summaries(today="2027-01-05")] == [2026, 2027]
    assert [r["year"] for r in tasks.rebuild_summaries(today="2027-06-05")] == [2027]
    assert SummaryRun.objects.filter(source="nightly", drift=0).count() == 3


def test_a_meeting_whose_type_the_page_changed_leaves_its_old_types_row(county, last_month):
    meeting = log(county.east, last_month + timedelta(days=4))
    meeting.meeting_type = "party_lecture"  # the page's form changes the instance before the service saves it
    log(county.east, last_month + timedelta(days=4), "party_lecture", meeting=meeting)
    assert summary(county.east, last_month, "theme_day") is None
    assert summary(county.east, last_month, "party_lecture") == (1, 3, 3)
    in_step()


def test_keeping_the_summaries_current_adds_at_most_three_queries_to_a_meeting_save(county, last_month, monkeypatch):
    """On PostgreSQL three in all: the branch locked (or the corrected meeting's old key read and its branch
    locked), its months recounted and written in one statement, the kept compliance results recounted from the
    summaries in another. Elsewhere the results re-judge the branch's year: a fixed few more."""

    def queries_of(day, meeting=None):
        with CaptureQueriesContext(connection) as queries:
            saved = log(county.east, day, meeting=meeting)
        return saved, len(queries)

    first, second = (last_month - timedelta(days=20)).replace(day=5), last_month + timedelta(days=4)
    log(county.south, first)  # caches filled (content types) before counting
    meeting, logging = queries_of(first)
    _meeting, correcting = queries_of(second, meeting)
    monkeypatch.setattr(results, "follow_meetings", lambda keys: None)
    other, logging_summaries = queries_of(first)
    _other, correcting_summaries = queries_of(second, other)
    monkeypatch.setattr(summaries, "refresh", lambda keys, locked=False: None)
    monkeypatch.setattr(summaries, "lock", lambda ids: None)
    monkeypatch.setattr(summaries, "stored_key", lambda meeting: None)
    alone, logging_alone = queries_of(first)
    _alone, correcting_alone = queries_of(second, alone)
    assert logging_summaries - logging_alone <= 3
    assert correcting_summaries - correcting_alone <= 3
    if connection.vendor == "postgresql":
        assert logging - logging_alone <= 3
        assert correcting - correcting_alone <= 3
    else:
        assert logging - logging_summaries <= 9  # the year standings read and written too
        assert correcting - correcting_summaries <= 9
    east = results.stored(last_month.year, within=county.east)
    assert any(row[1][3] and row[1][3][0][1] for row in east.items()), "the meetings show in the kept results"


@pytest.mark.parametrize("size", [3, 30])
def test_the_reviewers_judgment_reads_a_fixed_number_of_queries_whatever_the_tree(
    county, today, django_assert_max_num_queries, size
):
    for n in range(size):
        branch = services.organization_create(
            parent=county.town,
            kind="branch",
            data={"code": f"S-{n}", "name": f"村{n}", "sector": "village"},
            by=system(),
        )
        add_member(branch, f"党员{n}")
        log(branch, today)
    branches = list(Organization.objects.filter(kind="branch", path__startswith=county.root.path))
    with django_assert_max_num_queries(5):
        rows = compliance.for_span(branches, periods.span_of("year", today), today, within=county.root)
    assert sum(row.meetings for row in rows) == size


# --- after any sequence of changes, the summaries are what a rebuild from the records gives -------------------

TYPES = ["theme_day", "committee_meeting", "group_meeting", "party_lecture"]
operations = st.lists(
    st.one_of(
        st.tuples(st.just("log"), st.integers(0, 9), st.sampled_from(TYPES), st.integers(0, 420), st.booleans()),
        st.tuples(st.just("log"), st.integers(0, 9), st.sampled_from(TYPES), st.integers(0, 420), st.booleans()),
        st.tuples(st.just("log"), st.integers(0, 9), st.sampled_from(TYPES), st.integers(0, 420), st.booleans()),
        st.tuples(st.just("correct"), st.integers(0, 99), st.integers(0, 420)),
        st.tuples(st.just("correct"), st.integers(0, 99), st.integers(0, 420)),
        st.tuples(st.just("delete"), st.integers(0, 99)),
        st.tuples(st.just("join"), st.integers(0, 9), st.integers(0, 420)),
        st.tuples(st.just("leave"), st.integers(0, 99), st.integers(0, 420)),
        st.tuples(st.just("leave"), st.integers(0, 99), st.integers(0, 420)),
        st.tuples(st.just("group"), st.integers(0, 9)),
        st.tuples(st.just("end_group"), st.integers(0, 99), st.integers(0, 60)),
        st.tuples(st.just("committee"), st.integers(0, 9), st.integers(0, 420)),
        st.tuples(st.just("end_committee"), st.integers(0, 99), st.integers(0, 420)),
        st.tuples(st.just("found"), st.integers(0, 1)),
        st.tuples(st.just("move"), st.integers(0, 9), st.integers(0, 1)),
        st.tuples(st.just("dissolve"), st.integers(0, 9), st.integers(0, 60)),
        st.tuples(st.just("rule"), st.integers(0, 99), st.integers(1, 4)),
        st.tuples(st.just("elect"), st.integers(0, 9), st.integers(0, 2200)),
    ),
    min_size=1,
    max_size=15,
)


def _pick(items, index):
    items = list(items)
    return items[index % len(items)] if items else None


def _apply(county, operation, today):
    kind, *args = operation
    branches = list(Organization.objects.filter(path__startswith=county.root.path, kind="branch").order_by("pk"))
    parents = [county.town, county.organs]
    if kind == "log":
        branch, meeting_type, ago, absent = _pick(branches, args[0]), args[1], args[2], args[3]
        day = today - timedelta(days=ago)
        group = None
        if meeting_type == "group_meeting":
            group = _pick(Organization.objects.filter(path__startswith=branch.path, kind="party_group"), ago)
            if group is None:
                return
        names = {m.name for m in selectors.expected_on(branch, day, meeting_type, group)[:1]} if absent else set()
        log(branch, day, meeting_type, group=group, absent=names)
    elif kind == "correct":
        meeting = _pick(Meeting.objects.order_by("pk"), args[0])
        if meeting is not None:
            log(
                meeting.organization,
                today - timedelta(days=args[1]),
                meeting.meeting_type,
                meeting.party_group,
                meeting,
            )
    elif kind == "delete":
        meeting = _pick(Meeting.objects.order_by("pk"), args[0])
        if meeting is not None:
            services.meeting_delete(meeting=meeting, by=system())
    elif kind == "join":
        branch, joined = _pick(branches, args[0]), today - timedelta(days=args[1])
        services.member_save(
            organization=branch,
            data={
                "name": f"新{Member.objects.count()}",
                "gender": "female",
                "category": "full",
                "joined_party_on": joined,
            },
            by=system(),
        )
    elif kind == "leave":
        member = _pick(Member.objects.filter(left_on=None).order_by("pk"), args[0])
        if member is not None:
            left_on = max(member.joined_branch_on, today - timedelta(days=args[1]))
            data = {"status": MemberStatus.TRANSFERRED_OUT, "left_on": left_on}
            services.member_save(organization=member.organization, member=member, data=data, by=system())
    elif kind == "group":
        branch = _pick(branches, args[0])
        services.organization_create(
            parent=branch,
            kind=OrganizationKind.PARTY_GROUP,
            data={
                "code": f"{branch.code}-G{Organization.objects.count()}",
                "name": "新党小组",
                "sector": branch.sector,
            },
            by=system(),
        )
    elif kind in ("end_group", "dissolve"):
        of_kind = "party_group" if kind == "end_group" else "branch"
        org = _pick(
            Organization.objects.filter(path__startswith=county.root.path, kind=of_kind, dissolved_on=None), args[0]
        )
        if org is not None:
            last = Meeting.objects.filter(Q(organization=org) | Q(party_group=org)).aggregate(last=Max("held_on"))
            on = max(today - timedelta(days=args[1]), last["last"] or today, org.founded_on or today)
            for member in Member.objects.filter(organization=org, left_on=None):  # a branch's members go first
                data = {"status": MemberStatus.TRANSFERRED_OUT, "left_on": max(on, member.joined_branch_on)}
                services.member_save(organization=org, member=member, data=data, by=system())
            services.organization_dissolve(organization=org, on=on, reason="调整", by=system())
    elif kind == "committee":
        branch, start = _pick(branches, args[0]), today - timedelta(days=args[1])
        for post in (Post.SECRETARY, Post.ORGANIZATION_MEMBER, Post.PUBLICITY_MEMBER):
            services.cadre_save(
                organization=branch,
                data={"name": f"委员{post}", "post": post, "employment": "part_time", "term_start": start},
                by=system(),
            )
    elif kind == "end_committee":
        cadre = _pick(services.Cadre.objects.filter(term_end=None).order_by("pk"), args[0])
        if cadre is not None:
            end = max(cadre.term_start, today - timedelta(days=args[1]))
            services.cadre_save(organization=cadre.organization, cadre=cadre, data={"term_end": end}, by=system())
    elif kind == "found":
        parent = parents[args[0]]
        code = f"N-{Organization.objects.count()}"
        services.organization_create(
            parent=parent,
            kind="branch",
            data={"code": code, "name": f"新支部{code}", "sector": parent.sector},
            by=system(),
        )
    elif kind == "move":
        branch = _pick(branches, args[0])
        services.organization_move(organization=branch, new_parent=parents[args[1]], by=system())
    elif kind == "elect":
        branch = _pick(branches, args[0])
        services.committee_term_start(organization=branch, started_on=today - timedelta(days=args[1]), by=system())
    elif kind == "rule":
        rule = _pick(MeetingRequirement.objects.filter(effective_to=None).order_by("pk"), args[0])
        services.requirement_change(requirement=rule, data={"minimum": args[1]}, today=today, by=system())


def _judged(rows):
    return {
        row.organization.pk: (
            row.present,
            row.expected,
            row.meetings,
            {t: [(c.span, c.held, c.required) for c in s.counts] for t, s in row.statuses.items()},
        )
        for row in rows
    }


def _shown(rows):
    """What a table shows of the rows: per organization its attendance and each cell's state, figure and badge."""
    return {
        row.organization.pk: (
            row.present,
            row.expected,
            row.meetings,
            {t: (s.state, s.figure, str(s.judged_over)) for t, s in row.statuses.items()},
        )
        for row in rows
    }


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=operations)
def test_after_any_sequence_of_changes_the_summaries_equal_a_rebuild_from_the_records(county, steps):
    today = timezone.localdate()
    with transaction.atomic():
        for step in steps:
            try:
                with transaction.atomic():
                    _apply(county, step, today)
            except ValidationError:
                continue  # a change the service refuses writes nothing
            in_step()
            branches = list(Organization.objects.filter(path__startswith=county.root.path, kind="branch"))
            for kind in ("year", "quarter", "month"):
                span = periods.span_of(kind, today)
                via_summaries = compliance.judge(
                    branches, lambda p, s=span: periods.counting_spans(p, s, today), today, attendance_span=span
                )
                via_records = compliance.judge(
                    branches,
                    lambda p, s=span: periods.counting_spans(p, s, today),
                    today,
                    attendance_span=span,
                    from_records=True,
                )
                assert _judged(via_summaries) == _judged(via_records)
                # the kept results read back as the same rows, and the table's ranking agrees with them
                via_results = results.for_span(branches, span, today)
                assert _shown(via_results) == _shown(via_records)
                candidates = Organization.objects.filter(pk__in=[b.pk for b in branches])
                ranked = results.Ranking(candidates, span, today)[:]
                few = results.Ranking(candidates, span, today, few=True)[:]  # a small subtree's way, same order
                assert [o.pk for o in few] == [o.pk for o in ranked]
                by_id = {row.organization.pk: row for row in via_records}
                assert {o.pk: (o.rules_not_met, o.rules_in_progress) for o in ranked} == {
                    pk: (row.requirements_not_met, row.requirements_in_progress) for pk, row in by_id.items()
                }
            for year in (today.year - 1, today.year):
                again = results.recomputed(year, from_records=True)
                assert results.stored(year) == again.results
                assert results.stored_facts(year) == again.facts
                assert results.stored_standings(year) == results.standings_of(again.results, year)
        transaction.set_rollback(True)


def test_a_meeting_an_admin_deletes_in_the_admin_leaves_its_months_summary(county, people, signed_in, last_month):
    meeting = log(county.east, last_month + timedelta(days=4))
    other = log(county.east, last_month + timedelta(days=5))
    client = signed_in(people.admin)
    response = client.post(reverse("admin:branches_meeting_delete", args=[meeting.pk]), {"post": "yes"})
    assert response.status_code == 302 and not Meeting.objects.filter(pk=meeting.pk).exists()
    assert summary(county.east, last_month) == (1, 3, 3)
    changelist = reverse("admin:branches_meeting_changelist")
    client.post(changelist, {"action": "delete_selected", "_selected_action": [other.pk], "post": "yes"})
    assert summary(county.east, last_month) is None
    in_step()


@pytest.mark.parametrize("size", [2, 20])
def test_a_subtrees_rollup_adds_up_its_branches_in_one_query(county, last_month, django_assert_num_queries, size):
    for n in range(size):
        branch = services.organization_create(
            parent=county.town,
            kind="branch",
            data={"code": f"R-{n}", "name": f"村{n}", "sector": "village"},
            by=system(),
        )
        add_member(branch, f"党员{n}")
        log(branch, last_month + timedelta(days=2))
    log(county.finance, last_month + timedelta(days=2))  # outside the town
    with django_assert_num_queries(1):
        rollup = selectors.subtree_rollup(node=county.town, first_month=last_month, last_month=last_month)
    assert rollup["theme_day"]["held"] == size and rollup["theme_day"]["expected"] == size
    everything = selectors.subtree_rollup(node=county.root, first_month=last_month, last_month=last_month)
    assert everything["theme_day"]["held"] == size + 1


def test_kept_results_changed_behind_the_services_back_are_found_as_drift_and_fixed(county, last_month, today):
    log(county.east, last_month + timedelta(days=4))
    year = last_month.year
    before = results.stored(year)
    assert before == results.recomputed(year, from_records=True).results and before
    rows = ComplianceResult.objects.filter(start__year=year)
    first, second = rows.order_by("pk")[:2]
    ComplianceResult.objects.filter(pk=first.pk).update(unmet_start=None, unmet_end=None, spans=[])
    second.delete()
    assert results.rebuild(within=county.south, year=year) == 0  # neither row is under 南村
    assert results.rebuild(year=year) == 2
    assert results.rebuild(year=year) == 0
    assert results.stored(year) == before


def test_the_kept_cells_show_what_judging_shows_on_any_day_before_during_and_after_each_view(county, today):
    """Every view of the kept years read on days before it, in it (spans still to begin) and after it: the cells
    from the kept rows (their plain figures, or those of the spans begun) are the cells judged from the records."""
    year = today.year - 1
    for month, meeting_type in ((1, "theme_day"), (2, "theme_day"), (2, "committee_meeting"), (5, "general_meeting")):
        log(county.east, date(year, month, 10), meeting_type)
    log(county.finance, date(year, 4, 3), "party_lecture")
    Organization.objects.filter(pk=county.south.pk).update(founded_on=date(year, 3, 20))  # a partial first month
    results.rebuild(year=year)
    branches = list(Organization.objects.filter(kind="branch", path__startswith=county.root.path))
    some_running = 0
    for view in standings.views_of(year):
        for day in (
            view.start - timedelta(days=1),
            view.start,
            view.start + timedelta(days=40),
            view.end + timedelta(1),
        ):
            kept = results.for_span(branches, view, day)
            assert _shown(kept) == _shown(compliance.for_span(branches, view, day)), (view, day)
            some_running += view.start <= day <= view.end and view.kind != "month"
    assert some_running and any(row.statuses for row in kept)


def test_a_year_whose_results_are_not_kept_is_judged_from_the_summaries(county, today):
    old = periods.span_of("year", date(today.year - 3, 6, 1))
    branches = list(Organization.objects.filter(kind="branch", path__startswith=county.root.path))
    assert not results.covers(old)
    assert _judged(results.for_span(branches, old, today)) == _judged(compliance.for_span(branches, old, today))


def test_month_facts_say_when_the_branch_existed_its_committee_served_and_its_election_fell_overdue(county, today):
    """东村 founded 2025-03-10: April on exists; a committee of three elected 2025-06-15 serves from July; its
    term (elected 2020-06-15, five years) fell overdue after 2025-06-15 until the election of that day."""
    east = county.east
    Organization.objects.filter(pk=east.pk).update(founded_on=date(2025, 3, 10))
    services.committee_term_start(organization=east, started_on=date(2020, 6, 15), by=system())
    for post in (Post.SECRETARY, Post.ORGANIZATION_MEMBER, Post.PUBLICITY_MEMBER):
        services.cadre_save(
            organization=east,
            data={"name": f"委员{post}", "post": post, "employment": "part_time", "term_start": date(2025, 6, 15)},
            by=system(),
        )
    facts = {month.month: values for (org, month), values in results.stored_facts(2025).items() if org == east.pk}
    assert facts[3] == (False, False, "running")  # founded in March: not the whole month
    assert facts[4][:2] == (True, False)
    assert facts[6][:2] == (True, False) and facts[7][:2] == (True, True)
    assert facts[5][2] == "running"  # due 2025-06-15: not yet overdue at the end of May
    services.committee_term_start(organization=east, started_on=date(2025, 8, 20), by=system())
    facts = {month.month: values for (org, month), values in results.stored_facts(2025).items() if org == east.pk}
    assert [facts[m][2] for m in (6, 7, 8, 9)] == ["overdue", "overdue", "running", "running"]
    assert results.stored_facts(2025) == results.recomputed(2025).facts


def test_a_rule_added_or_removed_is_followed_by_the_kept_results_at_once(county, today):
    """A new rule for 党课 (two a month) judged from this January: the kept results hold it at once; removed again
    (it is not in force yet when it starts next year), they drop it."""
    year = today.year
    rule = services.requirement_save(
        requirement=MeetingRequirement(
            meeting_type="party_lecture", period="month", minimum=2, effective_from=date(year, 1, 1)
        ),
        by=system(),
    )
    kept = results.stored(year)
    assert any(key[1] == "party_lecture" for key in kept) and kept == results.recomputed(year).results
    later = services.requirement_save(
        requirement=MeetingRequirement(
            meeting_type="party_lecture", period="month", minimum=3, effective_from=date(year + 1, 1, 1)
        ),
        by=system(),
    )
    MeetingRequirement.objects.filter(pk=rule.pk).update(effective_to=date(year, 12, 31))
    with pytest.raises(ValidationError):
        services.requirement_delete(requirement=rule, by=system())  # it has judged this year
    services.requirement_delete(requirement=later, by=system())
    assert not MeetingRequirement.objects.filter(pk=later.pk).exists()
    assert results.stored(year) == results.recomputed(year).results


def test_a_views_ranking_on_any_day_counts_what_the_judgment_of_that_day_says(county, today):
    """The standings are kept per state of each view (year, quarters, months); on every day around the year
    (before it, the first and last day of each month, after it) each view's ranking counts what the judgment of
    that day from the records says."""
    year = today.year
    log(county.east, date(year, 2, 10))  # one month met: the rest of the year not met or in progress
    log(county.south, date(year, 1, 12))
    log(county.south, date(year, 2, 12), meeting_type="general_meeting")
    log(county.finance, date(year, 3, 3), meeting_type="party_lecture")
    branches = list(Organization.objects.filter(path__startswith=county.root.path, kind="branch"))
    candidates = Organization.objects.filter(pk__in=[b.pk for b in branches])
    days = [date(year - 1, 12, 20), date(year + 1, 1, 10)]
    for month in range(1, 13):
        first = date(year, month, 1)
        days += [first, periods.span_of("month", first).end]
    views = [periods.span_of("year", date(year, 1, 1))]
    views += [periods.span_of("quarter", date(year, month, 1)) for month in (1, 4, 10)]
    views += [periods.span_of("month", date(year, month, 1)) for month in (1, 2, 3, 5, 12)]
    seen = set()
    for span in views:
        for day in days:
            judged = compliance.judge(
                branches,
                lambda p, d=day, s=span: periods.counting_spans(p, s, d),
                day,
                attendance_span=span,
                from_records=True,
            )
            expected = {row.organization.pk: (row.requirements_not_met, row.requirements_in_progress) for row in judged}
            ranked = results.Ranking(candidates, span, day)[:]
            assert {o.pk: (o.rules_not_met, o.rules_in_progress) for o in ranked} == expected, (span, day)
            few = results.Ranking(candidates, span, day, few=True)[:]  # a small subtree's columns, from the same rows
            assert results.Ranking.judged_types(few) == {t for row in judged for t in row.statuses}, (span, day)
            seen.add(tuple(sorted(expected.values())))
    assert len(seen) > 3, "the counts change over the year"
    assert results.stored_standings(year) == results.standings_of(results.recomputed(year).results, year)


def test_a_small_subtrees_columns_are_the_types_judged_in_the_view_from_its_standings(county, people, signed_in, today):
    """东村第一党小组 founded on 1 February: 东村支部's own table (a small subtree, its columns read with the ranking
    from the standings) has no 党小组会 column for January and has one for February; the columns are the types
    the records' judgment gives, and the same the large subtrees' way finds on the same organizations."""
    from tests.branches.test_compliance_over_time import set_dates

    year = today.year
    set_dates(county.group, founded_on=date(year, 2, 1))
    client = signed_in(people.reviewer)
    url = reverse("branches:compliance", args=[county.east.pk])
    for month, has_group_column in ((1, False), (2, True)):
        span = periods.span_of("month", date(year, month, 1))
        response = client.get(url, {"period": span.key})
        columns = {meeting_type.value for meeting_type, _over in response.context["columns"]}
        assert ("group_meeting" in columns) is has_group_column
        judged = compliance.judge(
            [county.east], lambda p, s=span: periods.counting_spans(p, s, today), today, from_records=True
        )
        assert columns == set(judged[0].statuses)
        candidates = Organization.objects.filter(pk=county.east.pk)
        few = results.Ranking(candidates, span, today, few=True)[:]
        assert results.Ranking.judged_types(few) == columns
        assert results.types_judged(county.east, span, today, "branch") == columns


def test_sqlites_bit_or_ors_the_types_as_postgresql_does_also_over_a_sliding_window():
    """`make run` serves SQLite, which has no bit_or: the portal adds one (branches.apps.BitOr)."""
    import sqlite3

    from branches.apps import BitOr

    db = sqlite3.connect(":memory:")
    db.create_window_function("bit_or", 1, BitOr)
    db.execute("CREATE TABLE t (n INTEGER, bits INTEGER)")
    db.executemany("INSERT INTO t VALUES (?, ?)", [(1, 1), (2, 4), (3, None), (4, 5), (5, 2)])
    assert db.execute("SELECT bit_or(bits) FROM t").fetchone() == (7,)
    assert db.execute("SELECT bit_or(bits) FROM t WHERE bits IS NULL").fetchone() == (None,)
    sliding = "SELECT bit_or(bits) OVER (ORDER BY n ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t ORDER BY n"
    assert [row[0] for row in db.execute(sliding)] == [1, 5, 4, 5, 7]


@pytest.mark.parametrize("sort", ["name", "-name", "code", "-code"])
def test_a_small_subtrees_table_sorted_by_name_or_code_keeps_its_columns_and_order(county, people, signed_in, sort):
    """Sorted by name or code, a small subtree's table pages with its standings too: the same columns as sorted by
    state, and the organizations in the order asked for."""
    client = signed_in(people.reviewer)
    url = reverse("branches:compliance", args=[county.root.pk])
    by_state = client.get(url, {"period": str(timezone.localdate().year)})
    response = client.get(url, {"period": str(timezone.localdate().year), "sort": sort})
    assert response.status_code == 200
    assert response.context["columns"] == by_state.context["columns"] != []
    field = sort.lstrip("-")
    expected = Organization.objects.filter(path__startswith=county.root.path, kind="branch").order_by(
        f"-{field}" if sort.startswith("-") else field, "path"
    )
    assert [row.organization.pk for row in response.context["page"].object_list] == [o.pk for o in expected]


def test_a_result_row_saved_with_its_spans_alone_gets_the_figures_the_engine_writes(county, last_month):
    """A row written one by one (a fixture, a repair by hand) with its spans and not its figure columns shows the
    same cell as the row the engine wrote: the figures are taken from the spans."""
    log(county.east, last_month + timedelta(days=4))
    written = ComplianceResult.objects.filter(organization=county.east, period="year").exclude(spans=[]).first()
    assert written is not None and written.required > 0
    fields = {name: getattr(written, name) for name in (*ComplianceResult.KEY, "first_judged", "unmet_start")}
    fields |= {"unmet_end": written.unmet_end, "spans": written.spans, "group_needs": written.group_needs}
    written.delete()

    again = ComplianceResult.objects.create(**fields)
    again.refresh_from_db()
    assert (again.counted, again.required, again.last_start) == (written.counted, written.required, written.last_start)
