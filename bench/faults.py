"""Fault scenarios: the portal under load while its database, its queue, its worker or its upload disk fail.

    bench/faults [--seconds 60] [--secretaries 50] [--reviewers 10] [--orgs 300] [--down 5] [--only NAME ...]

Everything runs against services of its own, started here and torn down at the end even on failure: a private
PostgreSQL 15 cluster (initdb under /tmp, run as the `postgres` user, a free loopback port), a private
`redis-server` (nothing saved), gunicorn with deploy/gunicorn.conf.py, `celery -A portal worker` and `celery -A
portal beat`; the uploads folder (MEDIA_ROOT) is a small tmpfs mounted for the run. The machine's shared
PostgreSQL and Redis are never touched.

Scenarios, each with a printed verdict (`fault_<name>_recovered: yes/no`, `fault_<name>_lost: N`,
`fault_<name>_duplicated: N`):

- pg_restart: the load of bench/load for --seconds; a third of the way in PostgreSQL is stopped, kept down
  --down seconds and started again. Requests during the outage must fail with a Chinese error page, never a
  traceback; the same gunicorn, worker and beat must serve again; every accepted meeting whole, nothing half-written.
- redis_stop: Redis stopped; every page of a secretary, a reviewer and an administrator must answer, a meeting must
  save, and a reminder run asked for on the jobs page is recorded. Redis started again: that run must complete by
  itself (the periodic tick, set to every minute for the run instead of five), and the worker must take new jobs.
- worker_reminders: the reminder job on the worker; its process killed (SIGKILL) while the run is writing. The task
  goes back to the queue and runs again: a completed run, no notification twice, none missing (a dry run plans 0).
- worker_import: a workbook adding members uploaded and applied as a job; the worker killed during the apply. The
  next run (the requeued task, or the administrator applying again) must complete: every new member exactly once.
- uploads_readonly, uploads_full: the uploads filesystem remounted read-only, then filled up; a meeting with a file
  is submitted. A clear message in Chinese (no traceback), no meeting half-saved, no record pointing at a missing
  file; once the disk is back the same submission saves.
"""

import io
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

from bench import live  # noqa: E402 (after the project is on the path)
from bench import load as bench_load  # noqa: E402

SCENARIOS = ("pg_restart", "redis_stop", "worker_reminders", "worker_import", "uploads_readonly", "uploads_full")
NEW_MEMBERS = 3000  # rows the import adds: enough for the apply to take seconds


def yes(flag):
    return "yes" if flag else "no"


class Faults:
    def __init__(self, args):
        self.args = args
        self.scratch = Path(tempfile.mkdtemp(prefix="portal-faults-"))
        self.media = self.scratch / "media"
        self.media.mkdir()
        self.mounted = False
        self.pg = live.PrivatePostgres()
        self.redis = live.PrivateRedis()
        self.stack = None
        self.people = None

    # Set-up and tear-down

    def mount(self):
        """A small tmpfs for the uploads, so that it can be remounted read-only and filled, as root or not."""
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(self.media)], capture_output=True)
        self.mounted = done.returncode == 0
        return self.mounted

    def remount(self, mode):
        subprocess.run(["mount", "-o", f"remount,{mode}", str(self.media)], check=True)

    def open(self):
        self.mount()
        self.pg.init()
        self.redis.start()
        env = bench_load.environment(self.pg.url, self.redis.url, self.media)
        env["WORKBOOK_INLINE_MAX_KB"] = "0"  # every workbook is checked and applied by the worker
        os.environ.update(DATABASE_URL=self.pg.url, MEDIA_ROOT=str(self.media), REDIS_URL=self.redis.url)
        bench_load.seed(self.pg.url, self.args.orgs, env, recreate=False)
        self.people = bench_load.cast(self.args.secretaries, self.args.reviewers, admin=True)
        from django_celery_beat.models import IntervalSchedule, PeriodicTask

        # The tick that starts runs the queue never took: every minute for the bench instead of five.
        minute, _created = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.MINUTES)
        PeriodicTask.objects.filter(task="portal.deliver_notifications").update(interval=minute)
        self.workers = self.args.workers or 2 * (os.cpu_count() or 1) + 1
        self.stack = bench_load.Stack(env, self.workers, self.scratch).start()

    def close(self):
        if self.stack is not None:
            self.stack.close()
        self.redis.stop()
        self.pg.close()
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.media)], check=False)
        if self.args.keep:
            print(f"fault_logs: {self.scratch}")
        else:
            subprocess.run(["rm", "-rf", str(self.scratch)], check=False)

    # Helpers

    def base(self):
        return self.stack.base

    def fresh_db(self):
        from django.db import connection

        connection.close()

    def submit(self, cookie, branch):
        """One meeting with a file, posted as the form does: (answer or None, tag)."""
        run = bench_load.Run()
        session = bench_load.session_of(cookie)
        form_url = f"{self.base()}/orgs/{branch}/meetings/new/?type=party_lecture"
        page = bench_load.timed(run, session, "meeting_form", "GET", form_url)
        if page is None or page.status_code != 200:
            return page, None
        members = bench_load.PRESENT.findall(page.text)
        tag = f"{bench_load.TOPIC} {uuid.uuid4().hex[:12]}"
        data = {
            "csrfmiddlewaretoken": live.TOKEN.search(page.text).group(1),
            "meeting_type": "party_lecture",
            "held_at": bench_load.HELD_AT.search(page.text).group(1),
            "place": "党员活动室",
            "host": "书记",
            "topic": tag,
            "minutes": "故障演练。",
            **{f"present_{pk}": "on" for pk in members},
        }
        answer = bench_load.timed(
            run,
            session,
            "meeting_post",
            "POST",
            form_url,
            data=data,
            files=[("files", ("签到表.png", bench_load.png(tag), "image/png"))],
            headers={"Referer": form_url},
        )
        return answer, tag

    def saved(self, answer):
        return answer is not None and answer.status_code == 302 and "?saved=1" in answer.headers.get("Location", "")

    def dangling_files(self):
        """Attachments whose file is not on disk."""
        from branches.models import Attachment

        self.fresh_db()
        return sum(1 for a in Attachment.objects.only("file") if not (self.media / a.file.name).is_file())

    def pool_child(self):
        """The worker's pool process (the one running tasks, concurrency 1)."""
        found = live.children(self.stack.worker.pid)
        return found[0] if found else None

    def kill_worker_when(self, condition, seconds=120):
        """SIGKILL the worker's pool process as soon as `condition()` holds; True if it was killed in time."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.fresh_db()
            if condition():
                pid = self.pool_child()
                if pid:
                    os.kill(pid, signal.SIGKILL)
                    return True
            time.sleep(0.02)
        return False

    # Scenarios

    def pg_restart(self):
        args = self.args
        box = {}
        loader = threading.Thread(
            target=lambda: box.update(run=bench_load.drive(self.base(), self.people, args.seconds, args.think))
        )
        loader.start()
        time.sleep(args.seconds / 3)
        down_at = time.monotonic()
        self.pg.stop()
        time.sleep(args.down)
        self.pg.start()
        up_at = time.monotonic()
        loader.join()
        run = box["run"]
        counts = bench_load.check(run, self.media)
        late = [t for t in run.tally.failed_at if t > up_at + 5]
        late_kinds = [e for t, e in zip(run.tally.failed_at, run.tally.errors, strict=True) if t > up_at + 5]
        kinds = "; ".join(f"{kind} ×{n}" for kind, n in Counter(run.tally.errors).most_common(8))
        during = [t for t in run.tally.failed_at if down_at <= t <= up_at + 5]
        pages = run.error_pages
        clear = [body for _status, body in pages if bench_load.error_page_ok(body)]
        answer, _tag = self.submit(*self.people.secretaries[0])
        alive = all(p.poll() is None for p in (self.stack.web, self.stack.worker, self.stack.beat))
        recovered = not late and self.saved(answer) and alive
        times = run.tally.all_times()
        return [
            f"fault_pg_restart_down_s: {up_at - down_at:.1f}",
            f"fault_pg_restart_requests: {run.requests}",
            f"fault_pg_restart_p95_ms: {live.percentile(times, 0.95):.1f}",
            f"fault_pg_restart_errors_during_outage: {len(during)}",
            f"fault_pg_restart_errors_after_recovery: {len(late)} {'; '.join(sorted(set(late_kinds))[:3])}".rstrip(),
            f"fault_pg_restart_error_kinds: {kinds}",
            f"fault_pg_restart_error_pages: {len(pages)} ({len(clear)} in Chinese without a traceback)",
            f"fault_pg_restart_error_page_ok: {yes(len(clear) == len(pages))}",
            f"fault_pg_restart_processes_alive: {yes(alive)} (the same gunicorn, worker and beat)",
            f"fault_pg_restart_recovered: {yes(recovered)}",
            f"fault_pg_restart_accepted: {counts['accepted']}",
            f"fault_pg_restart_unconfirmed: {counts['unconfirmed_in']} in, {counts['unconfirmed_out']} not in",
            f"fault_pg_restart_lost: {counts['lost']}",
            f"fault_pg_restart_duplicated: {counts['duplicated']}",
            f"fault_pg_restart_half_written: {counts['half_written']}",
        ]

    def redis_stop(self):
        from portal.models import ReminderRun, ReminderRunState

        base, root, people = self.base(), self.people.root, self.people
        cookie, branch = people.secretaries[1]
        secretary = [
            f"/orgs/{branch}/meetings/owed/",
            f"/orgs/{branch}/meetings/",
            f"/orgs/{branch}/meetings/new/?type=party_lecture",
            f"/orgs/{branch}/",
            "/",
            "/inbox/",
        ]
        pages, exports = bench_load.reviewer_pages(base, root)
        reviewer = [url[len(base) :] for _name, url in [*pages, *exports]]
        reviewer += [f"/dashboard/{root}/", f"/orgs/{root}/", "/orgs/", f"/work/{root}/todo/"]
        admin = ["/jobs/", f"/orgs/{root}/import/", "/inbox/"]
        self.redis.stop()
        try:
            run = bench_load.Run()
            failed = []
            for who, urls in ((cookie, secretary), (people.reviewers[0], reviewer), (people.admin, admin)):
                session = bench_load.session_of(who)
                for url in urls:
                    answer = bench_load.timed(run, session, "page", "GET", base + url)
                    if answer is None or answer.status_code != (302 if url == "/" else 200):  # "/" sends on
                        failed.append(f"{url} {answer.status_code if answer is not None else 'no answer'}")
            answer, tag = self.submit(cookie, branch)
            meeting_saved = self.saved(answer)
            session = bench_load.session_of(people.admin)
            jobs = session.get(f"{base}/jobs/", timeout=30)
            asked = session.post(
                f"{base}/jobs/",
                data={"csrfmiddlewaretoken": live.TOKEN.search(jobs.text).group(1)},
                headers={"Referer": f"{base}/jobs/"},
                timeout=30,
            )
            self.fresh_db()
            queued = ReminderRun.objects.filter(state=ReminderRunState.QUEUED).order_by("-pk").first()
            slowest = max(run.tally.all_times(), default=0)
        finally:
            self.redis.start()
        deadline = time.monotonic() + 240
        done = False
        while queued is not None and time.monotonic() < deadline and not done:
            time.sleep(2)
            self.fresh_db()
            done = ReminderRun.objects.filter(pk=queued.pk, state=ReminderRunState.DONE).exists()
        caught_up = time.monotonic()
        # And the worker takes new jobs: a reminder run asked for now starts at once.
        from portal import tasks

        last = ReminderRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        tasks.send_reminders.apply_async()
        fresh = False
        while time.monotonic() < caught_up + 60 and not fresh:
            time.sleep(1)
            self.fresh_db()
            fresh = ReminderRun.objects.filter(pk__gt=last, state=ReminderRunState.DONE).exists()
        from branches.models import Meeting

        self.fresh_db()
        in_db = Meeting.objects.filter(topic=tag).count() if tag else 0
        return [
            f"fault_redis_stop_pages: {len(secretary) + len(reviewer) + len(admin)}",
            f"fault_redis_stop_pages_failed: {len(failed)} {'; '.join(failed[:5])}".rstrip(),
            f"fault_redis_stop_slowest_page_ms: {slowest:.0f}",
            f"fault_redis_stop_meeting_saved: {yes(meeting_saved)}",
            f"fault_redis_stop_run_recorded: {yes(queued is not None and asked.status_code == 200)}",
            f"fault_redis_stop_run_caught_up: {yes(done)}",
            f"fault_redis_stop_worker_takes_jobs: {yes(fresh)}",
            f"fault_redis_stop_recovered: {yes(not failed and meeting_saved and done and fresh)}",
            f"fault_redis_stop_lost: {(0 if done else 1) + (0 if in_db or not meeting_saved else 1)}",
            f"fault_redis_stop_duplicated: {max(0, in_db - 1)}",
        ]

    def worker_reminders(self):
        from django.db.models import Count

        from portal import services, tasks
        from portal.models import Notification, ReminderRun, ReminderRunState

        self.fresh_db()
        last = ReminderRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        Notification.objects.all().delete()  # the run has everything to write again: the longest run
        tasks.send_reminders.apply_async()
        killed = self.kill_worker_when(
            lambda: ReminderRun.objects.filter(pk__gt=last, state=ReminderRunState.RUNNING).exists()
        )
        deadline = time.monotonic() + 180
        done = False
        while time.monotonic() < deadline and not done:
            time.sleep(1)
            self.fresh_db()
            done = ReminderRun.objects.filter(pk__gt=last, state=ReminderRunState.DONE).exists()
        self.fresh_db()
        runs = dict(
            ReminderRun.objects.filter(pk__gt=last)
            .values_list("state")
            .annotate(n=Count("pk"))
            .values_list("state", "n")
        )
        twice = (
            Notification.objects.values("kind", "subject", "recipient", "window")
            .annotate(n=Count("pk"))
            .filter(n__gt=1)
            .count()
        )
        missing = services.reminders_send(dry_run=True).created_total if done else -1
        return [
            f"fault_worker_reminders_killed_while_running: {yes(killed)}",
            f"fault_worker_reminders_runs: {', '.join(f'{k} {v}' for k, v in sorted(runs.items()))}",
            f"fault_worker_reminders_notifications: {Notification.objects.count()}",
            f"fault_worker_reminders_recovered: {yes(killed and done)}",
            f"fault_worker_reminders_lost: {missing} (what a dry run would still create)",
            f"fault_worker_reminders_duplicated: {twice}",
        ]

    def workbook(self):
        """The county exported as the import workbook, without its cadres, with NEW_MEMBERS members added (copies
        of existing rows with new member IDs and names): bytes, and the new IDs."""
        import openpyxl

        from branches import workbook
        from branches.models import Organization

        root = Organization.objects.get(pk=self.people.root)
        book = openpyxl.load_workbook(io.BytesIO(workbook.export(root)))
        sheet = book.worksheets[1]  # 组织, 党员, 干部
        header = [cell.value for cell in sheet[1]]
        rows = [list(row) for row in sheet.iter_rows(min_row=2, values_only=True) if row[0]]
        stamp = uuid.uuid4().hex[:6].upper()
        numbers = []
        for n in range(NEW_MEMBERS):
            row = list(rows[n % len(rows)])
            row[0] = f"LD{stamp}{n:05d}"
            row[1] = f"压测{n:05d}"
            numbers.append(row[0])
            sheet.append(row)
        assert header[0] and header[1]
        # The cadres sheet is left out: the demo's committee cadres are members of branches below, which the
        # import refuses ("no member with that ID" in the committee), so an export does not round-trip as is.
        cadres = book.worksheets[2]
        cadres.delete_rows(2, cadres.max_row)
        out = io.BytesIO()
        book.save(out)
        return out.getvalue(), numbers

    def worker_import(self):
        from django.db.models import Count

        from branches.models import ImportState, Member, WorkbookImport

        base, root = self.base(), self.people.root
        self.fresh_db()
        content, numbers = self.workbook()
        session = bench_load.session_of(self.people.admin)
        url = f"{base}/orgs/{root}/import/"
        page = session.get(url, timeout=30)
        answer = session.post(
            url,
            data={"csrfmiddlewaretoken": live.TOKEN.search(page.text).group(1)},
            files={"file": ("党员名册.xlsx", content)},
            headers={"Referer": url},
            allow_redirects=False,
            timeout=120,
        )
        record = WorkbookImport.objects.order_by("-pk").first()
        deadline = time.monotonic() + 180
        while record and time.monotonic() < deadline:
            self.fresh_db()
            record.refresh_from_db()
            if record.state != ImportState.UPLOADED and record.state != ImportState.CHECKING:
                break
            time.sleep(1)
        if record is None or record.state != ImportState.CHECKED:
            state = record.state if record else f"upload answered {answer.status_code}"
            said = bench_load.first_message(answer.text) if answer.status_code == 200 else ""
            return [f"fault_worker_import_recovered: no (the import was not checked: {state} {said})"]
        detail = f"{base}/orgs/imports/{record.pk}/"
        page = session.get(detail, timeout=30)
        session.post(
            f"{detail}apply/",
            data={"csrfmiddlewaretoken": live.TOKEN.search(page.text).group(1)},
            headers={"Referer": detail},
            allow_redirects=False,
            timeout=60,
        )
        killed = self.kill_worker_when(
            lambda: WorkbookImport.objects.filter(pk=record.pk, state=ImportState.APPLYING, progress__gt=0).exists()
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            time.sleep(2)
            self.fresh_db()
            record.refresh_from_db()
            if record.state not in (ImportState.APPLYING,):
                break
        first_state = record.state
        again = ""
        if record.state != ImportState.APPLIED:
            # The administrator applies again from the import's page, as the page offers.
            page = session.get(detail, timeout=30)
            token = live.TOKEN.search(page.text)
            reply = session.post(
                f"{detail}apply/",
                data={"csrfmiddlewaretoken": token.group(1) if token else ""},
                headers={"Referer": detail},
                allow_redirects=True,
                timeout=60,
            )
            again = f"applied again: {reply.status_code}"
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                time.sleep(2)
                self.fresh_db()
                record.refresh_from_db()
                if record.state != ImportState.APPLYING:
                    break
        self.fresh_db()
        record.refresh_from_db()
        present = Member.objects.filter(number__in=numbers)
        twice = present.values("number").annotate(n=Count("pk")).filter(n__gt=1).count()
        distinct = present.values("number").distinct().count()
        applied = record.state == ImportState.APPLIED
        return [
            f"fault_worker_import_rows_added: {len(numbers)} ({len(content) // 1024} KB)",
            f"fault_worker_import_killed_while_applying: {yes(killed)}",
            f"fault_worker_import_state_after_kill: {first_state} {again}".rstrip(),
            f"fault_worker_import_state: {record.state}",
            f"fault_worker_import_recovered: {yes(killed and applied)}",
            f"fault_worker_import_lost: {len(numbers) - distinct if applied else len(numbers)}",
            f"fault_worker_import_duplicated: {twice}",
        ]

    def _uploads(self, name, break_disk, mend_disk):
        from branches.models import Meeting

        cookie, branch = self.people.secretaries[2]
        break_disk()
        try:
            answer, tag = self.submit(cookie, branch)
        finally:
            mend_disk()
        self.fresh_db()
        written = Meeting.objects.filter(topic=tag).count() if tag else 0
        body = answer.text if answer is not None else ""
        status = answer.status_code if answer is not None else "no answer"
        clear = answer is not None and not self.saved(answer) and bench_load.error_page_ok(body)
        again, tag_again = self.submit(cookie, branch)
        self.fresh_db()
        saved_again = self.saved(again) and Meeting.objects.filter(topic=tag_again).count() == 1
        dangling = self.dangling_files()
        message = bench_load.first_message(body)
        return [
            f"fault_{name}_answer: {status} {message}".rstrip(),
            f"fault_{name}_message_ok: {yes(clear)} (refused, in Chinese, no traceback)",
            f"fault_{name}_meetings_written: {written}",
            f"fault_{name}_records_without_file: {dangling}",
            f"fault_{name}_recovered: {yes(saved_again)}",
            f"fault_{name}_lost: {0 if saved_again else 1}",
            f"fault_{name}_duplicated: {max(0, written)}",
        ]

    def uploads_readonly(self):
        if not self.mounted:
            return ["fault_uploads_readonly_recovered: skipped (tmpfs could not be mounted)"]
        return self._uploads("uploads_readonly", lambda: self.remount("ro"), lambda: self.remount("rw"))

    def uploads_full(self):
        if not self.mounted:
            return ["fault_uploads_full_recovered: skipped (tmpfs could not be mounted)"]
        filler = self.media / "filler"

        def fill():
            try:
                with open(filler, "wb", buffering=0) as out:
                    while True:
                        out.write(b"\0" * 65536)
            except OSError:
                pass  # full

        return self._uploads("uploads_full", fill, lambda: filler.unlink(missing_ok=True))


def main():
    parser = bench_load.arguments(__doc__.splitlines()[0])
    parser.add_argument("--down", type=float, default=5, help="seconds PostgreSQL stays down (default 5)")
    parser.add_argument("--keep", action="store_true", help="keep the logs (gunicorn, celery) and print where")
    parser.add_argument("--only", nargs="*", choices=SCENARIOS, default=list(SCENARIOS))
    args = parser.parse_args()
    faults = Faults(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # tear down on a plain kill too
    try:
        faults.open()
        print(f"fault_users: {args.secretaries + args.reviewers}", flush=True)
        for name in args.only:
            try:
                lines = getattr(faults, name)()
            except Exception as error:  # noqa: BLE001 (a scenario that breaks is a verdict, not the end)
                lines = [f"fault_{name}_recovered: no (the scenario broke: {error!r})"[:300]]
            print("\n".join(lines), flush=True)
    finally:
        faults.close()


if __name__ == "__main__":
    main()
