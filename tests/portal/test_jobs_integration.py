"""Scheduled jobs end to end: real Celery worker and beat processes, both brokers, `make run`, a broker that is down.

- With Redis and PostgreSQL, a django-celery-beat schedule row fires `portal.send_reminders` on a real worker,
  which writes the run and the secretary's notification into the database the test reads.
- Without any service, beat and worker in two processes pass the job through the folder broker under
  PORTAL_VAR_DIR, and `manage.py serve` serves pages, runs its catch-up job and stops every child with itself.
- When Redis cannot be reached, a page that enqueues still answers, the run waits as "queued", and the periodic
  tick starts it; `portal.jobs.enqueue` reports False instead of raising.
"""

import importlib.util
import json
import logging
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import closing, suppress
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.contrib import messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from kombu import pools as kombu_pools

from assessments import services as duty_services
from portal import jobs, services, tasks
from portal.celery import app
from portal.management.commands.serve import job_commands
from portal.models import (
    EmailState,
    Notification,
    NotificationKind,
    ReminderRule,
    ReminderRun,
    ReminderRunState,
    Timing,
    Topic,
)
from tests.conftest import system

ROOT = Path(django_settings.BASE_DIR)
LOCMEM_EMAIL = "django.core.mail.backends.locmem.EmailBackend"
JOBS_REDIS = "redis://127.0.0.1:6379/14"  # a database number of its own: flushed before and after
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1
SCHEDULE_NAME = "test: reminders every second"
EVERY_SECOND = f"""
from django_celery_beat.models import IntervalSchedule, PeriodicTask
PeriodicTask.objects.update(enabled=False)
every, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
PeriodicTask.objects.create(name={SCHEDULE_NAME!r}, task="portal.send_reminders", interval=every)
"""


# Subprocesses


class Processes:
    """The processes one test starts, each writing to a log file; all are stopped on leaving the block."""

    def __init__(self, folder):
        self.folder = folder
        self.started = []  # (name, process, log file)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        # Beat first, so nothing new is queued while the worker shuts down.
        for _name, process, _log in reversed(self.started):
            stop(process)
        for _name, _process, log in self.started:
            log.close()

    def start(self, name, command, env, **popen):
        log = open(self.folder / f"{name}.log", "wb")  # noqa: SIM115 - closed in __exit__
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, **popen)
        self.started.append((name, process, log))
        return process

    def stop(self, name):
        """Stop one process now (gracefully: beat writes its schedules' run counts as it exits)."""
        for started, process, _log in self.started:
            if started == name:
                stop(process)

    def output(self):
        parts = []
        for name, process, log in self.started:
            log.flush()
            text = (self.folder / f"{name}.log").read_text(errors="replace")
            parts.append(f"----- {name} (exit code {process.poll()}) -----\n{text[-6000:]}")
        return "\n".join(parts)

    def fail_if_one_exited(self, what):
        for name, process, _log in self.started:
            if process.poll() is not None:
                pytest.fail(f"{name} exited while waiting for {what}\n{self.output()}", pytrace=False)


def stop(process, timeout=15):
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def wait_for(what, check, timeout, processes=None, interval=0.25):
    """Poll `check` until it returns something truthy; fail with the processes' output at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if processes is not None:
            processes.fail_if_one_exited(what)
        if time.monotonic() > deadline:
            output = f"\n{processes.output()}" if processes is not None else ""
            pytest.fail(f"timed out after {timeout} s waiting for {what}{output}", pytrace=False)
        time.sleep(interval)


PORTAL_SETTINGS = {
    "DATABASE_URL",
    "REDIS_URL",
    "PORTAL_VAR_DIR",
    "EMAIL_BACKEND",
    "PORTAL_ENV",
    "DEBUG",
    "PORTAL_BASE_URL",
}


def environment(**values):
    """This process's environment with the portal's service settings replaced by `values`."""
    env = {key: value for key, value in os.environ.items() if key not in PORTAL_SETTINGS}
    env.update(values, PYTHONUNBUFFERED="1")
    return env


def local_environment(folder):
    """No service at all: SQLite in `folder`, the folder broker under `folder`/celery.

    The lock timeout is the one settings.py gives its default SQLite file (`make run`); a URL gets none by itself.
    """
    return environment(
        DATABASE_URL=f"sqlite:///{folder / 'db.sqlite3'}?timeout=20",
        PORTAL_VAR_DIR=str(folder),
        EMAIL_BACKEND=LOCMEM_EMAIL,
    )


def manage(*args, env):
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def sqlite_rows(path, sql, *params):
    """Read-only, so the test never holds a write lock the worker waits for."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)) as connection:
            return connection.execute(sql, params).fetchall()
    except sqlite3.OperationalError as error:
        if "locked" in str(error):  # a writer holds it for a moment: ask again at the next poll
            return []
        raise


def done_runs(path):
    return sqlite_rows(path, "SELECT id FROM portal_reminderrun WHERE state = 'done'")


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory):
    """One migrated SQLite file; each test works on its own copy."""
    folder = tmp_path_factory.mktemp("migrated")
    manage("migrate", "--noinput", "-v0", env=local_environment(folder))
    return folder / "db.sqlite3"


def free_port():
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def accepts_connections(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def healthz(port):
    """(status, body), or None while nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz/", timeout=3) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, None
    except (OSError, ValueError):  # not listening yet, or cut off while starting
        return None


def live_members(pgid):
    """Processes of the group still running (zombies are dead: only their parent has not collected them yet)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone in between
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm)": state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


# 1. Redis and PostgreSQL


def postgres_url():
    """The test database, which pytest-django created and named; the worker and beat must use it too."""
    db = django_settings.DATABASES["default"]
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    return f"postgres://{quote(db['USER'], safe='')}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_beat_fires_a_scheduled_job_on_a_real_worker_against_redis_and_postgresql(county, people, tmp_path):
    import redis

    today = timezone.localdate()
    due = today + timedelta(days=3)
    if due.year != today.year:
        due = date(today.year, 12, 31)  # a duty belongs to one year's list; 0-2 days ahead is still "due soon"
    people.secretary.email = "secretary@example.org"
    people.secretary.save(update_fields=["email"])
    ReminderRule.objects.get_or_create(topic=Topic.DUTY, timing=Timing.BEFORE, days=7)
    item = duty_services.item_add(
        organization=county.east,
        year=due.year,
        data={"area": "ideological", "text": "学习党章", "due_on": due},
        by=system(),
    )
    PeriodicTask.objects.update(enabled=False)  # only the schedule below may fire
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    schedule = PeriodicTask.objects.create(name=SCHEDULE_NAME, task="portal.send_reminders", interval=every_second)

    broker = redis.Redis.from_url(JOBS_REDIS)
    broker.flushdb()
    env = environment(
        DATABASE_URL=postgres_url(), REDIS_URL=JOBS_REDIS, PORTAL_VAR_DIR=str(tmp_path), EMAIL_BACKEND=LOCMEM_EMAIL
    )
    worker, beat = job_commands()
    try:
        with Processes(tmp_path) as processes:
            processes.start("worker", worker, env)
            processes.start("beat", beat, env)
            reminded = Notification.objects.filter(
                recipient=people.secretary,
                kind=NotificationKind.DUTY_DUE,
                object_id=item.pk,
                run__state=ReminderRunState.DONE,
            )
            note = wait_for("a done run that reminded the secretary", reminded.first, 45, processes)

            # Beat keeps its run counts in memory and writes them every few minutes and when it stops.
            processes.stop("beat")
            schedule.refresh_from_db()
            assert schedule.total_run_count >= 1, processes.output()
            assert note.due_on == due and note.run.state == ReminderRunState.DONE
            assert note.email_state == EmailState.SENT, processes.output()  # emailed by the worker
            assert ReminderRun.objects.filter(state=ReminderRunState.DONE).exists()
            assert not (tmp_path / "celery").exists()  # Redis carried the job, not the folder broker
    finally:
        broker.flushdb()
        broker.close()


# 2. The folder broker, without any service


def test_the_embedded_broker_runs_a_scheduled_job_across_processes(tmp_path, migrated_sqlite, settings):
    db = shutil.copy(migrated_sqlite, tmp_path / "db.sqlite3")
    env = local_environment(tmp_path)
    manage("shell", "-c", EVERY_SECOND, env=env)  # the schedule lives in the subprocesses' database
    settings.REDIS_URL = ""  # job_commands() picks the worker's flags from the settings: those of the folder broker
    worker, beat = job_commands()
    assert "--without-mingle" in worker

    with Processes(tmp_path) as processes:
        processes.start("worker", worker, env)
        processes.start("beat", beat, env)
        # Every run here was sent by beat (nothing else enqueues): two show it fires on its schedule.
        wait_for("two done reminder runs", lambda: len(done_runs(db)) >= 2, 45, processes)
        # Beat keeps its run counts in memory and writes them every few minutes and when it stops.
        processes.stop("beat")
        counted = "SELECT total_run_count FROM django_celery_beat_periodictask WHERE name = ?"
        assert sqlite_rows(db, counted, SCHEDULE_NAME)[0][0] >= 1, processes.output()
        assert (tmp_path / "celery" / "queue").is_dir(), processes.output()  # the folder transport, not Redis


# 3. `make run`: manage.py serve


@pytest.mark.parametrize("how", ["sigterm", "ctrl_c"])
def test_make_run_serves_pages_and_jobs_and_stops_them_together(tmp_path, migrated_sqlite, how):
    db = shutil.copy(migrated_sqlite, tmp_path / "db.sqlite3")
    port = free_port()
    with Processes(tmp_path) as processes:
        # A session of its own: its group is serve and its children, as in a terminal.
        serve = processes.start(
            "serve",
            [sys.executable, "manage.py", "serve", f"127.0.0.1:{port}"],
            local_environment(tmp_path),
            start_new_session=True,
        )
        group = serve.pid
        try:
            status, body = wait_for("/healthz/ to answer", lambda: healthz(port), 45, processes)
            assert status == 200 and body["broker"] == "embedded", f"{status} {body}\n{processes.output()}"
            # The catch-up run serve queues at start, done by its worker (beat's schedules are not due).
            wait_for("the catch-up reminder run", lambda: done_runs(db), 45, processes)
            # serve, runserver (reloader and server), worker and beat are all running.
            assert len(live_members(group)) >= 4, processes.output()

            if how == "sigterm":
                serve.send_signal(signal.SIGTERM)  # a service manager stopping serve alone
            else:
                os.killpg(group, signal.SIGINT)  # Ctrl-C: the terminal signals the whole group
            try:
                code = serve.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pytest.fail(f"serve did not stop within 20 s\n{processes.output()}", pytrace=False)
            assert code == 0, processes.output()
            wait_for("every child of serve to stop", lambda: not live_members(group), 10)
            assert not accepts_connections(port)
            with pytest.raises(ProcessLookupError):
                os.killpg(group, 0)  # only the unreaped dead can remain, and those cannot be signalled
        finally:
            # Whatever serve left behind: the group is this test's own.
            with suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)


A_DUTY_DUE_IN_THREE_DAYS = """
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from assessments import services as duties
from branches import access, services
system = access.system_user()
root = services.organization_create(
    parent=None, kind="committee", data={"code": "T", "name": "县委", "sector": "organ"}, by=system
)
branch = services.organization_create(
    parent=root, kind="branch", data={"code": "T-1", "name": "东村支部", "sector": "village"}, by=system
)
user = get_user_model().objects.create_user("shuji", email="shuji@example.org", password="shuji-password-42")
services.role_assign(user=user, organization=branch, role="secretary", by=system)
due = timezone.localdate() + timedelta(days=3)
duties.item_add(organization=branch, year=due.year, data={"area": "ideological", "text": "学习", "due_on": due}, by=system)
"""


def test_make_run_on_another_port_emails_links_to_that_port(tmp_path, migrated_sqlite):
    db = shutil.copy(migrated_sqlite, tmp_path / "db.sqlite3")
    env = local_environment(tmp_path)
    manage("shell", "-c", A_DUTY_DUE_IN_THREE_DAYS, env=env)
    env["EMAIL_BACKEND"] = "django.core.mail.backends.console.EmailBackend"  # the worker prints into serve's log
    port = free_port()
    with Processes(tmp_path) as processes:
        serve = processes.start(
            "serve", [sys.executable, "manage.py", "serve", f"127.0.0.1:{port}"], env, start_new_session=True
        )
        try:
            wait_for("the catch-up reminder run", lambda: done_runs(db), 45, processes)
            link = f"http://127.0.0.1:{port}/work/items/"
            wait_for(f"an email linking to {link}", lambda: link in processes.output(), 20, processes)
            assert "127.0.0.1:8000" not in processes.output()
        finally:
            with suppress(ProcessLookupError):
                os.killpg(serve.pid, signal.SIGKILL)


# 4. Redis down


@pytest.fixture
def redis_down(settings, monkeypatch):
    """The portal configured for a Redis nobody answers at, with the transport options settings.py gives Redis."""
    with monkeypatch.context() as env:
        env.setenv("REDIS_URL", UNREACHABLE_REDIS)
        spec = importlib.util.spec_from_file_location("portal_settings_with_redis", ROOT / "portal" / "settings.py")
        configured = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(configured)
    settings.REDIS_URL = configured.REDIS_URL
    settings.CELERY_BROKER_URL = configured.CELERY_BROKER_URL
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = configured.CELERY_BROKER_TRANSPORT_OPTIONS
    # The app copied its settings when first configured, and caches its connection and producer pools.
    saved = (app.conf.broker_url, app.conf.broker_transport_options)
    app.conf.broker_url = configured.CELERY_BROKER_URL
    app.conf.broker_transport_options = configured.CELERY_BROKER_TRANSPORT_OPTIONS
    app._pool = app.amqp._producer_pool = None
    try:
        yield
    finally:
        for pool in (app.amqp._producer_pool, app._pool):
            if pool is not None:
                pool.force_close_all()
        # kombu also keeps producer pools in a registry of its own, keyed by connection: the closed one would be
        # handed out again to the next test that enqueues ("Acquire on closed pool"). Empty it; the app makes
        # fresh pools on demand.
        kombu_pools.reset()
        app.conf.broker_url, app.conf.broker_transport_options = saved[:2]
        app._pool = app.amqp._producer_pool = None


def test_a_page_that_enqueues_still_answers_when_redis_is_down(redis_down, people, signed_in, caplog, monkeypatch):
    with app.connection_for_write() as connection:  # not connected yet: this only reads the configuration
        assert connection.transport_cls == "redis"
    caplog.set_level(logging.WARNING, logger="portal.jobs")
    assert jobs.enqueue(tasks.deliver_notifications) is False
    assert "127.0.0.1:1" in caplog.text  # it really tried that Redis, and said so

    client = signed_in(people.admin)
    page = client.post(reverse("jobs"), follow=True)
    assert page.redirect_chain == [(reverse("jobs"), 302)]
    assert page.status_code == 200
    [warning] = list(page.context["messages"])
    assert warning.level == messages.WARNING
    assert escape(str(warning)) in page.content.decode()
    run = ReminderRun.objects.get(requested_by=people.admin)
    assert run.state == ReminderRunState.QUEUED

    # The five-minute tick, called here directly as the broker is down, starts the run the broker never took.
    monkeypatch.setattr(services, "QUEUED_GRACE", timedelta(0))
    assert tasks.deliver_notifications()["runs_started"] == 1
    run.refresh_from_db()
    assert run.state == ReminderRunState.DONE and run.started_at is not None
