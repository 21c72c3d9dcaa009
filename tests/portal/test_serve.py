"""`make run PORT=8101` (manage.py serve): the worker's reminder emails link to the address served.

The end-to-end case (a real serve, worker and email) is in test_jobs_integration.py.
"""

import io
import socket
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from branches.models import IntegritySignalRun
from portal import tasks
from portal.management.commands import serve
from portal.management.commands.serve import catch_up_tasks, child_environment, served_base_url
from portal.models import DailyFigures


def test_the_worker_and_beat_are_told_the_address_served(monkeypatch):
    monkeypatch.delenv("PORTAL_BASE_URL", raising=False)
    assert child_environment("127.0.0.1:8101")["PORTAL_BASE_URL"] == "http://127.0.0.1:8101"


def test_an_explicit_portal_base_url_still_wins(monkeypatch):
    monkeypatch.setenv("PORTAL_BASE_URL", "https://dangjian.example.cn")
    assert child_environment("127.0.0.1:8101")["PORTAL_BASE_URL"] == "https://dangjian.example.cn"


@pytest.mark.parametrize(
    "addrport, url",
    [
        ("8101", "http://127.0.0.1:8101"),
        ("localhost:8101", "http://localhost:8101"),
        ("[::1]:8101", "http://[::1]:8101"),
        ("0.0.0.0:8101", f"http://{socket.gethostname()}:8101"),  # others reach it by the machine's name
    ],
)
def test_the_address_served_as_runserver_reads_it(addrport, url):
    assert served_base_url(addrport) == url


def test_an_address_runserver_would_refuse_is_refused():
    with pytest.raises(CommandError):
        served_base_url("127.0.0.1:port")


# ----------------------------------------------------------------------------------------------- catching up at start


def test_a_fresh_start_queues_the_signals_and_the_days_figures_besides_the_reminders(db):
    today = timezone.localdate()
    assert catch_up_tasks(today) == [tasks.send_reminders, tasks.refresh_integrity_signals, tasks.take_daily_figures]


def test_a_second_start_queues_only_the_reminders_once_the_signals_and_figures_are_there(county):
    today = timezone.localdate()
    IntegritySignalRun.objects.create(year=today.year, state=IntegritySignalRun.State.OK, finished_at=timezone.now())
    DailyFigures.objects.create(organization=county.root, day=today)
    assert catch_up_tasks(today) == [tasks.send_reminders]


def test_a_run_going_on_is_not_queued_again_but_a_failed_one_a_subtrees_or_an_old_days_figures_are(county):
    today = timezone.localdate()
    running = IntegritySignalRun.objects.create(year=today.year)
    assert tasks.refresh_integrity_signals not in catch_up_tasks(today)

    IntegritySignalRun.objects.filter(pk=running.pk).update(state=IntegritySignalRun.State.FAILED)
    IntegritySignalRun.objects.create(year=today.year, organization=county.town, state=IntegritySignalRun.State.OK)
    IntegritySignalRun.objects.create(year=today.year - 1, state=IntegritySignalRun.State.OK)
    DailyFigures.objects.create(organization=county.root, day=today - timedelta(days=1))
    assert catch_up_tasks(today) == [tasks.send_reminders, tasks.refresh_integrity_signals, tasks.take_daily_figures]


class Ended:
    """A child process that has already stopped."""

    def __init__(self, args, **_kwargs):
        self.args, self.returncode = args, 0

    def poll(self):
        return 0

    def wait(self, timeout=None):
        return 0

    def terminate(self):
        pass


def test_serve_queues_what_catching_up_finds_once_its_processes_are_started(db, monkeypatch):
    queued = []
    monkeypatch.setattr(serve.subprocess, "Popen", Ended)
    monkeypatch.setattr(serve.jobs, "enqueue", lambda task, **kwargs: queued.append(task.name) or True)
    monkeypatch.setattr(serve.time, "sleep", lambda _seconds: None)
    monkeypatch.setattr(serve.signal, "signal", lambda *_args: None)  # keep the test run's own Ctrl-C
    with pytest.raises(CommandError):  # the children stopped at once: serve says so
        call_command("serve", "127.0.0.1:8199", stdout=io.StringIO())
    assert queued == ["portal.send_reminders", "portal.refresh_integrity_signals", "portal.take_daily_figures"]
