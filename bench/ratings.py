"""Load bench of the voter's page: voters of one rating voting within a simulated five minutes, against a live gunicorn
(the production settings of deploy/gunicorn.conf.py) on loopback.

    DATABASE_URL=postgres://… .venv/bin/python bench/ratings.py [--voters 400] [--minutes 5] [--speed 10]
                                                                [--threads 32] [--workers N] [--resubmit 0.05]

Runs on the database of DATABASE_URL (migrated first; a root organization `BENCH-R` with one branch, a rubric,
a round and a rating go under it, added anew on every run). Issues the tickets, starts gunicorn on a free loopback
port, and lets each voter arrive at a random moment of the window (`--minutes`, played `--speed` times faster):
GET its ticket's page (which sets the form token), then POST the vote, as a phone would. A share of the voters
(`--resubmit`) submit their vote twice at once, as a double tap does. Budget (issue 16): p95 ≤ 200 ms, 0 lost,
0 double counts.

Prints `name: value` lines: the floor (`ratings_trivial_view_ms`: `GET /healthz/` on the same server, median),
p50/p95/max of the ballot page and of the vote with their ratio to the floor, the votes lost (a voter whose vote did
not end on the thank-you page or is not in the tables), the double counts (ballots beyond one per ticket spent) and
the requests refused. All requests come from 127.0.0.1, like a meeting's voters behind one venue network, so the
address budget is raised for the run (RATING_RATE_ADDRESS).
"""

import argparse
import os
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

from bench import live  # noqa: E402 (after the project is on the path)
from bench.live import TOKEN, free_port, percentile  # noqa: E402


def setup(voters):
    """A branch under a fresh root, a published rubric, a round and a rating of `voters` members; the plain codes."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from assessments import ratings, services
    from assessments.models import GradeBand, Indicator, Rubric, RubricState
    from branches import access
    from branches import services as branch_services
    from branches.models import OrganizationKind, Sector

    call_command("migrate", "--noinput", "-v0")
    system = access.system_user()
    stamp = str(int(time.time()))[-6:]
    root = branch_services.organization_create(
        parent=None,
        kind=OrganizationKind.COMMITTEE,
        data={"code": f"BENCH-R{stamp}", "name": f"评议压测{stamp}", "sector": Sector.ORGAN},
        by=system,
    )
    branch = branch_services.organization_create(
        parent=root,
        kind=OrganizationKind.BRANCH,
        data={"code": f"BENCH-R{stamp}-1", "name": f"评议压测支部{stamp}", "sector": Sector.ORGAN},
        by=system,
    )
    year = date.today().year
    rubric = Rubric.objects.create(
        code=f"bench-rating-{stamp}", title="评议压测细则", year=year, state=RubricState.PUBLISHED, levels=["branch"]
    )
    Indicator.objects.create(rubric=rubric, code="work", title="业务工作", kind="manual", max_points=100)
    GradeBand.objects.create(rubric=rubric, name="合格", min_points=0)
    assessment_round = services.round_open(
        rubric=rubric,
        root=root,
        period_start=date(year, 1, 1),
        period_end=date(year, 12, 31),
        self_assessment_due=date(year, 12, 20),
        review_due=date(year + 1, 1, 15),
        by=system,
    )
    services.round_score(round=assessment_round, by=system)
    now = timezone.now()
    members = voters - voters // 10
    rating = ratings.rating_save(
        round=assessment_round,
        organization=branch,
        setup=ratings.Setup(
            data={
                "kind": "report",
                "title": "书记抓基层党建工作述职评议（压测）",
                "subject": "张一",
                "opens_at": now - timedelta(minutes=5),
                "closes_at": now + timedelta(hours=2),
                "allow_comment": True,
            },
            questions=[
                {"text": "总体评价", "scale": "grades"},
                {"text": "联系服务群众", "scale": "five"},
                {"text": "作风建设", "scale": "grades"},
            ],
            audiences=[
                {"kind": "members", "weight": "80", "voters": members},
                {"kind": "public", "weight": "20", "voters": voters - members},
            ],
        ),
        by=system,
    )
    issue = ratings.tickets_issue(rating=rating, by=system)
    questions = [(str(q.pk), [value for value, _label in q.choices]) for q in rating.questions.all()]
    return rating, [ticket.code for ticket in issue.tickets], questions


def serve(port, workers):
    env = dict(os.environ, RATING_RATE_ADDRESS="100000/min", LOG_LEVEL="WARNING")
    env.pop("REDIS_URL", None)  # the throttle's cache in each worker's memory: no Redis needed for the bench
    return live.serve(port, workers, env)


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.pages, self.votes, self.refused, self.errors, self.voted = [], [], 0, [], 0

    def add(self, name, value):
        with self.lock:
            getattr(self, name).append(value)


def voter(base, code, questions, tally, rng, twice):
    """One phone: the ticket's page, then the vote (twice at once for a double tap). True when it ended thanked."""
    import requests

    session = requests.Session()
    started = time.perf_counter()
    page = session.get(f"{base}/r/{code}/", timeout=30)
    tally.add("pages", (time.perf_counter() - started) * 1000)
    if page.status_code != 200:
        tally.add("errors", f"page {page.status_code}")
        return False
    token = TOKEN.search(page.text).group(1)
    data = {"csrfmiddlewaretoken": token, "code": code, "comment": rng.choice(["", "", "希望多为群众办实事"])}
    data.update({f"q{pk}": rng.choice(choices) for pk, choices in questions})

    def submit():
        begun = time.perf_counter()
        answer = session.post(
            f"{base}/r/", data=data, headers={"Referer": f"{base}/r/{code}/"}, allow_redirects=False, timeout=30
        )
        tally.add("votes", (time.perf_counter() - begun) * 1000)
        return answer

    if twice:
        with ThreadPoolExecutor(2) as pair:
            answers = list(pair.map(lambda _n: submit(), range(2)))
    else:
        answers = [submit()]
    thanked = [a for a in answers if a.status_code == 302 and a.headers.get("Location", "").endswith("/r/thanks/")]
    refused = [a for a in answers if a.status_code == 410]  # the second tap: already used
    with tally.lock:
        tally.refused += len(refused)
    if len(thanked) != 1 or len(thanked) + len(refused) != len(answers):
        tally.add("errors", f"vote {[a.status_code for a in answers]}")
    return len(thanked) == 1


def floor_ms(base, workers, repeat=30):
    """The median of `GET /healthz/` on the server, once every worker has served the voter's pages (warm)."""
    import requests

    from assessments.ratings import new_code

    for _ in range(workers * 4):
        requests.get(f"{base}/r/", timeout=10)
        requests.get(f"{base}/r/{new_code()}/", timeout=10)
    return live.healthz_ms(base, repeat)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voters", type=int, default=400)
    parser.add_argument("--minutes", type=float, default=5, help="the meeting's voting window (default 5)")
    parser.add_argument("--speed", type=float, default=10, help="play the window this many times faster (default 10)")
    parser.add_argument("--threads", type=int, default=32, help="phones at most at once (default 32)")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: deploy's 2 × cores + 1)")
    parser.add_argument("--resubmit", type=float, default=0.05, help="share of voters who tap submit twice")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if "DATABASE_URL" not in os.environ:
        sys.exit("set DATABASE_URL (PostgreSQL: the bench is about concurrent votes)")

    rating, codes, questions = setup(args.voters)
    port = free_port()
    workers = args.workers or 2 * (os.cpu_count() or 1) + 1
    server = serve(port, workers)
    base = f"http://127.0.0.1:{port}"
    try:
        floor = floor_ms(base, workers)
        rng = random.Random(args.seed)
        window = args.minutes * 60 / args.speed
        arrivals = sorted((rng.uniform(0, window), code, rng.random() < args.resubmit) for code in codes)
        tally = Tally()
        started = time.monotonic()

        def arrive(arrival):
            at, code, twice = arrival
            delay = started + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                return voter(base, code, questions, tally, random.Random(code), twice)
            except Exception as error:  # noqa: BLE001 (a lost vote is counted, whatever lost it)
                tally.add("errors", repr(error)[:100])
                return False

        with ThreadPoolExecutor(args.threads) as pool:
            thanked = sum(pool.map(arrive, arrivals))
        elapsed = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(30)

    from assessments.models import RatingBallot, RatingTicket

    ballots = RatingBallot.objects.filter(rating=rating).count()
    spent = RatingTicket.objects.filter(rating=rating, spent=True).count()
    p95_page, p95_vote = percentile(tally.pages, 0.95), percentile(tally.votes, 0.95)
    lines = [
        f"ratings_voters: {args.voters}",
        f"ratings_window_s: {window:.0f} (a {args.minutes:g}-minute meeting played {args.speed:g}x faster)",
        f"ratings_gunicorn_workers: {workers}",
        f"ratings_wall_s: {elapsed:.1f}",
        f"ratings_trivial_view_ms: {floor:.2f}",
        f"ratings_page_p50_ms: {percentile(tally.pages, 0.5):.2f}",
        f"ratings_page_p95_ms: {p95_page:.2f} ({p95_page / floor:.1f}x ratings_trivial_view)",
        f"ratings_vote_p50_ms: {percentile(tally.votes, 0.5):.2f}",
        f"ratings_vote_p95_ms: {p95_vote:.2f} ({p95_vote / floor:.1f}x ratings_trivial_view)",
        f"ratings_vote_max_ms: {max(tally.votes, default=float('nan')):.2f}",
        f"ratings_thanked: {thanked}",
        f"ratings_lost: {args.voters - min(thanked, ballots)}",
        f"ratings_double_counts: {max(0, ballots - spent) + max(0, ballots - args.voters)}",
        f"ratings_second_taps_refused: {tally.refused}",
        f"ratings_errors: {len(tally.errors)} {'; '.join(sorted(set(tally.errors))[:5])}".rstrip(),
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
