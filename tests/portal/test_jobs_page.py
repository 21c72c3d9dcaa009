"""The jobs page (定时任务): a schedule's last run and run count are the portal's own runs.

django-celery-beat keeps its counters in memory and writes them only every few minutes and when beat
stops, so the page used to show 上次运行 — and 运行次数 0 while listing today's run just below.
"""

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from branches.models import IntegritySignalRun
from portal.models import ReminderRun, ReminderRunState
from tests.portal.test_dashboard import elements, text_of

SHANGHAI = ZoneInfo("Asia/Shanghai")


def schedule_row(page, name):
    row = next(r for r in re.findall(r"<tr>.*?</tr>", page, re.S) if f"<td>{name}</td>" in r)
    return re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)


def run(day, state, started=None):
    return ReminderRun.objects.create(
        today=day,
        state=state,
        started_at=started,
        finished_at=started if state == ReminderRunState.DONE else None,
    )


def test_the_reminder_schedule_shows_its_last_run_and_count_from_the_runs_themselves(people, signed_in):
    assert PeriodicTask.objects.get(name="每日提醒").total_run_count == 0  # beat has not written its counts yet
    run(date(2026, 12, 4), ReminderRunState.DONE, datetime(2026, 12, 4, 7, 0, 3, tzinfo=SHANGHAI))
    run(date(2026, 12, 5), ReminderRunState.DONE, datetime(2026, 12, 5, 7, 0, 5, tzinfo=SHANGHAI))
    run(date(2026, 12, 5), ReminderRunState.QUEUED)  # asked for, not started: not a run yet

    page = signed_in(people.admin).get(reverse("jobs")).content.decode()

    _name, _when, _enabled, last_run, runs = schedule_row(page, "每日提醒")
    assert (last_run, runs) == ("2026-12-05 07:00", "2")


def test_a_schedule_that_keeps_no_runs_of_its_own_shows_beats_counters(people, signed_in):
    PeriodicTask.objects.filter(name="通知发送与重试").update(
        last_run_at=datetime(2026, 12, 5, 9, 15, tzinfo=SHANGHAI), total_run_count=42
    )
    page = signed_in(people.admin).get(reverse("jobs")).content.decode()
    assert schedule_row(page, "通知发送与重试")[3:] == ["2026-12-05 09:15", "42"]


def signal_run(year, state, started, *, found=0, error=""):
    run = IntegritySignalRun.objects.create(year=year, state=state, found=found, error=error, organizations=12)
    finished = started + timedelta(seconds=42) if state != IntegritySignalRun.State.RUNNING else None
    IntegritySignalRun.objects.filter(pk=run.pk).update(started_at=started, finished_at=finished)
    return run


def signal_row(page, run):
    """(its state, its classes, the text of each cell) of a run's row."""
    attrs, _text = elements(page, data_signal_run=str(run.pk))[0]
    row = re.search(rf'<tr[^>]*data-signal-run="{run.pk}"[^>]*>(.*?)</tr>', page, re.S)[1]
    cells = [" ".join(re.sub(r"<[^>]+>", "", cell).split()) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    return attrs["data-state"], attrs.get("class", ""), cells


def test_the_integrity_signal_runs_are_listed_and_a_failed_one_shows_failed_with_its_error(people, signed_in):
    done = signal_run(2026, "ok", datetime(2026, 12, 4, 4, 0, tzinfo=SHANGHAI), found=7)
    failed = signal_run(2026, "failed", datetime(2026, 12, 5, 4, 0, tzinfo=SHANGHAI), error="MemoryError: minutes")

    page = signed_in(people.admin).get(reverse("jobs")).content.decode()

    state, css, cells = signal_row(page, done)
    assert state == "ok" and "table-danger" not in css
    assert cells == ["2026", "全部党组织", "已完成", "2026-12-04 04:00:00", "42.0", "12", "7", "—"]
    state, css, cells = signal_row(page, failed)
    assert state == "failed" and "table-danger" in css
    assert cells == ["2026", "全部党组织", "失败", "2026-12-05 04:00:00", "42.0", "—", "—", "MemoryError: minutes"]
    _name, _when, _enabled, last_run, runs = schedule_row(page, "每日台账质量提示")
    assert (last_run, runs) == ("2026-12-05 04:00", "2")


def test_before_any_run_the_jobs_page_says_the_signals_are_not_computed(people, signed_in):
    page = signed_in(people.admin).get(reverse("jobs")).content.decode()
    assert "台账质量提示尚未计算。" in text_of(page, data_table="signal-runs")
