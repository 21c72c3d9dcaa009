"""A subtree exported (`manage.py export_subtree`) and imported into an empty database (`manage.py import_subtree`)
comes back record by record, with its files' bytes, its audit trail and the same kept figures.

Drawn on the county of tests/conftest.py; the subtree is 中共东镇委员会 (T-E):

    中共东镇委员会 ── 东村支部 (张一 in 东村第一党小组, 张二, 张三) ── 东村第一党小组
                  └─ 南村支部 (李一)

东村 logs a theme day with a photo (张三 absent) and a group meeting, files a scan, elects a committee, has a cadre
with a training record (linked to 王一, a member of 县财政局支部 outside the subtree), gets the county's standard list
(written above the subtree) and adds a duty of its own, completing one with a file; the town reviewer inspects it and
verifies the rectification of a finding. 县财政局支部 (outside) logs a meeting that must not travel.

The empty database is this test's own, emptied of every row the migrations did not seed (in the test's
transaction, rolled back afterwards).
"""

import hashlib
import json
import zipfile
from datetime import date, datetime, time, timedelta
from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from assessments import services as duty_services
from assessments import summaries as duty_summaries
from assessments.models import (
    FindingState,
    ResponsibilityItem,
    ResponsibilityTemplate,
    TemplateItem,
)
from branches import backup, results, selectors, services, summaries
from branches.models import (
    AuditEntry,
    Cadre,
    Meeting,
    Member,
    Organization,
    Post,
    TrainingRecord,
    WorkbookImport,
)
from tests.conftest import add_cadre, system
from tests.portal.test_hardening import PNG, upload

User = get_user_model()


@pytest.fixture
def seeded(db):
    """{model: keys} of every row in the database before the test's fixtures: what the migrations seeded."""
    return {model: set(model._base_manager.values_list("pk", flat=True)) for model in _tables()}


def _tables():
    return [
        model
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy and not model._meta.swapped
    ]


def empty_database(seeded):
    """Delete every row the migrations did not seed (no signals, nothing recorded): a freshly migrated database."""
    for model in _tables():
        model._base_manager.exclude(pk__in=seeded[model])._raw_delete(connection.alias)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def at(day, hour=9):
    return timezone.make_aware(datetime.combine(day, time(hour)))


def log(branch, day, meeting_type="theme_day", group=None, absent=(), files=()):
    expected = selectors.expected_on(branch, day, meeting_type, group)
    data = {"meeting_type": meeting_type, "held_at": at(day), "place": "村部", "host": "张一", "topic": "学习党章"}
    if group is not None:
        data["party_group"] = group
    meeting, _warnings = services.meeting_save(
        organization=branch,
        data=data,
        attendance={m.pk: (False, "sick") if m.name in absent else (True, "") for m in expected},
        by=system(),
        files=files,
    )
    return meeting


@pytest.fixture
def town(seeded, county, people, media):
    """The town's records, drawn in the module's docstring; returns the cadre whose member lies outside."""
    today = timezone.localdate()
    day = today.replace(day=1) - timedelta(days=20)
    log(county.east, day, absent={"张三"}, files=[upload("现场照片.png", PNG)])
    log(county.east, day + timedelta(days=2), "group_meeting", group=county.group)
    log(county.finance, day)  # outside the subtree
    services.attachment_add(organization=county.east, title="扫描件", upload=upload("扫描件.png", PNG), by=system())
    services.committee_term_start(organization=county.east, started_on=date(today.year - 1, 3, 1), by=system())
    cadre = add_cadre(county.east, "张一", Post.SECRETARY, term_start=date(today.year - 1, 3, 1))
    Cadre.objects.filter(pk=cadre.pk).update(member=Member.objects.get(name="王一"))  # a member of another branch
    TrainingRecord.objects.create(cadre=cadre, course="党务培训", organizer="县委组织部", held_on=day, hours=8)
    imported = WorkbookImport(organization=county.town, original_name="名单.xlsx", size=3, uploaded_by=system())
    imported.file.save("upload.xlsx", ContentFile(b"xlsx"), save=True)

    template = ResponsibilityTemplate.objects.create(owner=county.root, year=today.year, title="党支部责任清单")
    TemplateItem.objects.create(template=template, area="ideological", text="开展专题学习", due_on=day)
    TemplateItem.objects.create(template=template, area="integrity", text="开展警示教育", due_on=today, position=1)
    duty_services.template_issue(template=template, root=county.town, by=system())
    first = ResponsibilityItem.objects.filter(organization=county.east).order_by("due_on").first()
    duty_services.item_complete(
        item=first, by=people.secretary, version=first.version, note="已学习", upload=upload("学习记录.png", PNG)
    )
    duty_services.item_add(
        organization=county.east,
        year=today.year,
        data={"area": "work_style", "text": "走访群众", "due_on": today},
        by=people.secretary,
    )
    inspection = duty_services.inspection_create(
        organization=county.east, data={"held_on": day, "title": "专项督查"}, by=people.town_reviewer
    )
    finding = duty_services.finding_add(
        inspection=inspection,
        data={
            "severity": "minor",
            "description": "记录不全",
            "required_rectification": "补齐记录",
            "deadline": day + timedelta(days=10),
        },
        by=people.town_reviewer,
    )
    finding = duty_services.finding_submit(
        finding=finding, by=people.secretary, version=finding.version, note="已补齐", upload=upload("整改.png", PNG)
    )
    duty_services.finding_move(
        finding=finding, to_state=FindingState.VERIFIED, by=people.town_reviewer, version=finding.version
    )
    return cadre


# ----------------------------------------------------------------------------------------- reading content


def _plain(model, field, value, root_path):
    """A value as it may be compared across databases: people by user name, models by their name, the tree's paths
    from the subtree's root."""
    if value is None:
        return None
    if field.is_relation and field.related_model is User:
        return User._base_manager.get(pk=value).get_username()
    if field.is_relation and field.related_model is ContentType:
        return ContentType.objects.get_for_id(value).natural_key()
    if model is Organization and field.name == "path":
        return value[len(root_path) :]
    if model is Organization and field.name == "depth":
        return value - len(root_path) // Organization.steplen
    return value


def content(root):
    """{model label: {key: {field: value}}} of every part of the subtree's export."""
    found = {}
    for part in backup.PARTS:
        fields = part.model._meta.local_concrete_fields
        rows = part.rows(root).values_list(*(f.attname for f in fields))
        found[part.label] = {
            row[0]: {f.name: _plain(part.model, f, value, root.path) for f, value in zip(fields, row, strict=True)}
            for row in rows
        }
    return found


def stored_files(media):
    return {str(path.relative_to(media)): path.read_bytes() for path in media.rglob("*") if path.is_file()}


def figures(root):
    years = sorted(results.covered_years())
    return (
        summaries.stored(within=root),
        duty_summaries.stored(within=root),
        {year: results.stored(year, within=root) for year in years},
        {year: results.stored_facts(year, within=root) for year in years},
        years,
    )


def run(command, *args):
    out = StringIO()
    call_command(command, *args, stdout=out, stderr=out)
    return out.getvalue()


# ------------------------------------------------------------------------------------------------- the tests


def test_a_subtree_comes_back_record_by_record_into_an_empty_database(town, county, seeded, media, tmp_path, settings):
    before, kept = content(county.town), figures(county.town)
    files = stored_files(media)
    assert before["branches.meeting"] and before["branches.attendance"] and before["assessments.finding"]
    assert {row["code"] for row in before["branches.organization"].values()} == {"T-E", "T-E-1", "T-E-1-G1", "T-E-2"}

    printed = run("export_subtree", "--org", "T-E", "--out", str(tmp_path / "town.zip"))
    assert "中共东镇委员会（T-E）及其下级组织已导出" in printed
    assert "党务干部 1 条：关联党员指向下级组织以外的记录，已置空" in printed
    assert "责任清单模板 1 条：制定单位指向下级组织以外的组织，导出时改为导出的顶层组织" in printed

    empty_database(seeded)
    assert not Organization.objects.exists() and not User.objects.exists()
    settings.MEDIA_ROOT = tmp_path / "fresh"
    printed = run("import_subtree", str(tmp_path / "town.zip"))
    assert "中共东镇委员会（T-E）及其下级组织已导入" in printed

    root = Organization.objects.get(code="T-E")
    assert (root.depth, root.is_root()) == (1, True)
    after = content(root)
    # What the export changed, and said so: the link to a member outside, the list written above.
    before["branches.cadre"][town.pk]["member"] = None
    for template in before["assessments.responsibilitytemplate"].values():
        template["owner"] = county.town.pk
    # The import's own entry in the audit trail (who imported what, when) comes on top of the subtree's.
    imported = {pk: row for pk, row in after["branches.auditentry"].items() if pk not in before["branches.auditentry"]}
    assert [row["actor_label"] for row in imported.values()] == ["job:import_subtree"]
    for pk in imported:
        del after["branches.auditentry"][pk]
    for label in before:
        assert after[label] == before[label], label
    assert stored_files(settings.MEDIA_ROOT) == files
    assert figures(root) == kept
    assert not Meeting.objects.filter(organization__code="T-J-1").exists()  # the outside stayed outside
    assert not User.objects.get(username="secretary").has_usable_password()
    connection.check_constraints()  # every link holds
    assert run("check_integrity").endswith("全部党组织未发现问题。\n")


def test_an_import_into_a_database_holding_the_organizations_is_refused_and_writes_nothing(
    town, county, media, tmp_path
):
    backup.export_subtree(root=county.town, out=tmp_path / "town.zip")
    rows, files = content(county.town), stored_files(media)
    with pytest.raises(CommandError, match="数据库中已有导出文件中的组织（T-E、T-E-1、T-E-1-G1、T-E-2）"):
        run("import_subtree", str(tmp_path / "town.zip"))
    assert content(county.town) == rows and stored_files(media) == files


def test_a_damaged_file_in_the_export_is_refused_before_anything_is_written(town, county, seeded, tmp_path, settings):
    exported = tmp_path / "town.zip"
    backup.export_subtree(root=county.town, out=exported)
    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(exported) as source, zipfile.ZipFile(damaged, "w") as target:
        for entry in source.infolist():
            data = source.read(entry)
            target.writestr(entry, data + b"!" if entry.filename.startswith("files/attachments/") else data)
    empty_database(seeded)
    settings.MEDIA_ROOT = tmp_path / "fresh"
    with pytest.raises(ValidationError, match="已损坏"):
        backup.import_subtree(source=damaged)
    assert not Organization.objects.exists() and not (tmp_path / "fresh").exists()


def test_a_file_that_is_not_an_export_is_refused(db, tmp_path):
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("manifest.json", '{"format": "something-else"}')
    with pytest.raises(CommandError, match="不是本系统导出的组织数据"):
        run("import_subtree", str(other))
    (tmp_path / "plain.txt").write_text("x")
    with pytest.raises(CommandError, match="无法读取"):
        run("import_subtree", str(tmp_path / "plain.txt"))


def test_a_party_group_cannot_be_exported_alone(county, tmp_path):
    with pytest.raises(CommandError, match="党小组"):
        run("export_subtree", "--org", "T-E-1-G1", "--out", str(tmp_path / "group.zip"))
    assert not list(tmp_path.iterdir())


def test_the_export_reads_each_model_in_a_fixed_number_of_queries_whatever_the_rows(town, county, tmp_path):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            backup.export_subtree(root=county.town, out=tmp_path / "town.zip")
        return len(captured)

    few = queries()
    for number in range(20):
        log(county.south, timezone.localdate().replace(day=1) - timedelta(days=number + 1))
    assert queries() == few


def test_the_export_holds_each_files_checksum(town, county, media, tmp_path):
    backup.export_subtree(root=county.town, out=tmp_path / "town.zip")
    with zipfile.ZipFile(tmp_path / "town.zip") as archive:
        manifest = json.loads(archive.read("manifest.json"))
        for entry in manifest["files"]:
            assert hashlib.sha256((media / entry["name"]).read_bytes()).hexdigest() == entry["sha256"]
            assert archive.read(f"files/{entry['name']}") == (media / entry["name"]).read_bytes()
    assert len(manifest["files"]) == 5  # the photo, the scan, two pieces of evidence, the workbook
    assert {entry["username"] for entry in manifest["users"]} >= {"secretary", "town_reviewer", "portal-system"}
    assert AuditEntry.objects.filter(organization__in=[county.east, county.town]).exists()


def test_a_subtree_is_imported_beside_another_tree_as_a_root_of_its_own(town, county, seeded, tmp_path, settings):
    backup.export_subtree(root=county.town, out=tmp_path / "town.zip")
    empty_database(seeded)
    settings.MEDIA_ROOT = tmp_path / "fresh"
    other = services.organization_create(
        parent=None, kind="committee", data={"code": "Z", "name": "中共另一县委员会", "sector": "organ"}, by=system()
    )
    backup.import_subtree(source=tmp_path / "town.zip")
    town_root = Organization.objects.get(code="T-E")
    assert town_root.is_root() and town_root.path > other.path
    assert [o.code for o in Organization.objects.get_descendants(town_root)] == ["T-E-1", "T-E-1-G1", "T-E-2"]
    assert Organization.objects.get_parent(Organization.objects.get(code="T-E-1-G1")).code == "T-E-1"
    other.refresh_from_db()
    assert (other.numchild, Organization.objects.get_descendant_count(other)) == (0, 0)


def test_records_whose_ids_are_taken_are_refused_and_nothing_is_written(town, county, seeded, tmp_path, settings):
    backup.export_subtree(root=county.town, out=tmp_path / "town.zip")
    taken = Member.objects.filter(organization=county.east).order_by("pk").first().pk
    empty_database(seeded)
    settings.MEDIA_ROOT = tmp_path / "fresh"
    other = services.organization_create(
        parent=None, kind="branch", data={"code": "Z", "name": "另一支部", "sector": "organ"}, by=system()
    )
    Member.objects.create(
        pk=taken,
        organization=other,
        name="赵一",
        gender="male",
        category="full",
        joined_party_on=date(2010, 1, 1),
        joined_branch_on=date(2010, 1, 1),
    )
    with pytest.raises(CommandError, match="与本数据库已有的记录冲突"):
        run("import_subtree", str(tmp_path / "town.zip"))
    assert list(Organization.objects.values_list("code", flat=True)) == ["Z"]
    assert not Meeting.objects.exists() and not User.objects.filter(username="secretary").exists()
    assert not (tmp_path / "fresh").exists() or not any((tmp_path / "fresh").rglob("*.png"))
