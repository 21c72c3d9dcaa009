"""seed_demo builds the same county from the same seed, and running it twice adds nothing."""

import hashlib
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import models

from branches import access
from branches.models import (
    Attendance,
    Cadre,
    CommitteeTerm,
    Meeting,
    Member,
    Organization,
    OrganizationKind,
    RoleAssignment,
)

ROOT = Path(__file__).resolve().parents[2]


def fingerprint():
    rows = [
        list(Organization.objects.order_by("path").values_list("path", "code", "name", "kind", "sector", "founded_on")),
        list(
            Member.objects.order_by("organization__path", "name", "joined_party_on", "category").values_list(
                "organization__code", "name", "category", "joined_party_on", "party_group__code"
            )
        ),
        list(
            Cadre.objects.order_by("organization__path", "post", "name", "term_start").values_list(
                "organization__code", "name", "post", "term_start", "term_end"
            )
        ),
    ]
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def wipe():
    from assessments.models import AssessmentRound, Inspection, ResponsibilityList, ResponsibilityTemplate

    for model in (
        AssessmentRound,
        Inspection,
        ResponsibilityList,
        ResponsibilityTemplate,
        Attendance,
        Meeting,
        Cadre,
        CommitteeTerm,
        Member,
        RoleAssignment,
        Organization,
    ):
        model.objects.all().delete()


def seed(**options):
    call_command(
        "seed_demo",
        orgs=options.get("orgs", 120),
        seed=options.get("seed", 7),
        today=options.get("today"),
        quiet_logins=True,
        stdout=StringIO(),
    )


@pytest.mark.django_db
def test_seed_demo_is_deterministic_for_a_seed():
    from datetime import date

    seed(today=date(2026, 6, 30))
    first = fingerprint()
    wipe()
    seed(today=date(2026, 6, 30))
    assert fingerprint() == first
    wipe()
    seed(today=date(2026, 6, 30), seed=8)
    assert fingerprint() != first


@pytest.mark.django_db
def test_seed_demo_twice_adds_nothing():
    seed()
    counts = (
        Organization.objects.count(),
        Member.objects.count(),
        Cadre.objects.count(),
        get_user_model().objects.count(),
        RoleAssignment.objects.count(),
    )
    seed()
    assert counts == (
        Organization.objects.count(),
        Member.objects.count(),
        Cadre.objects.count(),
        get_user_model().objects.count(),
        RoleAssignment.objects.count(),
    )


@pytest.mark.django_db
def test_the_demo_county_is_realistic():
    seed(orgs=300)
    assert Organization.objects.count() >= 300
    assert Organization.objects.find_problems() == ([], [], [], [], [])
    kinds = set(Organization.objects.values_list("kind", flat=True))
    assert kinds == {k.value for k in OrganizationKind}
    assert len(set(Organization.objects.values_list("sector", flat=True))) == 8
    for branch in Organization.objects.filter(kind=OrganizationKind.BRANCH):
        active = Member.objects.filter(organization=branch, status="active")
        assert 3 <= active.count() <= 50, branch.name
        full = active.filter(category="full").count()
        committee = Cadre.objects.filter(organization=branch, term_end__isnull=True).exclude(post="group_leader")
        if full >= 7:
            assert 3 <= committee.count() <= 5, branch.name
        else:
            assert 1 <= committee.count() <= 2, branch.name
    assert CommitteeTerm.objects.filter(ended_on__isnull=True).count() > 0


@pytest.mark.django_db
def test_the_demo_users_cover_every_role_with_the_printed_passwords():
    buffer = StringIO()
    call_command("seed_demo", orgs=60, seed=3, stdout=buffer)
    printed = buffer.getvalue()
    roles = set(RoleAssignment.objects.values_list("role", flat=True))
    assert roles == {"admin", "reviewer", "assessor", "secretary"}
    system = get_user_model().objects.get(username=access.SYSTEM_USERNAME)  # the seeding's actor: no login
    assert not system.has_usable_password()
    for user in get_user_model().objects.exclude(pk=system.pk):
        password = f"{user.username}-qingshan-2026"
        assert password in printed
        assert user.check_password(password)
        assert access.grants(user)


def test_make_runs_sqlite_default_works_from_scratch(tmp_path):
    """The path `make run` takes on a fresh machine: SQLite, migrate, a small county, a page."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "REQUIRE_SERVICES"}}
    env["PORTAL_VAR_DIR"] = str(tmp_path)
    script = (
        "import os, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'portal.settings';\n"
        "from django.conf import settings\n"
        f"settings.DATABASES['default']['NAME'] = {str(tmp_path / 'smoke.sqlite3')!r}\n"
        "django.setup()\n"
        "from django.core.management import call_command\n"
        "call_command('migrate', verbosity=0)\n"
        "call_command('seed_demo', orgs=40, seed=1, quiet_logins=True)\n"
        "from django.test import Client\n"
        "c = Client()\n"
        "from django.contrib.auth import get_user_model\n"
        "user = get_user_model().objects.get(username='zuzhibu')\n"
        "assert user.check_password('zuzhibu-qingshan-2026')\n"
        "c.force_login(user)\n"
        "r = c.get('/orgs/'); assert r.status_code == 200, r.status_code\n"
        "assert '中共青山县委员会' in r.content.decode()\n"
        "print('ENGINE', settings.DATABASES['default']['ENGINE'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ENGINE django.db.backends.sqlite3" in result.stdout


@pytest.mark.django_db
def test_the_demo_year_of_meetings_is_mostly_kept_with_true_exceptions():
    """Most branches keep the rules; some log late, some skip, some meet with thin attendance."""
    from datetime import date, timedelta

    from branches import compliance, periods

    today = date(2026, 11, 20)
    seed(orgs=300, today=today)
    branches = list(Organization.objects.filter(kind="branch"))
    october = periods.parse("2026-10")
    rows = compliance.for_span(branches, october, today)
    kept = [row for row in rows if row.status("theme_day") and row.status("theme_day").fulfilled]
    assert 0.6 * len(rows) < len(kept) < len(rows)  # most, not all
    late = Meeting.objects.filter(logged_at__gte=models.F("held_at") + timedelta(days=20)).count()
    assert late > 0
    thin = [
        row
        for row in compliance.for_span(branches, periods.parse("2026"), today)
        if row.attendance_rate is not None and row.attendance_rate < 0.7
    ]
    assert 0 < len(thin) < len(rows) / 3
    assert not Meeting.objects.filter(held_on__gte=today).exists()


def county_counts():
    """Row counts and sums a county is known by, read from the database."""
    from django.db.models import Sum

    from assessments.models import Finding, ResponsibilityItem

    return (
        Organization.objects.count(),
        Member.objects.count(),
        Cadre.objects.count(),
        Meeting.objects.count(),
        Meeting.objects.aggregate(expected=Sum("expected_count"), present=Sum("present_count")),
        Attendance.objects.count(),
        Attendance.objects.filter(present=True).count(),
        ResponsibilityItem.objects.filter(status="done").count(),
        Finding.objects.count(),
    )


SQLITE_COUNTS = """
import os, django
os.environ['DJANGO_SETTINGS_MODULE'] = 'portal.settings'
from django.conf import settings
settings.DATABASES['default']['NAME'] = {path!r}
django.setup()
from datetime import date
from io import StringIO
from django.core.management import call_command
call_command('migrate', verbosity=0)
call_command('seed_demo', orgs={orgs}, seed={seed}, today=date.fromisoformat({today!r}), quiet_logins=True,
             stdout=StringIO())
from tests.portal.test_seed_demo import county_counts
print(repr(county_counts()))
"""


def schema_of_bulk_tables():
    from django.db import connection

    from branches.demo import BULK_MODELS

    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
            WHERE conrelid = ANY(%s::regclass[]) UNION ALL
            SELECT indrelid::regclass::text, indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index
            WHERE indrelid = ANY(%s::regclass[]) ORDER BY 1, 2, 3""",
            [[m._meta.db_table for m in BULK_MODELS]] * 2,
        )
        return cursor.fetchall()


@pytest.mark.postgres
@pytest.mark.django_db
def test_seeding_postgresql_by_copy_keeps_meeting_counts_true_and_builds_the_sqlite_county(tmp_path):
    """The COPY path: every meeting's counts equal its attendance rows, keys and indexes are all back,
    running again adds nothing, and the same seed gives the same county as on SQLite."""
    from datetime import date

    from django.db.models import Count, Q

    from assessments.models import ResponsibilityItem
    from branches.models import AuditEntry

    today = date(2026, 11, 20)
    schema = schema_of_bulk_tables()
    seed(orgs=300, seed=5, today=today)
    assert schema_of_bulk_tables() == schema
    assert Attendance.objects.count() > 50000
    mismatched = Meeting.objects.annotate(
        rows=Count("attendance"), present=Count("attendance", filter=Q(attendance__present=True))
    ).exclude(expected_count=models.F("rows"), present_count=models.F("present"))
    assert not mismatched.exists()
    assert AuditEntry.objects.count() < 100  # a summary, not an entry per row

    # The sequences moved past the ids handed out: a secretary's next record gets a fresh id.
    branch = Organization.objects.filter(kind="branch", meetings__isnull=False).first()
    newcomer = Member.objects.create(
        organization=branch,
        name="新党员",
        gender="female",
        category="full",
        joined_party_on=today,
        joined_branch_on=today,
    )
    # attendance rows are COPYed without ids (the server draws them): the next one still gets a fresh id
    for meeting in Meeting.objects.filter(organization=branch)[:3]:
        Attendance.objects.create(meeting=meeting, member=newcomer)

    before = (Member.objects.count(), Meeting.objects.count(), Attendance.objects.count(), AuditEntry.objects.count())
    seed(orgs=300, seed=5, today=today)
    assert before == (
        Member.objects.count(),
        Meeting.objects.count(),
        Attendance.objects.count(),
        AuditEntry.objects.count(),
    )
    Attendance.objects.filter(member=newcomer).delete()
    Member.objects.filter(name="新党员").delete()

    postgres_counts = county_counts()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "REQUIRE_SERVICES"}}
    env["PORTAL_VAR_DIR"] = str(tmp_path)
    script = SQLITE_COUNTS.format(path=str(tmp_path / "same.sqlite3"), orgs=300, seed=5, today=today.isoformat())
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == repr(postgres_counts)
    assert ResponsibilityItem.objects.filter(status="done").exists()


@pytest.mark.django_db
def test_the_demo_county_has_a_scored_round_at_once():
    from assessments.models import Assessment, AssessmentRound

    seed()
    assessment_round = AssessmentRound.objects.get()
    assert assessment_round.rubric.code == "star-rating" and assessment_round.scored_at is not None
    assert Assessment.objects.filter(round=assessment_round, total__isnull=False, rank__isnull=False).exists()
    seed()  # seeding again opens no second round
    assert AssessmentRound.objects.count() == 1
