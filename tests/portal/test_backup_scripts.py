"""The operators' backup (scripts/backup) restores (scripts/restore) into a fresh database and media folder with
every row of every table and every file's bytes; a restore over a database or folder in use is refused.

Drawn on the county of tests/conftest.py, committed (the scripts run pg_dump and pg_restore in their own processes),
with a meeting and its photo and a scan filed by 东村支部.
"""

import hashlib
import os
import shutil
import subprocess
from contextlib import closing
from datetime import datetime, time, timedelta
from pathlib import Path

import psycopg2
import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from branches import selectors, services
from tests.conftest import REQUIRED, system
from tests.portal.test_hardening import PNG, upload
from tests.portal.test_jobs_integration import postgres_url

ROOT = Path(__file__).resolve().parents[2]


def needs_postgresql_client():
    missing = [tool for tool in ("pg_dump", "pg_restore", "psql") if not shutil.which(tool)]
    if missing:
        reason = f"needs {', '.join(missing)} (Debian's postgresql-client; make test installs it when run as root)"
        if REQUIRED:
            pytest.fail(f"REQUIRE_SERVICES=1 but this test {reason}", pytrace=False)
        pytest.skip(reason)


def script(name, *args, **env):
    return subprocess.run(
        [ROOT / "scripts" / name, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def row_counts(cursor):
    """{table: rows} of every table of the public schema, in one query."""
    cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
    tables = [row[0] for row in cursor.fetchall()]
    cursor.execute(" UNION ALL ".join(f"SELECT '{table}', count(*) FROM \"{table}\"" for table in tables))  # noqa: S608
    return dict(cursor.fetchall())


def checksums(folder):
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in folder.rglob("*")
        if path.is_file()
    }


@pytest.fixture
def fresh_database():
    """A new, empty database beside the test database, dropped afterwards: its URL."""
    db = django_settings.DATABASES["default"]
    name = f"{db['NAME']}_restored_{os.getpid()}"
    with connection.cursor() as cursor:  # a transactional test: in autocommit, as CREATE DATABASE needs
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_url().rsplit("/", 1)[0] + f"/{name}"
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_backup_restores_into_a_fresh_database_and_media_folder_with_every_row_and_file(
    county, settings, tmp_path, fresh_database
):
    needs_postgresql_client()
    media = settings.MEDIA_ROOT = tmp_path / "media"
    day = timezone.localdate().replace(day=1) - timedelta(days=10)
    services.meeting_save(
        organization=county.east,
        data={
            "meeting_type": "theme_day",
            "held_at": timezone.make_aware(datetime.combine(day, time(9))),
            "place": "村部",
            "host": "张一",
            "topic": "学习",
        },
        attendance={m.pk: (True, "") for m in selectors.expected_on(county.east, day, "theme_day", None)},
        by=system(),
        files=[upload("现场照片.png", PNG)],
    )
    services.attachment_add(organization=county.east, title="扫描件", upload=upload("扫描件.png", PNG), by=system())
    url = fresh_database

    made = script("backup", str(tmp_path / "backups"), DATABASE_URL=postgres_url(), MEDIA_ROOT=str(media))
    assert made.returncode == 0, made.stderr
    folder = Path(made.stdout.strip())
    assert sorted(p.name for p in folder.iterdir()) == ["SHA256SUMS", "database.dump", "media.sha256", "media.tar"]

    restored = tmp_path / "restored"
    done = script("restore", str(folder), DATABASE_URL=url, MEDIA_ROOT=str(restored))
    assert done.returncode == 0, done.stderr
    assert "check_integrity" in done.stderr

    with connection.cursor() as cursor:
        source = row_counts(cursor)
    with closing(psycopg2.connect(url)) as other, other.cursor() as cursor:
        target = row_counts(cursor)
    assert source["branches_meeting"] == 1 and source["branches_attachment"] == 2
    assert target == source
    assert checksums(restored) == checksums(media) and len(checksums(media)) == 2

    again = script("restore", str(folder), DATABASE_URL=url, MEDIA_ROOT=str(restored))
    assert again.returncode == 1
    assert "already holds" in again.stderr and "nothing was restored" in again.stderr and "--replace" in again.stderr
    (restored / "stray.txt").write_text("x")
    over = script("restore", "--replace", str(folder), DATABASE_URL=url, MEDIA_ROOT=str(restored))
    assert over.returncode == 0, over.stderr
    with closing(psycopg2.connect(url)) as other, other.cursor() as cursor:
        assert row_counts(cursor) == source


def test_a_damaged_backup_is_refused_before_anything_is_restored(tmp_path):
    folder = tmp_path / "portal-1"
    folder.mkdir()
    for name in ("database.dump", "media.tar", "media.sha256"):
        (folder / name).write_bytes(b"x")
    subprocess.run(
        ["sha256sum", "database.dump", "media.tar", "media.sha256"],
        cwd=folder,
        check=True,
        text=True,
        stdout=(folder / "SHA256SUMS").open("w"),
    )
    (folder / "media.tar").write_bytes(b"y")
    refused = script(
        "restore", str(folder), DATABASE_URL="postgres://nobody@127.0.0.1:1/none", MEDIA_ROOT=str(tmp_path / "m")
    )
    assert refused.returncode == 1
    assert "damaged" in refused.stderr and not (tmp_path / "m").exists()


def test_the_scripts_back_up_and_restore_postgresql_only(tmp_path):
    for name in ("backup", "restore"):
        result = script(name, str(tmp_path), DATABASE_URL="")
        assert result.returncode == 2 and "postgres://" in result.stderr
