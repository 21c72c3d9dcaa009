"""`make run`: the web server with a Celery worker and beat beside it, started and stopped together.

Without REDIS_URL the worker and beat talk through the folder broker under var/celery, so a fresh
machine runs the same scheduled jobs as production with nothing else installed.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.core.management.commands.runserver import naiveip_re
from django.utils import timezone
from django.utils.translation import gettext as _

from branches import selectors as branch_selectors
from portal import jobs, selectors, tasks
from portal.celery import ensure_broker_folders

MANAGE = str(Path(settings.BASE_DIR) / "manage.py")
EVERY_INTERFACE = {"0", "0.0.0.0", "[::]"}  # noqa: S104 - recognized, not bound to


def job_commands(loglevel="INFO"):
    """The worker and beat command lines, the same for both brokers."""
    celery = [sys.executable, "-m", "celery", "-A", "portal"]
    worker = [*celery, "worker", "--pool=solo", f"--loglevel={loglevel}", "--hostname=portal@%h"]
    if not settings.REDIS_URL:
        worker += ["--without-mingle", "--without-gossip", "--without-heartbeat"]
    beat = [*celery, "beat", f"--loglevel={loglevel}"]
    return worker, beat


def served_base_url(addrport):
    """The address `runserver addrport` answers at, as links in emails must name it."""
    match = naiveip_re.match(addrport)
    if match is None:
        raise CommandError(_("“%(addrport)s” is not a port or an address:port pair.") % {"addrport": addrport})
    host = match["addr"] or "127.0.0.1"
    if host in EVERY_INTERFACE:  # others reach it by the machine's name
        host = socket.gethostname()
    return f"http://{host}:{match['port']}"


def child_environment(addrport):
    """The children's environment: emails link to the address served, unless PORTAL_BASE_URL names another."""
    env = dict(os.environ)
    if not env.get("PORTAL_BASE_URL"):
        env["PORTAL_BASE_URL"] = served_base_url(addrport)
    return env


def catch_up_tasks(today):
    """The jobs started at once rather than at their hour, so that a fresh `make run` shows their results: the
    reminders (the run is idempotent, and a new user sees them without waiting for 7:00), and the integrity signals
    and the day's figures when none are there yet (a second start queues neither again)."""
    due = [tasks.send_reminders]
    if not branch_selectors.integrity_signals_computed(today.year):
        due.append(tasks.refresh_integrity_signals)
    if not selectors.daily_figures_taken(today):
        due.append(tasks.take_daily_figures)
    return due


class Command(BaseCommand):
    help = "Serve the portal with its scheduled jobs (web server, Celery worker and beat); Ctrl-C stops all three."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--no-jobs", action="store_true", help="serve pages only, without worker and beat")

    def handle(self, *args, addrport, no_jobs, **options):
        ensure_broker_folders()
        env = child_environment(addrport)
        commands = [[sys.executable, MANAGE, "runserver", addrport]]
        if not no_jobs:
            commands += job_commands()
            broker = settings.REDIS_URL or _("the folder broker in %(path)s") % {"path": settings.CELERY_BROKER_DIR}
            self.stdout.write(_("Jobs: a Celery worker and beat on %(broker)s.") % {"broker": broker})
            self.stdout.write(
                _("Links in reminder emails point to %(url)s (PORTAL_BASE_URL sets another address).")
                % {"url": env["PORTAL_BASE_URL"]}
            )
        # Asked to stop (SIGTERM here, or Ctrl-C, which the terminal sends to all of us): set up before
        # anything starts, so that no process is ever left behind.
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_args: stopping.append(True))
        # Ctrl-C as a flag too, whatever this process inherited (a parent that ignores SIGINT passes that on).
        signal.signal(signal.SIGINT, lambda *_args: stopping.append(True))
        processes = []
        ended = None
        try:
            processes = [subprocess.Popen(command, env=env) for command in commands]
            if not no_jobs:
                for task in catch_up_tasks(timezone.localdate()):
                    jobs.enqueue(task)
            while not stopping and ended is None:
                ended = next((p for p in processes if p.poll() is not None), None)
                time.sleep(0.5)
            if ended is not None and not stopping:
                time.sleep(1)  # Ctrl-C reaches the whole group: a child may have stopped just before we heard it
        except KeyboardInterrupt:
            stopping.append(True)
        finally:
            _stop(processes)
        if ended is not None and not stopping:
            raise CommandError(
                _("%(command)s stopped (exit code %(code)s), so the others were stopped too.")
                % {"command": " ".join(ended.args[1:4]), "code": ended.returncode}
            )


def _stop(processes, grace=15):
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
