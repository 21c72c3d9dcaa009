"""Duty and finding month summaries: kept current by the services, rebuilt from the records with drift reported.

Drawn on the county of tests/conftest.py (东村支部, 南村支部, 县财政局支部) and the 2026 template of
tests/assessments/conftest.py (duties due 2026-03-31, 2026-06-30, 2026-12-31).
"""

from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assessments import demo, services, summaries
from assessments.models import (
    DutyMonthSummary,
    Finding,
    FindingState,
    Inspection,
    ItemStatus,
    ResponsibilityItem,
    ResponsibilityTemplate,
    TemplateItem,
)
from branches import services as branch_services
from branches.models import Organization
from tests.conftest import system
from tests.portal.test_hardening import PNG, upload

BEIJING = ZoneInfo("Asia/Shanghai")
MARCH, APRIL, JUNE = date(2026, 3, 1), date(2026, 4, 1), date(2026, 6, 1)


def at(day, hour=10, minute=0):
    """A moment in Beijing time."""
    return datetime.combine(day, time(hour, minute), tzinfo=BEIJING)


@contextmanager
def clock(moment):
    """The services (and `auto_now_add`) see `moment` as now."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def by_hand():
    """The figures counted row by row in Python, straight from the records (the oracle the SQL is checked against)."""
    result = {}

    def add(key, index):
        figures = result.setdefault(key, [0] * len(summaries.FIGURES))
        figures[index] += 1

    for item in ResponsibilityItem.objects.all():
        key = (item.organization_id, item.due_on.replace(day=1))
        add(key, 0)
        if item.status == ItemStatus.DONE:
            done_day = item.completed_at and item.completed_at.astimezone(BEIJING).date()
            add(key, 2 if done_day and done_day > item.due_on else 1)
        else:
            add(key, 3)
    for finding in Finding.objects.all():
        opened = (finding.organization_id, finding.created_at.astimezone(BEIJING).date().replace(day=1))
        add(opened, 4)
        if finding.state != FindingState.VERIFIED:
            add(opened, 5)
        elif finding.closed_at is not None:
            closed_day = finding.closed_at.astimezone(BEIJING).date()
            add((finding.organization_id, closed_day.replace(day=1)), 6)
            if closed_day > finding.deadline:
                add((finding.organization_id, closed_day.replace(day=1)), 7)
    return {key: tuple(figures) for key, figures in result.items()}


def in_step():
    """The rows hold exactly what the records say, counted both ways (SQL and row by row)."""
    stored = summaries.stored()
    assert stored == summaries.recomputed()
    assert stored == by_hand()
    return stored


def row(organization, month):
    found = DutyMonthSummary.objects.filter(organization=organization, month=month).first()
    return found and dict(zip(summaries.FIGURES, found.figures(), strict=True))


def duty(organization, due_on, text="开展一次专题学习"):
    with clock(at(date(2026, 1, 5))):
        return services.item_add(
            organization=organization,
            year=due_on.year,
            data={"area": "ideological", "text": text, "due_on": due_on},
            by=system(),
        )


def complete(item, moment):
    item.refresh_from_db()
    with clock(moment):
        return services.item_complete(item=item, by=system(), version=item.version, note="已完成")


def inspect(organization, held_on=date(2026, 2, 10)):
    with clock(at(held_on, 17)):
        return services.inspection_create(
            organization=organization, by=system(), data={"held_on": held_on, "title": "专项督查"}
        )


def find(inspection, moment, deadline):
    with clock(moment):
        return services.finding_add(
            inspection=inspection,
            by=system(),
            data={
                "severity": "minor",
                "description": "会议记录不全",
                "required_rectification": "补齐记录",
                "deadline": deadline,
            },
        )


def move(finding, to, moment, **extra):
    finding.refresh_from_db()
    with clock(moment):
        return services.finding_move(finding=finding, to_state=to, by=system(), version=finding.version, **extra)


def close(finding, moment, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    finding.refresh_from_db()
    with clock(moment - timedelta(hours=1)):
        services.finding_submit(
            finding=finding, by=system(), version=finding.version, note="已整改", upload=upload("证明.png", PNG)
        )
    return move(finding, FindingState.VERIFIED, moment)


# --- each service keeps its rows current ------------------------------------------------------------------------


def test_issuing_a_list_counts_every_branchs_duties_in_their_months(county, template):
    result = services.template_issue(template=template, root=county.root, by=system())
    assert result.items == 9
    for branch in (county.east, county.south, county.finance):
        for month in (MARCH, JUNE, date(2026, 12, 1)):
            assert row(branch, month)["duties_due"] == row(branch, month)["duties_open"] == 1
    assert row(county.town, MARCH) is None  # a committee is not given a branch list
    in_step()


def test_issuing_again_changes_nothing_and_keeps_the_rows(county, template):
    services.template_issue(template=template, root=county.town, by=system())
    first = in_step()
    services.template_issue(template=template, root=county.root, by=system())  # the organs' branch is new
    stored = in_step()
    assert len(stored) == len(first) + 3
    services.template_issue(template=template, root=county.root, by=system())
    assert in_step() == stored


def test_an_issue_recounts_a_month_that_already_held_own_duties(county, template):
    own = duty(county.east, date(2026, 3, 10))
    complete(own, at(date(2026, 3, 9)))
    services.template_issue(template=template, root=county.root, by=system())
    assert row(county.east, MARCH) | {} == {
        **row(county.east, MARCH),
        "duties_due": 2,
        "duties_on_time": 1,
        "duties_open": 1,
    }
    in_step()


def test_issuing_costs_the_same_queries_whatever_the_number_of_branches(county, template):
    def issue_counted(title):
        copy = ResponsibilityTemplate.objects.create(owner=county.root, year=2026, title=title)
        for item in template.items.all():
            TemplateItem.objects.create(template=copy, area=item.area, text=item.text, due_on=item.due_on)
        with CaptureQueriesContext(connection) as queries:
            services.template_issue(template=copy, root=county.root, by=system())
        return len(queries)

    issue_counted("预热")  # caches filled (content types) before counting
    few = issue_counted("三个支部")
    for n in range(25):
        branch_services.organization_create(
            parent=county.town,
            kind="branch",
            data={"code": f"Q-{n}", "name": f"村{n}", "sector": "village"},
            by=system(),
        )
    assert issue_counted("二十八个支部") == few
    assert DutyMonthSummary.objects.filter(month=MARCH).count() == 28
    assert DutyMonthSummary.objects.get(organization=county.east, month=MARCH).duties_due == 3
    in_step()


def test_an_own_duty_is_counted_when_added_and_when_done_on_time_or_late(county):
    early = duty(county.east, date(2026, 3, 20))
    late = duty(county.east, date(2026, 3, 10))
    assert row(county.east, MARCH) | {} == {**row(county.east, MARCH), "duties_due": 2, "duties_open": 2}
    complete(early, at(date(2026, 3, 20), 18))
    complete(late, at(date(2026, 3, 11), 9))
    figures = row(county.east, MARCH)
    assert (figures["duties_due"], figures["duties_on_time"], figures["duties_late"], figures["duties_open"]) == (
        2,
        1,
        1,
        0,
    )
    in_step()


def test_a_duty_done_at_half_past_eleven_at_night_beijing_time_counts_as_on_time(county):
    item = duty(county.east, date(2026, 3, 31))
    complete(item, at(date(2026, 3, 31), 23, 30))  # 15:30 UTC: still the 31st in Beijing
    assert row(county.east, MARCH)["duties_on_time"] == 1
    other = duty(county.south, date(2026, 3, 31))
    complete(other, at(date(2026, 4, 1), 0, 30))  # the 31st in UTC, the 1st of April in Beijing
    assert row(county.south, MARCH)["duties_late"] == 1
    in_step()


def test_findings_count_in_the_month_recorded_and_the_month_closed_in_beijing_time(county, settings, tmp_path):
    inspection = inspect(county.east)
    # recorded at 23:30 on 31 March in Beijing (15:30 UTC): a March finding
    finding = find(inspection, at(date(2026, 3, 31), 23, 30), deadline=date(2026, 4, 30))
    assert row(county.east, MARCH)["findings_opened"] == row(county.east, MARCH)["findings_open"] == 1
    assert row(county.east, APRIL) is None
    move(finding, FindingState.IN_PROGRESS, at(date(2026, 4, 2)))
    in_step()
    close(finding, at(date(2026, 4, 30), 23, 30), settings, tmp_path)  # on its deadline day in Beijing: on time
    assert row(county.east, MARCH)["findings_open"] == 0
    assert row(county.east, APRIL) | {} == {**row(county.east, APRIL), "findings_closed": 1, "findings_closed_late": 0}
    in_step()


def test_a_finding_closed_after_its_deadline_counts_as_closed_late(county, settings, tmp_path):
    finding = find(inspect(county.south), at(date(2026, 2, 12)), deadline=date(2026, 3, 31))
    close(finding, at(date(2026, 4, 1), 0, 30), settings, tmp_path)  # still 31 March in UTC
    assert row(county.south, date(2026, 2, 1))["findings_opened"] == 1
    assert (row(county.south, APRIL)["findings_closed"], row(county.south, APRIL)["findings_closed_late"]) == (1, 1)
    assert row(county.south, MARCH) is None
    in_step()


def test_a_finding_sent_back_stays_open_in_its_month(county, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    finding = find(inspect(county.east), at(date(2026, 2, 12)), deadline=date(2026, 3, 31))
    finding.refresh_from_db()
    with clock(at(date(2026, 3, 1))):
        services.finding_submit(
            finding=finding, by=system(), version=finding.version, note="已整改", upload=upload("a.png", PNG)
        )
    move(finding, FindingState.RETURNED, at(date(2026, 3, 2)), note="材料不全")
    assert row(county.east, date(2026, 2, 1))["findings_open"] == 1
    in_step()


def test_deleting_an_inspection_takes_its_findings_out_of_their_months(county, people):
    inspection = inspect(county.finance)
    find(inspection, at(date(2026, 2, 12)), deadline=date(2026, 3, 31))
    with pytest.raises(PermissionDenied):
        services.inspection_delete(inspection=inspection, by=people.finance_secretary)
    assert row(county.finance, date(2026, 2, 1))["findings_opened"] == 1
    services.inspection_delete(inspection=inspection, by=people.admin)
    assert not Inspection.objects.filter(pk=inspection.pk).exists()
    assert row(county.finance, date(2026, 2, 1))["findings_opened"] == 0  # a row of zeros, read as no row
    in_step()


def test_an_inspection_an_admin_deletes_in_the_admin_goes_through_the_service(county, people, signed_in):
    inspection = inspect(county.east)
    client = signed_in(people.admin)
    with mock.patch.object(services, "inspection_delete", wraps=services.inspection_delete) as deleting:
        response = client.post(reverse("admin:assessments_inspection_delete", args=[inspection.pk]), {"post": "yes"})
    assert response.status_code == 302 and not Inspection.objects.filter(pk=inspection.pk).exists()
    assert deleting.called


def test_a_refused_duty_or_finding_writes_no_row(county, people):
    with pytest.raises(PermissionDenied):
        services.item_add(
            organization=county.finance,
            year=2026,
            data={"area": "ideological", "text": "学习", "due_on": date(2026, 3, 1)},
            by=people.secretary,
        )
    with pytest.raises(ValidationError):
        services.item_add(
            organization=county.east,
            year=2026,
            data={"area": "ideological", "text": "学习", "due_on": date(2027, 3, 1)},
            by=people.secretary,
        )
    assert not DutyMonthSummary.objects.exists()


def test_a_refresh_costs_three_queries_whatever_the_number_of_keys(county):
    for day in (date(2026, 3, 3), date(2026, 4, 3), date(2026, 6, 3)):
        duty(county.east, day)
        duty(county.south, day)
    keys = [(org.pk, month) for org in (county.east, county.south) for month in (MARCH, APRIL, JUNE)]
    DutyMonthSummary.objects.all().delete()
    with CaptureQueriesContext(connection) as queries:
        summaries.refresh(keys)
    assert len(queries) <= 3
    in_step()


# --- drift -------------------------------------------------------------------------------------------------------


def test_a_tampered_row_is_found_as_drift_and_fixed(county, template):
    services.template_issue(template=template, root=county.root, by=system())
    assert summaries.rebuild() == 0
    DutyMonthSummary.objects.filter(organization=county.east, month=MARCH).update(duties_open=7)
    DutyMonthSummary.objects.filter(organization=county.south, month=JUNE).delete()
    DutyMonthSummary.objects.create(organization=county.town, month=APRIL, findings_opened=2)  # backed by nothing
    assert summaries.rebuild(within=county.east) == 1  # only the subtree asked for
    assert summaries.rebuild(year=2025) == 0  # nor another year
    assert summaries.rebuild() == 2
    assert summaries.rebuild() == 0
    in_step()


def test_a_change_behind_the_services_back_is_drift(county):
    item = duty(county.east, date(2026, 3, 10))
    ResponsibilityItem.objects.filter(pk=item.pk).update(
        status=ItemStatus.DONE, completed_at=at(date(2026, 3, 12))
    )  # a bulk load, say
    assert summaries.rebuild(year=2026) == 1
    assert row(county.east, MARCH)["duties_late"] == 1
    assert summaries.rebuild() == 0


def test_rows_of_zeros_are_removed_by_a_rebuild_without_counting_as_drift(county, people):
    inspection = inspect(county.east)
    find(inspection, at(date(2026, 2, 12)), deadline=date(2026, 3, 31))
    services.inspection_delete(inspection=inspection, by=people.admin)
    assert DutyMonthSummary.objects.count() == 1
    assert summaries.rebuild() == 0
    assert not DutyMonthSummary.objects.exists()


def test_overdue_is_derived_from_the_rows_and_this_months_items(county):
    for due in (date(2026, 2, 10), date(2026, 3, 5), date(2026, 3, 25), date(2026, 4, 10)):
        duty(county.east, due)
    rows = DutyMonthSummary.objects.filter(organization=county.east)
    assert summaries.overdue(rows, date(2026, 3, 20)) == {county.east.pk: 2}  # February's, and 5 March
    assert summaries.overdue(rows, date(2026, 3, 5)) == {county.east.pk: 1}  # due today is not overdue yet
    assert summaries.overdue(rows, date(2026, 5, 1)) == {county.east.pk: 4}


def test_the_demo_leaves_the_summaries_equal_to_a_rebuild(county, people):
    counts = demo.build(root=county.root, today=date(2026, 7, 15), seed=3, inspector=people.assessor)
    assert counts["duties"] > 0
    assert summaries.rebuild() == 0
    in_step()


@pytest.mark.postgres
def test_the_postgresql_rebuild_finds_and_fixes_drift_in_sql(county, template, settings, tmp_path):
    services.template_issue(template=template, root=county.root, by=system())
    item = ResponsibilityItem.objects.filter(organization=county.east, due_on=date(2026, 3, 31)).get()
    complete(item, at(date(2026, 3, 31), 23, 30))
    close(
        find(inspect(county.south), at(date(2026, 2, 12)), date(2026, 3, 31)),
        at(date(2026, 4, 1), 0, 30),
        settings,
        tmp_path,
    )
    in_step()
    assert summaries.rebuild() == 0
    DutyMonthSummary.objects.filter(organization=county.east, month=MARCH).update(duties_on_time=0)
    DutyMonthSummary.objects.filter(organization=county.south, month=APRIL).delete()
    DutyMonthSummary.objects.create(organization=county.town, month=APRIL, findings_opened=2)
    DutyMonthSummary.objects.create(organization=county.organs, month=APRIL)  # zeros: no drift
    assert summaries.rebuild(within=county.organs) == 0  # its row of zeros goes, uncounted
    assert summaries.rebuild(year=2025) == 0
    assert summaries.rebuild(within=county.town, year=2026) == 3
    assert summaries.rebuild() == 0
    assert not DutyMonthSummary.objects.filter(organization=county.organs).exists()
    in_step()


# --- after any sequence of changes, the rows are what a rebuild from the records gives -------------------------

DAYS = st.integers(0, 300)  # days after 2026-01-01
operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 2), DAYS),
        st.tuples(st.just("complete"), st.integers(0, 99), st.integers(-40, 40), st.integers(0, 23)),
        st.tuples(st.just("complete"), st.integers(0, 99), st.integers(-40, 40), st.integers(0, 23)),
        st.tuples(st.just("issue"), st.integers(0, 1)),
        st.tuples(st.just("find"), st.integers(0, 2), DAYS, st.integers(0, 23), st.integers(0, 90)),
        st.tuples(st.just("find"), st.integers(0, 2), DAYS, st.integers(0, 23), st.integers(0, 90)),
        st.tuples(st.just("advance"), st.integers(0, 99), st.integers(0, 120), st.integers(0, 23), st.booleans()),
        st.tuples(st.just("advance"), st.integers(0, 99), st.integers(0, 120), st.integers(0, 23), st.booleans()),
        st.tuples(st.just("advance"), st.integers(0, 99), st.integers(0, 120), st.integers(0, 23), st.booleans()),
        st.tuples(st.just("settle"), st.integers(0, 99), st.integers(0, 120), st.integers(0, 23), st.booleans()),
        st.tuples(st.just("delete"), st.integers(0, 99)),
    ),
    min_size=1,
    max_size=16,
)


def _pick(queryset, index):
    items = list(queryset)
    return items[index % len(items)] if items else None


def _day(offset):
    return date(2026, 1, 1) + timedelta(days=offset)


def _advance(finding, args):
    finding.refresh_from_db()
    moment = at(finding.created_at.astimezone(BEIJING).date() + timedelta(days=args[1]), args[2], 30)
    if finding.state == FindingState.RETURNED:
        move(finding, FindingState.IN_PROGRESS, moment)
    elif finding.state != FindingState.SUBMITTED:
        with clock(moment):
            services.finding_submit(
                finding=finding, by=system(), version=finding.version, note="已整改", upload=upload("a.png", PNG)
            )
    elif args[3]:
        move(finding, FindingState.VERIFIED, moment)
    else:
        move(finding, FindingState.RETURNED, moment, note="不到位")
    finding.refresh_from_db()


def _apply(county, operation, templates, media):
    kind, *args = operation
    branches = [county.east, county.south, county.finance]
    if kind == "add":
        duty(branches[args[0]], _day(args[1]))
    elif kind == "complete":
        item = _pick(ResponsibilityItem.objects.filter(status=ItemStatus.OPEN).order_by("pk"), args[0])
        if item is not None:
            complete(item, at(item.due_on + timedelta(days=args[1]), args[2], 30))
    elif kind == "issue":
        services.template_issue(template=templates[args[0]], root=county.root, by=system())
    elif kind == "find":
        branch, day = branches[args[0]], _day(args[1])
        inspection = Inspection.objects.filter(organization=branch).first() or inspect(branch, date(2026, 1, 2))
        find(inspection, at(day, args[2], 30), deadline=day + timedelta(days=args[3]))
    elif kind in ("advance", "settle"):  # the finding's next step (or steps, up to its judgment)
        finding = _pick(Finding.objects.exclude(state=FindingState.VERIFIED).order_by("pk"), args[0])
        if finding is None:
            return
        steps = 3 if kind == "settle" else 1
        for _step in range(steps):
            _advance(finding, args)
            if finding.state in (FindingState.VERIFIED, FindingState.RETURNED):
                break
    elif kind == "delete":
        inspection = _pick(Inspection.objects.order_by("pk"), args[0])
        if inspection is not None:
            services.inspection_delete(inspection=inspection, by=system())


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=operations)
def test_after_any_sequence_of_changes_the_rows_equal_a_rebuild_from_the_records(county, template, steps, tmp_path):
    second = ResponsibilityTemplate.objects.get_or_create(owner=county.root, year=2026, title="第二份清单")[0]
    if not second.items.exists():
        TemplateItem.objects.create(template=second, area="integrity", text="廉政谈话", due_on=date(2026, 3, 15))
    with override_settings(MEDIA_ROOT=str(tmp_path)), transaction.atomic():
        for step in steps:
            try:
                with transaction.atomic():
                    _apply(county, step, [template, second], tmp_path)
            except ValidationError:
                continue  # a change the service refuses writes nothing
            in_step()
            assert summaries.rebuild() == 0
        transaction.set_rollback(True)


def test_moving_a_branch_changes_no_row(county, template):
    services.template_issue(template=template, root=county.root, by=system())
    before = in_step()
    branch_services.organization_move(organization=county.south, new_parent=county.organs, by=system())
    assert in_step() == before
    assert summaries.stored(within=Organization.objects.get(pk=county.organs.pk)).keys() >= {(county.south.pk, MARCH)}
