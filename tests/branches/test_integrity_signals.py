"""Integrity signals (台账质量提示): planted habits are flagged with the records behind them, clean branches are not.

Over 2025, in the county of tests/conftest.py plus a few branches added here:
- 东村 copies its attendance list (张三 absent) five meetings running;
- 南村 logs most of its meetings a month late;
- 县财政局 writes its year up in its last fortnight (late as well, then);
- 西村 and 县审计局 hold meetings whose long minutes are nearly the same text, 西村 twice;
- 清水村 logs on time, writes its own minutes (two identical short ones), and varies who is absent;
- 满勤村 has everyone present at every meeting.
"""

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from branches import quality, services
from branches.models import (
    Attendance,
    IntegritySignal,
    IntegritySignalRun,
    Meeting,
    Organization,
    OrganizationKind,
    Role,
    Sector,
)
from branches.views.meetings import SIGNALS_PER_PAGE
from portal import tasks
from tests.conftest import add_member, system
from tests.portal.test_dashboard import elements, text_of

YEAR = 2025
BEIJING = ZoneInfo("Asia/Shanghai")
STOCK = "会议传达学习了上级关于加强基层党组织建设的文件精神，与会党员结合本村实际逐条对照检查，书记就下一阶段重点任务作了部署，明确了责任人和完成时限，要求全体党员发挥先锋模范作用。"  # noqa: E501


def words(seed, length=120):
    """Minutes of their own: characters drawn at random, so no two share much."""
    pool = "党组织建设学习会议精神落实责任整改群众服务发展党员教育管理监督工作计划总结交流讨论研究部署检查考核评议"
    rng = random.Random(seed)
    return "".join(rng.choice(pool) for _ in range(length))


def meeting(branch, month, *, day=10, logged=None, minutes=None, present=None):
    """A meeting of `branch` held on `month`/`day` of YEAR, logged the next day unless `logged` says when;
    `present`: {member: present} for its attendance list."""
    held_at = datetime(YEAR, month, day, 9, tzinfo=BEIJING)
    record = Meeting.objects.create(
        organization=branch,
        meeting_type="general_meeting",
        held_at=held_at,
        place="会议室",
        host="书记",
        topic=f"第{month}次会议",
        minutes=minutes if minutes is not None else words(f"{branch.pk}-{month}-{day}"),
        logged_at=logged or held_at + timedelta(days=1),
    )
    for member, here in (present or {}).items():
        Attendance.objects.create(meeting=record, member=member, present=here, absence_reason="" if here else "sick")
    return record


def branch(parent, code, name):
    return services.organization_create(
        parent=parent,
        kind=OrganizationKind.BRANCH,
        data={"code": code, "name": name, "sector": Sector.VILLAGE},
        by=system(),
    )


@pytest.fixture
def planted(county):
    p = type("Planted", (), {})()
    p.county = county
    # 东村: the same list five times running (张三 absent), then a different one.
    zhang = {m.name: m for m in county.east.members.all()}
    same = {zhang["张一"]: True, zhang["张二"]: True, zhang["张三"]: False}
    p.copied_lists = [meeting(county.east, month, present=same) for month in range(1, 6)]
    meeting(county.east, 6, present={**same, zhang["张三"]: True})
    # 南村: four of six logged a month after the meeting.
    p.late = [
        meeting(county.south, month, logged=datetime(YEAR, month + 1, 12, tzinfo=BEIJING)) for month in (1, 3, 5, 7)
    ]
    for month in (9, 11):
        meeting(county.south, month)
    # 县财政局: seven of nine meetings logged between 20 and 28 December.
    p.crammed = [
        meeting(county.finance, month, logged=datetime(YEAR, 12, 20 + month, 15, tzinfo=BEIJING))
        for month in range(1, 8)
    ]
    for month in (9, 11):
        meeting(county.finance, month)
    # 西村 (under the town) and 县审计局 (under the organs' committee): the same minutes, a few words changed.
    p.west = branch(county.town, "T-E-3", "西村支部")
    p.audit = branch(county.organs, "T-J-2", "县审计局支部")
    p.west_copies = [meeting(p.west, 2, minutes=STOCK), meeting(p.west, 8, minutes=STOCK.replace("本村", "我村"))]
    meeting(p.west, 5)
    p.audit_copy = meeting(p.audit, 4, minutes=STOCK.replace("书记", "支部书记"))
    meeting(p.audit, 10)
    # 清水村: on time, its own minutes (two short identical ones), a different member absent each time.
    p.clean = branch(county.town, "T-E-4", "清水村支部")
    people = [add_member(p.clean, name) for name in ("赵一", "赵二", "赵三", "赵四")]
    for month in range(1, 13):
        absent = people[month % len(people)]
        minutes = "学习了文件。" if month in (3, 4) else None
        meeting(p.clean, month, minutes=minutes, present={person: person != absent for person in people})
    # 满勤村: everyone present every time, logged within the week.
    p.full = branch(county.town, "T-E-5", "满勤村支部")
    everyone = [add_member(p.full, name) for name in ("钱一", "钱二", "钱三")]
    for month in range(1, 13):
        meeting(p.full, month, logged=datetime(YEAR, month, 16, tzinfo=BEIJING), present=dict.fromkeys(everyone, True))
    return p


def signals():
    return {
        (signal.organization_id, signal.kind): signal
        for signal in IntegritySignal.objects.filter(year=YEAR).order_by("pk")
    }


def ids(meetings):
    return [m.pk for m in meetings]


def test_each_planted_habit_is_flagged_with_the_records_behind_it_and_the_clean_branches_are_not(planted):
    counts = services.integrity_signals_refresh(by=system(), year=YEAR)

    found = signals()
    county = planted.county
    assert set(found) == {
        (county.east.pk, "same_attendance"),
        (county.south.pk, "late_logging"),
        (county.finance.pk, "late_logging"),
        (county.finance.pk, "cramming"),
        (planted.west.pk, "similar_minutes"),
        (planted.audit.pk, "similar_minutes"),
    }
    assert counts == {"late_logging": 2, "cramming": 1, "similar_minutes": 2, "same_attendance": 1}
    assert found[(county.east.pk, "same_attendance")].meetings == ids(planted.copied_lists)
    assert found[(county.south.pk, "late_logging")].meetings == ids(planted.late)
    assert str(found[(county.south.pk, "late_logging")].figure) == "0.6667"  # 4 of 6
    cramming = found[(county.finance.pk, "cramming")]
    assert cramming.meetings == ids(planted.crammed)
    assert str(cramming.figure) == "0.7778"  # 7 of 9
    # The copies inside 西村 and across to 县审计局, each with the meeting and organization it resembles.
    west = found[(planted.west.pk, "similar_minutes")]
    assert west.meetings == ids(planted.west_copies)
    first, second = planted.west_copies
    audit = planted.audit_copy
    assert {(mine, other, org) for mine, other, org, _score in west.others} == {
        (first.pk, second.pk, planted.west.pk),
        (first.pk, audit.pk, planted.audit.pk),
        (second.pk, first.pk, planted.west.pk),
    }  # the two copies each changed a few words: 0.77 alike, below the threshold
    assert all(float(score) >= 0.8 for *_ids, score in west.others)
    assert found[(planted.audit.pk, "similar_minutes")].meetings == [audit.pk]


def test_running_again_replaces_the_years_signals_and_one_that_no_longer_holds_disappears(planted):
    services.integrity_signals_refresh(by=system(), year=YEAR)
    first = {key: signal.meetings for key, signal in signals().items()}

    services.integrity_signals_refresh(by=system(), year=YEAR)
    assert {key: signal.meetings for key, signal in signals().items()} == first
    assert IntegritySignal.objects.count() == len(first)

    # 南村's late records turn out to have been logged on time after all (a correction of the records).
    for record in planted.late:
        Meeting.objects.filter(pk=record.pk).update(logged_at=record.held_at + timedelta(days=2))
    services.integrity_signals_refresh(by=system(), year=YEAR)
    assert (planted.county.south.pk, "late_logging") not in signals()
    assert len(signals()) == len(first) - 1


def test_a_subtree_refresh_replaces_its_own_signals_only_and_still_compares_minutes_across_the_tree(planted, people):
    services.integrity_signals_refresh(by=system(), year=YEAR)
    IntegritySignal.objects.filter(organization=planted.audit).update(figure="0.5")

    services.integrity_signals_refresh(by=people.town_reviewer, year=YEAR, root=planted.county.town)

    found = signals()
    west = found[(planted.west.pk, "similar_minutes")]
    assert planted.audit.pk in {org for *_ids, org, _score in west.others}  # outside the town, still compared
    assert str(found[(planted.audit.pk, "similar_minutes")].figure) == "0.5000"  # outside the town: left alone


def test_only_a_reviewer_of_the_subtree_or_an_admin_of_the_tree_refreshes_and_a_refusal_writes_nothing(planted, people):
    for actor, root in ((people.secretary, planted.county.east), (people.town_reviewer, None)):
        with pytest.raises(PermissionDenied):
            services.integrity_signals_refresh(by=actor, year=YEAR, root=root)
    with pytest.raises(ValidationError):
        services.integrity_signals_refresh(by=system(), year=1800)
    assert not IntegritySignal.objects.exists()
    assert not IntegritySignalRun.objects.exists()  # a refusal is no run


def test_the_nightly_job_is_scheduled_and_in_january_recomputes_the_year_just_ended_too(planted):
    schedule = PeriodicTask.objects.get(task=tasks.refresh_integrity_signals.name)
    assert schedule.enabled and (schedule.crontab.hour, schedule.crontab.minute) == ("4", "0")

    done = tasks.refresh_integrity_signals.apply(kwargs={"today": f"{YEAR + 1}-01-05"}).get()

    assert done[str(YEAR)] == {"late_logging": 2, "cramming": 1, "similar_minutes": 2, "same_attendance": 1}
    assert sum(done[str(YEAR + 1)].values()) == 0
    assert IntegritySignal.objects.filter(year=YEAR).count() == 6


def test_the_command_recomputes_a_year(planted):
    call_command("refresh_integrity_signals", "--year", str(YEAR), stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert IntegritySignal.objects.filter(year=YEAR).count() == 6
    assert IntegritySignalRun.objects.get().state == IntegritySignalRun.State.OK


# ----------------------------------------------------------------------------------------------- the runs


def test_each_refresh_is_recorded_with_what_it_scanned_and_found(planted, people):
    tasks.refresh_integrity_signals.apply(kwargs={"today": f"{YEAR + 1}-01-05"}).get()

    runs = {run.year: run for run in IntegritySignalRun.objects.all()}
    assert set(runs) == {YEAR, YEAR + 1}
    run = runs[YEAR]
    assert run.state == IntegritySignalRun.State.OK and run.organization is None and not run.error
    assert run.started_at <= run.finished_at
    assert run.counts == {"late_logging": 2, "cramming": 1, "similar_minutes": 2, "same_attendance": 1}
    assert run.found == 6 and run.organizations == Organization.objects.count()
    assert (runs[YEAR + 1].state, runs[YEAR + 1].found) == (IntegritySignalRun.State.OK, 0)

    services.integrity_signals_refresh(by=people.town_reviewer, year=YEAR, root=planted.county.town)
    town = IntegritySignalRun.objects.filter(organization=planted.county.town).get()
    assert town.organizations == Organization.objects.filter(path__startswith=planted.county.town.path).count()
    assert town.found == 3  # 东村, 南村, 西村


def test_a_failed_refresh_is_recorded_as_failed_with_its_error_and_keeps_the_years_signals(planted, monkeypatch):
    services.integrity_signals_refresh(by=system(), year=YEAR)

    def broken(year, root=None):
        raise RuntimeError("the minutes could not be read")

    monkeypatch.setattr(quality, "find", broken)
    with pytest.raises(RuntimeError):
        services.integrity_signals_refresh(by=system(), year=YEAR)

    failed = IntegritySignalRun.objects.order_by("-pk").first()
    assert failed.state == IntegritySignalRun.State.FAILED and failed.finished_at is not None
    assert "the minutes could not be read" in failed.error and failed.found == 0
    assert IntegritySignal.objects.filter(year=YEAR).count() == 6  # the run before it still holds


# ----------------------------------------------------------------------------------------------- the page and tile


def page_of(client, user, organization, **query):
    client.force_login(user)
    return client.get(reverse("branches:integrity_signals", args=[organization.pk]), query)


def test_the_page_lists_the_subtrees_signals_with_their_records_and_says_they_are_no_penalty(planted, people, client):
    services.integrity_signals_refresh(by=system(), year=YEAR)

    response = page_of(client, people.town_reviewer, planted.county.town, year=YEAR)

    assert response.status_code == 200
    page = response.content.decode()
    county = planted.county
    assert {(int(attrs["data-org"]), attrs["data-kind"]) for attrs, _text in elements(page, data_signal=None)} == {
        (county.east.pk, "same_attendance"),
        (county.south.pk, "late_logging"),
        (planted.west.pk, "similar_minutes"),
    }  # 县财政局 and 县审计局 lie outside the town
    assert "不作扣分依据" in text_of(page, data_note=None)
    east = elements(page, data_meeting=None, data_of=str(county.east.pk))
    assert [int(attrs["data-meeting"]) for attrs, _text in east] == ids(planted.copied_lists)
    assert east[0][0]["href"] == reverse("branches:meeting", args=[planted.copied_lists[0].pk])
    # 西村's copies of each other are linked; the one in 县审计局 is named, not linked (outside the town).
    others = elements(page, data_other=None, data_of=str(planted.west.pk))
    assert {int(attrs["data-other"]) for attrs, _text in others} == set(ids(planted.west_copies))
    section = text_of(page, data_signal=None, data_org=str(planted.west.pk))
    assert "县审计局支部" in section and "不在您的管辖范围内" in section

    late_only = page_of(client, people.town_reviewer, county.town, year=YEAR, kind="late_logging").content.decode()
    assert [attrs["data-kind"] for attrs, _text in elements(late_only, data_signal=None)] == ["late_logging"]


def test_another_subtrees_reviewer_and_a_secretary_get_not_found(planted, people, client, make_user):
    services.integrity_signals_refresh(by=system(), year=YEAR)
    organs_reviewer = make_user("organs_reviewer", Role.REVIEWER, planted.county.organs)
    assert page_of(client, organs_reviewer, planted.county.town, year=YEAR).status_code == 404
    assert page_of(client, organs_reviewer, planted.county.east, year=YEAR).status_code == 404
    assert page_of(client, people.secretary, planted.county.east, year=YEAR).status_code == 404
    assert page_of(client, organs_reviewer, planted.county.organs, year=YEAR).status_code == 200


def test_a_year_or_kind_not_understood_shows_this_years_signals_of_every_kind(planted, people, client):
    for query in ({"year": "二〇二五"}, {"year": "99999999999999999999"}, {"kind": "<script>"}):
        assert page_of(client, people.town_reviewer, planted.county.town, **query).status_code == 200


def test_the_dashboard_tile_counts_the_subtrees_signals_and_opens_their_page(planted, people, client):
    services.integrity_signals_refresh(by=system(), year=YEAR)
    run = IntegritySignalRun.objects.get()
    client.force_login(people.reviewer)

    response = client.get(reverse("dashboard_organization", args=[planted.county.root.pk]), {"period": YEAR})

    page = response.content.decode()
    counts = {attrs["data-signal-count"]: int(text) for attrs, text in elements(page, data_signal_count=None)}
    assert counts == {"late_logging": 2, "cramming": 1, "similar_minutes": 2, "same_attendance": 1}
    link = elements(page, data_signal_count="cramming")[0][0]["href"]
    assert link == reverse("branches:integrity_signals", args=[planted.county.root.pk]) + f"?year={YEAR}&kind=cramming"
    assert text_of(page, data_signals_computed=None) == f"计算于 {minute(run.finished_at)}"


def tile(client, user, organization, year=YEAR):
    """The dashboard's integrity signals tile: (its state, its text, the page)."""
    client.force_login(user)
    page = client.get(reverse("dashboard_organization", args=[organization.pk]), {"period": year}).content.decode()
    attrs, text = elements(page, data_tile="signals")[0]
    return attrs["data-signals-state"], text, page


def minute(moment):
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"


def test_before_the_first_run_the_tile_says_not_computed_yet_and_when_the_job_runs(planted, people, client):
    state, text, page = tile(client, people.reviewer, planted.county.root)

    assert state == "pending"
    assert "尚未计算" in text and "4:00" in text
    assert "未发现" not in text and not elements(page, data_signal_count=None)  # no zero that reads as "none found"


def test_a_year_computed_with_nothing_found_says_so_with_the_time(county, people, client):
    services.integrity_signals_refresh(by=system(), year=YEAR)
    run = IntegritySignalRun.objects.get()
    assert run.found == 0

    state, text, page = tile(client, people.reviewer, county.root)

    assert state == "ok"
    assert text_of(page, data_signals_none=None) == f"已于 {minute(run.finished_at)} 计算：未发现"
    assert "尚未计算" not in text


def test_a_failed_run_shows_as_failed_never_as_none_found(county, planted, people, client, monkeypatch):
    monkeypatch.setattr(quality, "find", lambda year, root=None: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        services.integrity_signals_refresh(by=system(), year=YEAR)
    failed = IntegritySignalRun.objects.get()

    state, text, page = tile(client, people.reviewer, county.root)

    assert state == "failed"
    assert text_of(page, data_signals_status=None) == f"{minute(failed.started_at)} 开始的计算失败"
    assert "未发现" not in text and not elements(page, data_signal_count=None)


def test_after_a_failed_run_the_tile_says_so_and_still_shows_the_last_runs_counts_with_their_time(
    planted, people, client, monkeypatch
):
    services.integrity_signals_refresh(by=system(), year=YEAR)
    done = IntegritySignalRun.objects.get()
    monkeypatch.setattr(quality, "find", lambda year, root=None: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        services.integrity_signals_refresh(by=system(), year=YEAR)

    state, text, page = tile(client, people.reviewer, planted.county.root)

    assert state == "failed" and "计算失败" in text_of(page, data_signals_status=None)
    counts = {attrs["data-signal-count"]: int(text) for attrs, text in elements(page, data_signal_count=None)}
    assert counts == {"late_logging": 2, "cramming": 1, "similar_minutes": 2, "same_attendance": 1}
    assert text_of(page, data_signals_computed=None) == f"计算于 {minute(done.finished_at)}"


def test_a_run_going_on_says_so_and_one_cut_short_long_ago_shows_as_failed(county, people, client):
    running = IntegritySignalRun.objects.create(year=YEAR)
    state, text, _page = tile(client, people.reviewer, county.root)
    assert state == "running" and f"正在计算（{minute(running.started_at)} 开始）" in text

    IntegritySignalRun.objects.filter(pk=running.pk).update(started_at=timezone.now() - timedelta(hours=7))
    assert tile(client, people.reviewer, county.root)[0] == "failed"


def test_a_subtrees_run_counts_for_the_subtree_only(planted, people, client):
    services.integrity_signals_refresh(by=people.town_reviewer, year=YEAR, root=planted.county.town)

    assert tile(client, people.town_reviewer, planted.county.town)[0] == "ok"
    assert tile(client, people.reviewer, planted.county.root)[0] == "pending"  # the rest of the tree was not looked at


@pytest.mark.parametrize("copies", [2, 12])
def test_the_page_costs_the_same_queries_whatever_the_number_of_signals(
    county, people, client, django_assert_num_queries, copies
):
    """`copies` branches each with the same long minutes twice and a late habit: 2 signals each, every meeting
    listed; the page reads them in the same queries."""
    for n in range(copies):
        added = branch(county.town, f"T-E-C{n}", f"抄写{n}村支部")
        for month in (1, 2, 3):
            meeting(added, month, minutes=STOCK, logged=datetime(YEAR, month + 2, 1, tzinfo=BEIJING))
    services.integrity_signals_refresh(by=system(), year=YEAR)
    assert IntegritySignal.objects.count() == 2 * copies
    client.force_login(people.town_reviewer)
    url = reverse("branches:integrity_signals", args=[county.town.pk])

    with django_assert_num_queries(PAGE_QUERIES):
        response = client.get(url, {"year": YEAR})

    assert len(elements(response.content.decode(), data_signal=None)) == min(2 * copies, SIGNALS_PER_PAGE)


# session, user, grants, the organization, breadcrumb, counts per kind, the page's count and rows, every record behind
# them (with their organizations), the late-logging setting, the inbox bell
PAGE_QUERIES = 11
