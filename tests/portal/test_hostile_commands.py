"""Every management command given the worst arguments a script or a tired operator can type.

A command either does its work or stops with a CommandError that says what is wrong (in the language it already
speaks); never another exception, and a refusal writes nothing (the audit trail and the main tables keep their
counts). Arguments go through the command's own parser, as from a shell, except that call_command also lets NUL
bytes and lone surrogates through, which a shell cannot.

seed_demo never builds a tree here: its builder is replaced by one that only notes the arguments it was given.
`serve` is only parsed, never started.
"""

import io
import json
import zipfile
from io import StringIO

import pytest
from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import CommandError
from hypothesis import given
from hypothesis import strategies as st

from assessments.models import Finding, ResponsibilityItem
from branches import backup
from branches.models import (
    Attachment,
    Attendance,
    AuditEntry,
    Cadre,
    ComplianceResult,
    Meeting,
    Member,
    MonthSummary,
    Organization,
    SecurityEvent,
)
from portal.models import Notification
from tests.hostile import CLASSICS, DAY, HOSTILE_SETTINGS, NUMBER, TEXT, VALUE, record

TABLES = (
    AuditEntry,
    SecurityEvent,
    Organization,
    Member,
    Cadre,
    Meeting,
    Attendance,
    Attachment,
    ResponsibilityItem,
    Finding,
    Notification,
    MonthSummary,
    ComplianceResult,
)

# What the portal ships: a new command must be added here (and fuzzed) before it can be shipped.
PORTAL_COMMANDS = {
    "check_integrity",
    "export_subtree",
    "import_subtree",
    "prune_audit_trail",
    "rebuild_summaries",
    "refresh_dashboards",
    "refresh_integrity_signals",
    "run_scoring",
    "seed_demo",
    "send_reminders",
    "serve",
}

# A value an option may receive from a shell: anything, or a number or a day, as text.
ARGUMENT = st.one_of(VALUE, NUMBER, DAY)


def counts():
    return {model.__name__: model._base_manager.count() for model in TABLES}


class Tally:
    """How many inputs a test tried, and what went wrong (for the report of bench/hostile)."""

    def __init__(self, target):
        self.target, self.tried, self.server_errors, self.partial_saves = target, 0, 0, 0

    def run(self, name, *argv, refused_writes_nothing=True):
        """Run the command as from a shell; returns the CommandError it stopped with, or None."""
        self.tried += 1
        before = counts()
        try:
            call_command(name, *argv, stdout=StringIO(), stderr=StringIO())
        except CommandError as error:
            message = str(error)
            assert message.strip(), f"{name} {argv!r}: a CommandError without a message"
            assert "Traceback" not in message
            if refused_writes_nothing and counts() != before:
                self.partial_saves += 1
                self.done()  # the report counts the failing example too
                pytest.fail(f"{name} {argv!r} was refused ({message}) but wrote {before} -> {counts()}")
            return error
        except Exception as error:
            self.server_errors += 1
            self.done()
            raise AssertionError(f"{name} {argv!r} raised {type(error).__name__}: {error}") from error
        return None

    def done(self):
        record(self.target, tried=self.tried, server_errors=self.server_errors, partial_saves=self.partial_saves)


def inside(folder, text):
    """A hostile path kept under `folder`: no test may write outside its own temporary folder."""
    return f"{folder}/{text.replace('..', '__')}"


def test_every_command_of_the_portal_is_fuzzed_here():
    ours = {name for name, app in get_commands().items() if app == "portal"}
    assert ours == PORTAL_COMMANDS


# --- check_integrity ----------------------------------------------------------------------------------------


@given(org=TEXT, fix=st.booleans())
@HOSTILE_SETTINGS
def test_check_integrity_takes_any_organization_code(county, org, fix):
    tally = Tally("command check_integrity")
    argv = [f"--org={org}"] + (["--fix-summaries"] if fix else [])
    # Exit code 1 reports problems found (and, with --fix-summaries, fixed): only a refusal must write nothing.
    error = tally.run("check_integrity", *argv, refused_writes_nothing=False)
    if error is not None and error.returncode != 1:
        assert "没有代码为" in str(error) or "Error:" in str(error)
    tally.done()


# --- export_subtree / import_subtree --------------------------------------------------------------------------


@given(org=TEXT, out=TEXT)
@HOSTILE_SETTINGS
def test_export_subtree_refuses_unknown_organizations_and_paths_it_cannot_write(county, tmp_path, org, out):
    tally = Tally("command export_subtree")
    tally.run("export_subtree", f"--org={org}", f"--out={inside(tmp_path, 'a.zip')}")
    tally.run("export_subtree", "--org=T-E-2", f"--out={inside(tmp_path, out)}")
    tally.done()


def test_export_subtree_refuses_a_folder_and_a_missing_folder_as_its_file(county, tmp_path):
    tally = Tally("command export_subtree")
    for out in (str(tmp_path), str(tmp_path / "missing" / "a.zip"), f"{tmp_path}/a\x00.zip", "/dev/null/a.zip"):
        assert tally.run("export_subtree", "--org=T-E-2", f"--out={out}") is not None
    tally.done()


@pytest.fixture
def export(county, tmp_path):
    """The export of 南村支部, as bytes."""
    path = tmp_path / "south.zip"
    backup.export_subtree(root=county.south, out=path)
    return path.read_bytes()


@given(name=TEXT)
@HOSTILE_SETTINGS
def test_import_subtree_refuses_any_path_that_is_not_an_export(db, tmp_path, name):
    tally = Tally("command import_subtree")
    error = tally.run("import_subtree", "--", inside(tmp_path, name))
    assert error is not None  # nothing there, or a folder
    tally.done()


def test_import_subtree_refuses_files_that_are_not_what_it_reads(county, export, tmp_path):
    """A folder, nothing, an empty file, garbage, a truncated archive, an archive of something else, and an export
    into a database that already holds its organizations: each a clear refusal, nothing written."""
    tally = Tally("command import_subtree")
    (tmp_path / "empty.zip").write_bytes(b"")
    (tmp_path / "garbage.zip").write_bytes(bytes(range(256)) * 40)
    (tmp_path / "truncated.zip").write_bytes(export[: len(export) // 2])
    (tmp_path / "headless.zip").write_bytes(export[len(export) // 2 :])
    (tmp_path / "whole.zip").write_bytes(export)
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        archive.writestr("readme.txt", "not an export")
    with zipfile.ZipFile(tmp_path / "nul.zip", "w") as archive:
        archive.writestr("manifest.json", b"\x00\xff\xfe")
    for name in (".", "missing.zip", "empty.zip", "garbage.zip", "truncated.zip", "headless.zip", "other.zip"):
        assert tally.run("import_subtree", str(tmp_path / name)) is not None, name
    for name in ("nul.zip", "whole.zip"):
        assert tally.run("import_subtree", str(tmp_path / name)) is not None, name
    assert tally.run("import_subtree", f"{tmp_path}/whole.zip\x00") is not None
    tally.done()


def _damaged(manifest, path, value):
    """The manifest with the value at `path` (a list of keys and indexes) replaced, or removed when value is ...."""
    copy = json.loads(json.dumps(manifest))
    node = copy
    for key in path[:-1]:
        node = node[key]
    if value is ...:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return copy


def _paths(node, prefix=()):
    """Every place in a JSON document, as a list of keys and indexes (the first few items of each list)."""
    yield list(prefix)
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node[:2]):
            yield from _paths(child, (*prefix, index))


JSON_VALUE = st.one_of(
    st.just(...),
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    TEXT.map(lambda text: text.encode("utf-8", "replace").decode("utf-8")),
    st.sampled_from([[], {}, [1], {"a": 1}, [None], [""], {"": ""}]),
)


@given(data=st.data())
@HOSTILE_SETTINGS
def test_import_subtree_refuses_a_damaged_manifest(county, export, tmp_path, data):
    """Any one value of the manifest replaced by another of any type, or removed: a refusal, never a crash."""
    tally = Tally("command import_subtree manifest")
    with zipfile.ZipFile(io.BytesIO(export)) as source:
        manifest = json.loads(source.read("manifest.json"))
        members = {info.filename: source.read(info) for info in source.infolist()}
    places = [path for path in _paths(manifest) if path]
    path = data.draw(st.sampled_from(places), label="path")
    value = data.draw(JSON_VALUE, label="value")
    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(damaged, "w") as archive:
        for name, content in members.items():
            if name == "manifest.json":
                content = json.dumps(_damaged(manifest, path, value), ensure_ascii=False).encode()
            archive.writestr(name, content)
    tally.run("import_subtree", str(damaged))
    tally.done()


# --- prune_audit_trail -----------------------------------------------------------------------------------------


@given(days=ARGUMENT)
@HOSTILE_SETTINGS
def test_prune_audit_trail_takes_any_number_of_days(county, days):
    tally = Tally("command prune_audit_trail")
    tally.run("prune_audit_trail", f"--days={days}")
    tally.done()


@pytest.mark.parametrize("days", ["-1", "-9223372036854775809", "9223372036854775808", "999999999", "2147483648"])
def test_prune_audit_trail_refuses_days_no_trail_can_be_kept_for(county, days):
    before = AuditEntry.objects.count()
    with pytest.raises(CommandError, match="--days"):
        call_command("prune_audit_trail", f"--days={days}", stdout=StringIO())
    assert AuditEntry.objects.count() == before


# --- rebuild_summaries / run_scoring ----------------------------------------------------------------------------


@given(org=ARGUMENT, year=ARGUMENT)
@HOSTILE_SETTINGS
def test_rebuild_summaries_takes_any_organization_and_year(county, org, year):
    tally = Tally("command rebuild_summaries")
    tally.run("rebuild_summaries", f"--org={org}")
    tally.run("rebuild_summaries", f"--year={year}")
    tally.done()


@pytest.mark.parametrize("command", ["rebuild_summaries", "refresh_integrity_signals"])
@pytest.mark.parametrize("year", ["0", "-1", "10000", "9223372036854775808", "1"])
def test_years_outside_the_calendar_the_portal_keeps_are_refused(county, command, year):
    before = counts()
    with pytest.raises(CommandError, match="--year"):
        call_command(command, f"--year={year}", stdout=StringIO())
    assert counts() == before


@given(year=ARGUMENT)
@HOSTILE_SETTINGS
def test_refresh_integrity_signals_takes_any_year(county, year):
    tally = Tally("command refresh_integrity_signals")
    tally.run("refresh_integrity_signals", f"--year={year}")
    tally.done()


@given(round_id=ARGUMENT)
@HOSTILE_SETTINGS
def test_run_scoring_takes_any_round(county, round_id):
    tally = Tally("command run_scoring")
    tally.run("run_scoring", f"--round={round_id}")
    tally.done()


@pytest.mark.parametrize("command, option", [("rebuild_summaries", "--org"), ("run_scoring", "--round")])
@pytest.mark.parametrize("number", ["0", "-1", "9223372036854775807", "9223372036854775808", str(2**70)])
def test_ids_no_row_can_have_are_refused_as_missing(county, command, option, number):
    before = counts()
    with pytest.raises(CommandError):
        call_command(command, f"{option}={number}", stdout=StringIO())
    assert counts() == before


# --- refresh_dashboards / send_reminders -------------------------------------------------------------------------


@given(today=ARGUMENT, min_orgs=ARGUMENT)
@HOSTILE_SETTINGS
def test_refresh_dashboards_takes_any_day_and_size(county, today, min_orgs):
    tally = Tally("command refresh_dashboards")
    tally.run("refresh_dashboards", f"--today={today}")
    tally.run("refresh_dashboards", f"--min-orgs={min_orgs}")
    tally.done()


@given(today=ARGUMENT, dry_run=st.booleans())
@HOSTILE_SETTINGS
def test_send_reminders_takes_any_day(county, people, mailoutbox, today, dry_run):
    tally = Tally("command send_reminders")
    tally.run("send_reminders", f"--today={today}", *(["--dry-run"] if dry_run else []))
    tally.done()


@pytest.mark.parametrize("command", ["send_reminders", "refresh_dashboards", "seed_demo"])
@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1900-01-01", "2101-01-01"])
def test_days_outside_the_portal_s_calendar_are_refused(county, builds, command, day):
    before = counts()
    with pytest.raises(CommandError, match="--today"):
        call_command(command, f"--today={day}", stdout=StringIO())
    assert counts() == before and builds == []


# --- seed_demo ------------------------------------------------------------------------------------------------


@pytest.fixture
def builds(monkeypatch):
    """seed_demo's builder, replaced: [the arguments of each build asked for]; the demo "is already there"."""
    from branches import demo

    asked = []
    monkeypatch.setattr(demo, "build_county", lambda **kwargs: asked.append(kwargs) or {})
    monkeypatch.setattr(demo, "ensure_demo_users", lambda: [])
    return asked


@given(orgs=ARGUMENT, seed=ARGUMENT, today=ARGUMENT)
@HOSTILE_SETTINGS
def test_seed_demo_takes_any_size_seed_and_day(county, builds, orgs, seed, today):
    tally = Tally("command seed_demo")
    for argv in ([f"--orgs={orgs}"], [f"--seed={seed}"], [f"--today={today}"]):
        builds.clear()
        error = tally.run("seed_demo", "--quiet-logins", *argv)
        if error is None:
            assert 12 <= builds[0]["orgs"] <= 200_000
    tally.done()


@pytest.mark.parametrize("orgs", ["-1", "0", "11", "200001", "9223372036854775808", str(2**70)])
def test_seed_demo_refuses_sizes_it_does_not_build(county, builds, orgs):
    with pytest.raises(CommandError, match="--orgs"):
        call_command("seed_demo", f"--orgs={orgs}", "--quiet-logins", stdout=StringIO())
    assert builds == []


# --- serve: parsed only ---------------------------------------------------------------------------------------


@given(addrport=st.one_of(TEXT, st.sampled_from(CLASSICS)))
@HOSTILE_SETTINGS
def test_serve_refuses_an_address_it_cannot_serve_before_starting_anything(db, monkeypatch, addrport):
    """Only the parsing: the address is judged before any process starts (here none can)."""
    from portal.management.commands import serve

    started = []
    monkeypatch.setattr(serve.subprocess, "Popen", lambda *args, **kwargs: started.append(args) or pytest.fail())
    monkeypatch.setattr(serve, "ensure_broker_folders", lambda: None)
    command = load_command_class("portal", "serve")
    parser = command.create_parser("manage.py", "serve")
    tally = Tally("command serve (parsing)")
    tally.tried += 1
    try:
        options = parser.parse_args(["--no-jobs", "--", addrport])
        serve.served_base_url(options.addrport)
    except CommandError as error:
        assert str(error).strip()
    assert started == []
    tally.done()
