"""Shared fixtures and the service gates.

Tests marked `postgres` or `redis` need the real service. Without DATABASE_URL /
REDIS_URL they skip with a visible reason; with REQUIRE_SERVICES=1 (CI) a missing
service fails the test instead of skipping it. Tests marked `browser` need Debian's
chromium and follow the same rule.
"""

import os
import shutil
from datetime import date

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from branches import access, results, services
from branches.models import (
    Cadre,
    Employment,
    Gender,
    Member,
    MemberCategory,
    OrganizationKind,
    Post,
    Role,
    Sector,
)
from tests import snapshots

CHROMIUM = "/usr/bin/chromium"
REQUIRED = os.environ.get("REQUIRE_SERVICES") == "1"
PASSWORD = "test-password-42"


def _missing(marker_name):
    if marker_name == "postgres" and settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return "needs PostgreSQL: set DATABASE_URL=postgres://…"
    if marker_name == "redis" and not settings.REDIS_URL:
        return "needs Redis: set REDIS_URL=redis://…"
    if marker_name == "browser" and not shutil.which(CHROMIUM):
        return f"needs Debian's chromium at {CHROMIUM} (make test installs it when run as root)"
    return None


def pytest_runtest_setup(item):
    for name in ("postgres", "redis", "browser"):
        if item.get_closest_marker(name):
            reason = _missing(name)
            if reason and REQUIRED:
                pytest.fail(f"REQUIRE_SERVICES=1 but this test {reason}", pytrace=False)
            elif reason:
                pytest.skip(reason)


def system():
    """The actor fixtures act as: the portal's system user, as jobs and the demo seeding do."""
    return access.system_user()


@pytest.fixture(autouse=True)
def _database_as_migrated(request, django_db_blocker):
    """A transactional test with `serialized_rollback` leaves the database flushed without the rows migrations made
    (content types, schedules, settings) until the next such test reloads them; on two workers stealing tests, an
    ordinary test may run in between and fail on a content type that is gone. Reload them before it does."""
    if not {"db", "transactional_db"} & set(request.fixturenames):
        return
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    with django_db_blocker.unblock():
        serialized = getattr(connection, "_test_serialized_contents", None)
        if serialized and not ContentType.objects.exists():
            connection.creation.deserialize_db_from_string(serialized)
            ContentType.objects.clear_cache()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Real hashing costs ~0.2 s a user; the tests are about access, not about PBKDF2.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_user(db):
    def make(username, role=None, organization=None, **extra):
        user = get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)
        if role is not None:
            services.role_assign(user=user, organization=organization, role=role, by=system())
        return user

    return make


def add_member(branch, name, category=MemberCategory.FULL, group=None, joined=date(2010, 7, 1)):
    return Member.objects.create(
        organization=branch,
        party_group=group,
        name=name,
        gender=Gender.MALE,
        category=category,
        joined_party_on=joined,
        joined_branch_on=joined,
    )


def add_cadre(organization, name, post=Post.SECRETARY, term_start=date(2025, 1, 1)):
    """A cadre added the way the pages add one (through the service, so it is audited)."""
    return services.cadre_save(
        organization=organization,
        data={"name": name, "post": post, "employment": Employment.PART_TIME, "term_start": term_start},
        by=system(),
    )


class County:
    pass


class People:
    pass


@pytest.fixture
def county(db):
    """A small county, drawn:

    中共测试县委员会 (committee, T)
    ├── 中共东镇委员会 (primary committee, village)
    │   ├── 东村支部 (branch): 张一 (full), 张二 (full), 张三 (probationary); group 东村第一党小组 holds 张一
    │   └── 南村支部 (branch): 李一 (full)
    └── 中共县直机关工委 (committee, organ)
        └── 县财政局支部 (branch): 王一 (full); secretary 王一 (term 2024-01-01 …)

    Built once per test process, then replayed as rows (tests/snapshots.py).
    """
    return snapshots.build_once("county", build_county)


def build_county():
    create = services.organization_create
    root = create(
        parent=None,
        kind=OrganizationKind.COMMITTEE,
        data={"code": "T", "name": "中共测试县委员会", "sector": Sector.ORGAN},
        by=system(),
    )
    town = create(
        parent=root,
        kind=OrganizationKind.PRIMARY_COMMITTEE,
        data={"code": "T-E", "name": "中共东镇委员会", "sector": Sector.VILLAGE},
        by=system(),
    )
    east = create(
        parent=town,
        kind=OrganizationKind.BRANCH,
        data={"code": "T-E-1", "name": "东村支部", "sector": Sector.VILLAGE},
        by=system(),
    )
    group = create(
        parent=east,
        kind=OrganizationKind.PARTY_GROUP,
        data={"code": "T-E-1-G1", "name": "东村第一党小组", "sector": Sector.VILLAGE},
        by=system(),
    )
    south = create(
        parent=town,
        kind=OrganizationKind.BRANCH,
        data={"code": "T-E-2", "name": "南村支部", "sector": Sector.VILLAGE},
        by=system(),
    )
    organs = create(
        parent=root,
        kind=OrganizationKind.COMMITTEE,
        data={"code": "T-J", "name": "中共县直机关工委", "sector": Sector.ORGAN},
        by=system(),
    )
    finance = create(
        parent=organs,
        kind=OrganizationKind.BRANCH,
        data={"code": "T-J-1", "name": "县财政局支部", "sector": Sector.ORGAN, "staff_headcount": 80},
        by=system(),
    )
    add_member(east, "张一", group=group)
    add_member(east, "张二")
    add_member(east, "张三", MemberCategory.PROBATIONARY, joined=date(2026, 3, 1))
    add_member(south, "李一")
    wang = add_member(finance, "王一")
    Cadre.objects.create(
        organization=finance,
        member=wang,
        name="王一",
        post=Post.SECRETARY,
        employment=Employment.PART_TIME,
        term_start=date(2024, 1, 1),
    )

    c = County()
    c.root, c.town, c.east, c.group, c.south, c.organs, c.finance = root, town, east, group, south, organs, finance
    for obj in (c.root, c.town, c.east, c.group, c.south, c.organs, c.finance):
        obj.refresh_from_db()
    this_year = date.today().year
    for year in (this_year - 1, this_year):  # results kept for these years, as the nightly job keeps them
        results.rebuild(year=year)
    return c


@pytest.fixture
def people(county, make_user):
    """One user per role: the county admin and reviewer, the town reviewer, the organs' assessor,
    the secretaries of 东村 and of 县财政局, and a user with no role."""

    def build():
        p = People()
        p.admin = make_user("admin", Role.ADMIN, county.root)
        p.reviewer = make_user("reviewer", Role.REVIEWER, county.root)
        p.town_reviewer = make_user("town_reviewer", Role.REVIEWER, county.town)
        p.assessor = make_user("assessor", Role.ASSESSOR, county.organs)
        p.secretary = make_user("secretary", Role.SECRETARY, county.east)
        p.finance_secretary = make_user("finance_secretary", Role.SECRETARY, county.finance)
        p.nobody = make_user("nobody")
        return p

    return snapshots.build_once("people", build)


@pytest.fixture
def signed_in(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


@pytest.fixture
def jobs_at_once(monkeypatch):
    """Jobs queued by a page or a service run at once, in this process (Celery's eager execution, `Task.apply`),
    when the transaction that queued them commits: wrap the call in
    `django_capture_on_commit_callbacks(execute=True)`, or use a live server. No broker is involved."""
    from branches import jobs

    monkeypatch.setattr(jobs, "ENQUEUE", [lambda task, **kwargs: task.apply(kwargs=kwargs, throw=True) is not None])


@pytest.fixture
def queued(monkeypatch):
    """Jobs are taken by the queue and wait there (no worker runs them): [(task name, arguments)]."""
    from branches import jobs

    taken = []
    monkeypatch.setattr(jobs, "ENQUEUE", [lambda task, **kwargs: taken.append((task.name, kwargs)) or True])
    return taken
