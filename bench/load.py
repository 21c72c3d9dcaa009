"""Load bench: secretaries logging meetings and reviewers reading, against gunicorn with the worker and beat running.

    bench/load [--seconds 60] [--secretaries 50] [--reviewers 10] [--orgs 300] [--think 1.0] [--workers N]

Recreates a throw-away PostgreSQL database (BENCH_LOAD_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/portal_load), migrates it, seeds a demo county (`seed_demo --orgs N --seed 1
--quiet-logins`), gives each simulated person a user of their own (a secretary per branch, reviewers at the county
root) signed in with a session, then starts on loopback: gunicorn with deploy/gunicorn.conf.py, `celery -A portal
worker` and `celery -A portal beat` (Redis: REDIS_URL, default redis://127.0.0.1:6379/6). For `--seconds`, each
secretary opens the meeting form (GET, for the form token and the attendance list), posts a meeting with its
attendance (one member absent with a reason) and a scanned page (a PNG), as the browser does, then opens the
saved record; each reviewer reads the compliance table, the three lists and an export (CSV or XLSX in turn).
Everyone waits `--think` seconds (± half) between requests.

Afterwards every accepted submission is looked for in the database: exactly one meeting, its attendance as posted,
its file on disk with the size sent. Prints `name: value` lines (see bench/README.md, "Load").
"""

import argparse
import os
import random
import re
import shutil
import struct
import sys
import tempfile
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

from bench import live  # noqa: E402 (after the project is on the path)
from bench.run import manage, recreate_database  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/portal_load"
DEFAULT_REDIS = "redis://127.0.0.1:6379/6"
TOPIC = "压测会议"  # every meeting the bench logs starts with it, then its own tag
PRESENT = re.compile(r'name="present_(\d+)"')
HELD_AT = re.compile(r'name="held_at" value="([^"]+)"')
SAVED = re.compile(r"/orgs/meetings/(\d+)/\?saved=1$")
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def png(seed):
    """A small real PNG (4×4, grey levels from `seed`): the upload check sniffs content, not names."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rng = random.Random(seed)
    rows = b"".join(b"\x00" + bytes(rng.randrange(256) for _ in range(4)) for _ in range(4))
    header = struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@dataclass
class Cast:
    root: int
    secretaries: list  # (session cookie, branch pk)
    reviewers: list  # session cookies
    admin: str = ""  # an administrator of the whole county, for the fault scenarios


@dataclass
class Submission:
    tag: str
    branch: int
    meeting: int | None
    present: set
    absent: dict
    size: int


@dataclass
class Run:
    tally: live.Tally = field(default_factory=live.Tally)
    accepted: list = field(default_factory=list)
    unconfirmed: list = field(default_factory=list)  # posted, but no answer saying saved or refused
    error_pages: list = field(default_factory=list)  # (status, body) of 5xx answers
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self):
        with self.lock:
            self.requests += 1


def environment(database_url, redis_url, media):
    env = dict(os.environ, DATABASE_URL=database_url, MEDIA_ROOT=str(media), LOG_LEVEL="WARNING")
    env["PORTAL_VAR_DIR"] = str(Path(media).parent / "var")
    if redis_url:
        env["REDIS_URL"] = redis_url
    else:
        env.pop("REDIS_URL", None)
    return env


def seed(database_url, orgs, env, recreate=True):
    if recreate:
        recreate_database(database_url)
    manage("migrate", "--noinput", "-v0", env=env)
    manage("seed_demo", "--orgs", str(orgs), "--seed", "1", "--quiet-logins", "-v0", env=env)


def cast(secretaries, reviewers, admin=False):
    """Users of their own, signed in: a secretary on each of `secretaries` branches, reviewers at the root."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db.models import Count, Q
    from django.test import Client
    from django.utils import timezone

    from branches import access, demo
    from branches.models import Organization, OrganizationKind, Role
    from branches.services import role_assign

    system = access.system_user()
    root = Organization.objects.get(code=demo.ROOT_CODE)
    today = timezone.localdate()
    branches = list(
        Organization.objects.filter(kind=OrganizationKind.BRANCH, dissolved_on=None, founded_on__lt=today)
        .annotate(current=Count("members", filter=Q(members__left_on=None)))
        .filter(current__gte=3)
        .order_by("path")[:secretaries]
    )
    if len(branches) < secretaries:
        raise SystemExit(f"only {len(branches)} branches with members: seed more organizations")
    User = get_user_model()
    backend = "django.contrib.auth.backends.ModelBackend"

    def signed_in(username, organization, role):
        user, _created = User.objects.get_or_create(username=username, defaults={"first_name": username})
        role_assign(user=user, organization=organization, role=role, by=system)
        client = Client()
        client.force_login(user, backend=backend)
        return client.cookies["sessionid"].value

    return Cast(
        root=root.pk,
        secretaries=[(signed_in(f"load-s{i}", b, Role.SECRETARY), b.pk) for i, b in enumerate(branches)],
        reviewers=[signed_in(f"load-r{i}", root, Role.REVIEWER) for i in range(reviewers)],
        admin=signed_in("load-admin", root, Role.ADMIN) if admin else "",
    )


def session_of(cookie):
    import requests

    session = requests.Session()
    session.cookies.set("sessionid", cookie, domain="127.0.0.1")
    return session


def timed(run, session, name, method, url, **kwargs):
    """One request, timed under `name`; an exception or a 5xx is an error (5xx bodies kept for the checks)."""
    started = time.perf_counter()
    try:
        answer = session.request(method, url, timeout=30, allow_redirects=False, **kwargs)
    except Exception as error:  # noqa: BLE001 (a refused connection is an error like any other)
        run.count()
        run.tally.error(f"{name}: {type(error).__name__}")
        return None
    run.count()
    run.tally.time(name, (time.perf_counter() - started) * 1000)
    if answer.status_code >= 500:
        run.tally.error(f"{name}: {answer.status_code}")
        with run.lock:
            run.error_pages.append((answer.status_code, answer.text))
    return answer


def secretary(base, cookie, branch, run, until, think, rng):
    session = session_of(cookie)
    form_url = f"{base}/orgs/{branch}/meetings/new/?type=party_lecture"
    while time.monotonic() < until:
        page = timed(run, session, "meeting_form", "GET", form_url)
        if page is None or page.status_code != 200:
            if page is not None and page.status_code < 500:
                run.tally.error(f"meeting_form: {page.status_code}")
            time.sleep(think * rng.uniform(0.5, 1.5))
            continue
        token = live.TOKEN.search(page.text).group(1)
        members = PRESENT.findall(page.text)
        absent = {members[0]: rng.choice(["official", "sick", "personal"])} if len(members) > 1 else {}
        tag = f"{TOPIC} {uuid.uuid4().hex[:12]}"
        data = {
            "csrfmiddlewaretoken": token,
            "meeting_type": "party_lecture",
            "held_at": HELD_AT.search(page.text).group(1),
            "place": "党员活动室",
            "host": "书记",
            "topic": tag,
            "minutes": "学习党的二十届三中全会精神，结合本支部实际开展讨论。",
        }
        data.update({f"present_{pk}": "on" for pk in members if pk not in absent})
        data.update({f"reason_{pk}": reason for pk, reason in absent.items()})
        scan = png(tag)
        time.sleep(think * rng.uniform(0.5, 1.5))
        answer = timed(
            run,
            session,
            "meeting_post",
            "POST",
            form_url,
            data=data,
            files=[("files", ("签到表.png", scan, "image/png"))],
            headers={"Referer": form_url},
        )
        saved = answer is not None and answer.status_code == 302 and SAVED.search(answer.headers.get("Location", ""))
        submission = Submission(
            tag=tag,
            branch=branch,
            meeting=int(saved.group(1)) if saved else None,
            present={int(pk) for pk in members if pk not in absent},
            absent={int(pk): reason for pk, reason in absent.items()},
            size=len(scan),
        )
        with run.lock:
            if saved:
                run.accepted.append(submission)
            elif answer is None or answer.status_code >= 500:
                run.unconfirmed.append(submission)  # it may or may not be in: the check says which
        if answer is not None and answer.status_code < 500 and not saved:
            run.tally.error(f"meeting_post: {answer.status_code} not saved")
        if saved:
            detail = timed(run, session, "meeting_detail", "GET", f"{base}{answer.headers['Location']}")
            if detail is not None and detail.status_code != 200 and detail.status_code < 500:  # 5xx: counted
                run.tally.error(f"meeting_detail: {detail.status_code}")
        time.sleep(think * rng.uniform(0.5, 1.5))


def reviewer_pages(base, root):
    compliance, lists = f"{base}/orgs/{root}/compliance/", f"{base}/work/{root}/three-lists/"
    pages = [("compliance", compliance)]
    pages += [("three_lists", f"{lists}?list={which}") for which in ("problems", "duties", "rectifications")]
    exports = [("export", f"{compliance}?format=csv"), ("export", f"{lists}?list=problems&format=xlsx")]
    return pages, exports


def reviewer(base, cookie, root, run, until, think, rng):
    session = session_of(cookie)
    pages, exports = reviewer_pages(base, root)
    turn = 0
    while time.monotonic() < until:
        for name, url in [*pages, exports[turn % len(exports)]]:
            if time.monotonic() >= until:
                break
            answer = timed(run, session, name, "GET", url)
            if answer is not None and answer.status_code != 200 and answer.status_code < 500:
                run.tally.error(f"{name}: {answer.status_code}")
            time.sleep(think * rng.uniform(0.5, 1.5))
        turn += 1


def drive(base, people, seconds, think, seed=1):
    """Every secretary and reviewer of `people` at once for `seconds`; the Run."""
    run = Run()
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(target=secretary, args=(base, cookie, branch, run, until, think, random.Random(f"{seed}s{i}")))
        for i, (cookie, branch) in enumerate(people.secretaries)
    ]
    threads += [
        threading.Thread(
            target=reviewer, args=(base, cookie, people.root, run, until, think, random.Random(f"{seed}r{i}"))
        )
        for i, cookie in enumerate(people.reviewers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return run


def check(run, media):
    """Each accepted submission in the database exactly once, with its attendance and its file on disk; and
    nothing of the bench's half-written. Returns a dict of counts."""
    from django.db import close_old_connections, connection

    close_old_connections()
    connection.close()  # the server may have restarted under this process's connection
    from branches.models import Meeting

    found = {}
    meetings = Meeting.objects.filter(topic__startswith=TOPIC).prefetch_related("attendance", "attachments")
    for meeting in meetings:
        found.setdefault(meeting.topic, []).append(meeting)

    def whole(meeting, submission=None):
        rows = {a.member_id: (a.present, a.absence_reason) for a in meeting.attendance.all()}
        files = list(meeting.attachments.all())
        on_disk = [f for f in files if (Path(media) / f.file.name).is_file()]
        if not rows or len(files) != 1 or len(on_disk) != 1:
            return False
        if submission is None:
            return True
        posted = dict.fromkeys(submission.present, (True, "")) | {
            pk: (False, reason) for pk, reason in submission.absent.items()
        }
        return rows == posted and (Path(media) / files[0].file.name).stat().st_size == submission.size

    counts = {"accepted": len(run.accepted), "ok": 0, "lost": 0, "duplicated": 0, "half_written": 0}
    for submission in run.accepted:
        rows = found.get(submission.tag, [])
        if not rows:
            counts["lost"] += 1
        elif rows[0].pk == submission.meeting and len(rows) == 1 and whole(rows[0], submission):
            counts["ok"] += 1
        elif len(rows) == 1:
            counts["half_written"] += 1
    counts["duplicated"] = sum(len(rows) - 1 for rows in found.values())
    unconfirmed = {s.tag for s in run.unconfirmed}
    counts["unconfirmed_in"] = sum(1 for tag in unconfirmed if tag in found)
    counts["unconfirmed_out"] = len(unconfirmed) - counts["unconfirmed_in"]
    counts["half_written"] += sum(1 for tag in unconfirmed if tag in found and not whole(found[tag][0]))
    counts["meetings"] = sum(len(rows) for rows in found.values())
    return counts


def error_page_ok(body):
    """A server error as a person should see it: a heading in Chinese, no traceback."""
    heading = re.search(r"<h1[^>]*>(.*?)</h1>", body, re.S)
    return bool(heading and CHINESE.search(heading.group(1))) and "Traceback" not in body and 'File "' not in body


def first_message(body):
    """What a person reads first on an answer: the form's first error, else the page's heading (tags removed)."""
    found = re.search(r"data-error-summary>.*?<li>(.*?)</li>", body, re.S) or re.search(
        r"<h1[^>]*>(.*?)</h1>", body, re.S
    )
    return re.sub(r"<[^>]+>|\s+", " ", found.group(1)).strip()[:120] if found else body.strip()[:80]


class Stack:
    """gunicorn, the Celery worker and beat, on loopback, for one bench; stopped by close()."""

    def __init__(self, env, workers, logs):
        self.env, self.workers, self.logs = env, workers, logs
        self.port = live.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.web = self.worker = self.beat = None
        self.log = open(Path(logs) / "celery.log", "ab")  # noqa: SIM115 (open for the stack's life)
        self.web_log = open(Path(logs) / "gunicorn.log", "ab")  # noqa: SIM115

    def start(self, web_extra=()):
        self.worker = self.start_worker()
        self.beat = live.celery("beat", self.env, self.log, ["--schedule", str(Path(self.logs) / "beat-schedule")])
        self.web = live.serve(self.port, self.workers, self.env, web_extra, log=self.web_log)
        return self

    def start_worker(self):
        return live.celery("worker", self.env, self.log, ["--concurrency", "1", "-n", f"bench{self.port}@%h"])

    def close(self):
        for process in (self.web, self.beat, self.worker):
            live.stop(process)
        self.log.close()
        self.web_log.close()


def lines(prefix, args, workers, floor, run, elapsed, counts):
    times = run.tally.all_times()
    p50, p95, p99 = (live.percentile(times, share) for share in (0.5, 0.95, 0.99))
    out = [
        f"{prefix}_secretaries: {args.secretaries}",
        f"{prefix}_reviewers: {args.reviewers}",
        f"{prefix}_users: {args.secretaries + args.reviewers}",
        f"{prefix}_seconds: {elapsed:.1f}",
        f"{prefix}_think_s: {args.think:g}",
        f"{prefix}_gunicorn_workers: {workers}",
        f"{prefix}_trivial_view_ms: {floor:.2f}",
        f"{prefix}_requests: {run.requests}",
        f"{prefix}_throughput_rps: {run.requests / elapsed:.1f}",
        f"{prefix}_p50_ms: {p50:.1f} ({p50 / floor:.0f}x {prefix}_trivial_view)",
        f"{prefix}_p95_ms: {p95:.1f} ({p95 / floor:.0f}x {prefix}_trivial_view)",
        f"{prefix}_p99_ms: {p99:.1f} ({p99 / floor:.0f}x {prefix}_trivial_view)",
    ]
    for name in ("meeting_form", "meeting_post", "meeting_detail", "compliance", "three_lists", "export"):
        values = run.tally.times.get(name, [])
        out.append(
            f"{prefix}_{name}: n={len(values)} p50={live.percentile(values, 0.5):.1f} "
            f"p95={live.percentile(values, 0.95):.1f} ms"
        )
    errors = sorted(set(run.tally.errors))[:5]
    out += [
        f"{prefix}_errors: {len(run.tally.errors)} {'; '.join(errors)}".rstrip(),
        f"{prefix}_submissions_accepted: {counts['accepted']}",
        f"{prefix}_submissions_whole: {counts['ok']} (once, attendance as posted, file on disk)",
        f"{prefix}_lost: {counts['lost']}",
        f"{prefix}_duplicated: {counts['duplicated']}",
        f"{prefix}_half_written: {counts['half_written']}",
    ]
    return out


def arguments(description, seconds=60, secretaries=50, reviewers=10):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seconds", type=float, default=seconds)
    parser.add_argument("--secretaries", type=int, default=secretaries)
    parser.add_argument("--reviewers", type=int, default=reviewers)
    parser.add_argument("--orgs", type=int, default=300, help="demo county size (default 300)")
    parser.add_argument("--think", type=float, default=1.0, help="seconds between a person's requests (± half)")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: the deploy's)")
    return parser


def main():
    args = arguments(__doc__.splitlines()[0]).parse_args()
    database_url = os.environ.get("BENCH_LOAD_DATABASE_URL", DEFAULT_URL)
    redis_url = os.environ.get("REDIS_URL", DEFAULT_REDIS)
    workers = args.workers or 2 * (os.cpu_count() or 1) + 1
    scratch = Path(tempfile.mkdtemp(prefix="portal-load-"))
    media = scratch / "media"
    media.mkdir()
    env = environment(database_url, redis_url, media)
    os.environ.update(DATABASE_URL=database_url, MEDIA_ROOT=str(media), REDIS_URL=redis_url)
    seed(database_url, args.orgs, env)
    people = cast(args.secretaries, args.reviewers)
    stack = Stack(env, workers, scratch)
    try:
        stack.start()
        floor = live.healthz_ms(stack.base)
        started = time.monotonic()
        run = drive(stack.base, people, args.seconds, args.think)
        elapsed = time.monotonic() - started
    finally:
        stack.close()
    counts = check(run, media)
    shutil.rmtree(scratch, ignore_errors=True)
    print("\n".join(lines("load", args, workers, floor, run, elapsed, counts)))


if __name__ == "__main__":
    main()
