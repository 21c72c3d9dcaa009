"""A subtree's records, files and audit trail exported to one zip file, and imported into an empty database.

`export_subtree(root=..., out=...)` writes a file holding:

- `manifest.json`: the format, the subtree's root, the migrations its records fit, each model's file and row count,
  the people and the content types the records name (the other database knows them by user name and by model), each
  stored file's SHA-256, the years whose compliance results were kept, and the links the export had to change;
- `records/NN-app.model.jsonl`: each model's rows, one JSON object a line (Django's serializer, primary keys kept,
  moments to the microsecond), every row after the rows it points at;
- `files/<name>`: each stored file under the name its record gives.

What travels is a list of parts, one per model with the query of the subtree's rows: branches' own below, and those
other apps add with `also_export` (responsibility lists, inspections and findings). Figures kept from the records
(month summaries, compliance results, standings) do not travel: the import rebuilds them. Neither do the
installation's rules (meeting requirements, term rules, settings, rubrics) nor assessment rounds, which span
subtrees. A record pointing outside the subtree loses that link if it may (recorded in the manifest); a standard list
written above the subtree travels with the lists issued from it, written by the subtree's root in the new database.

Each model is read in chunks, in one transaction that sees one state of the database (repeatable read on
PostgreSQL): a meeting saved meanwhile is in the file with its attendance, or not at all. Queries do not grow with
the number of rows.

`import_subtree(source=...)` loads such a file into a database holding none of its organizations (normally an empty
one, migrated: with the rows the migrations seed), in one transaction: the same primary keys, the subtree's root
becoming a root of the tree, people found by user name or added without a password (an administrator sets one), the
files stored under their names and checked against their SHA-256. Then it rebuilds the kept figures of the subtree
and records the import in the audit trail. A refusal writes nothing, files included.
"""

import contextlib
import hashlib
import io
import json
import os
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path

import jsonschema
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core import serializers
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.management.color import no_style
from django.core.serializers.base import DeserializationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, connection, models, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from branches import access, audit, results, summaries
from branches.models import (
    ALLOWED_PARENT_KINDS,
    Attachment,
    Attendance,
    AuditEntry,
    Cadre,
    CommitteeTerm,
    Meeting,
    Member,
    Organization,
    ResultYear,
    RoleAssignment,
    TrainingRecord,
    WorkbookImport,
)
from branches.validators import UNSTORABLE

FORMAT = "branch-portal-subtree"
FORMAT_VERSION = 1
CHUNK = 1000
JOB = "import_subtree"


@dataclass(frozen=True)
class Part:
    """One model's share of a subtree: `under(root)` selects the rows (a condition on the model)."""

    model: type[models.Model]
    under: object
    order: tuple = ("pk",)

    @property
    def label(self):
        return self.model._meta.label_lower

    def rows(self, root):
        return self.model._base_manager.filter(self.under(root)).order_by(*self.order)


def in_subtree(link=""):
    """The condition "the row's organization (reached through `link`) is in the subtree of the root"."""
    lookup = f"{link}__path__startswith" if link else "path__startswith"
    return lambda root: Q(**{lookup: root.path})


# In an order where each row comes after what it points at; the organizations in tree order, the root first.
PARTS = [
    Part(Organization, in_subtree(), order=("path",)),
    Part(Member, in_subtree("organization")),
    Part(Cadre, in_subtree("organization")),
    Part(TrainingRecord, in_subtree("cadre__organization")),
    Part(CommitteeTerm, in_subtree("organization")),
    Part(RoleAssignment, in_subtree("organization")),
    Part(Meeting, in_subtree("organization")),
    Part(Attendance, in_subtree("meeting__organization")),
    Part(Attachment, in_subtree("organization")),
    Part(WorkbookImport, in_subtree("organization")),
    Part(AuditEntry, in_subtree("organization")),
]


def also_export(*parts):
    """Another app's models travel with the subtree too (after branches' own, in the order given)."""
    for part in parts:
        if all(part.model is not known.model for known in PARTS):
            PARTS.append(part)


class _Encoder(DjangoJSONEncoder):
    """Moments to the microsecond (Django's own encoder keeps milliseconds): an import gives back the same values."""

    def default(self, o):
        if isinstance(o, datetime | time):
            return o.isoformat()
        return super().default(o)


def _links(model):
    return [f for f in model._meta.concrete_fields if f.is_relation and f.many_to_one]


def _file_fields(model):
    return [f for f in model._meta.concrete_fields if isinstance(f, models.FileField)]


def _migrations(app_labels):
    """{app: [applied migration names]} for these apps."""
    applied = MigrationRecorder(connection).applied_migrations()
    return {app: sorted(name for (label, name) in applied if label == app) for app in sorted(set(app_labels))}


# ------------------------------------------------------------------------------------------------------ export


@dataclass
class ExportResult:
    root: Organization
    counts: dict = field(default_factory=dict)  # {model label: rows}
    files: int = 0
    missing_files: list = field(default_factory=list)
    links_changed: list = field(default_factory=list)

    @property
    def records(self):
        return sum(self.counts.values())


class _Export:
    def __init__(self, root):
        self.root = root
        self.exported = {part.model for part in PARTS}
        targets = {link.related_model for part in PARTS for link in _links(part.model)} & self.exported
        # The keys of every exported row something points at: one query a model.
        self.kept = {
            part.model: set(part.rows(root).values_list("pk", flat=True)) for part in PARTS if part.model in targets
        }
        self.users, self.content_types = set(), set()
        self.files = {}  # name: (model label, field name)
        self.changed = Counter()  # (model label, field name, "cut" or "root"): rows
        self.counted = Counter()  # model label: rows written

    def _follow(self, part, obj):
        """Note the people, content types and files a row names; change a link that leaves the subtree."""
        for link in _links(part.model):
            value = getattr(obj, link.attname)
            target = link.related_model
            if value is None:
                continue
            if target is get_user_model():
                self.users.add(value)
            elif target is ContentType:
                self.content_types.add(value)
            elif value not in self.kept.get(target, ()):
                if target is Organization and not link.null:  # a standard list written above the subtree
                    setattr(obj, link.attname, self.root.pk)
                    self.changed[(part.label, link.name, "root")] += 1
                elif link.null:
                    setattr(obj, link.attname, None)
                    self.changed[(part.label, link.name, "cut")] += 1
                else:
                    raise ValidationError(
                        _("%(model)s #%(pk)s points outside the subtree (%(field)s): it cannot be exported alone.")
                        % {"model": part.model._meta.verbose_name, "pk": obj.pk, "field": link.verbose_name}
                    )
        for file_field in _file_fields(part.model):
            name = getattr(obj, file_field.attname).name
            if name:
                self.files[name] = (part.label, file_field.name)

    def rows(self, part):
        for obj in part.rows(self.root).iterator(chunk_size=CHUNK):
            self._follow(part, obj)
            self.counted[part.label] += 1
            yield obj

    def people(self):
        User = get_user_model()
        people = []
        ids = sorted(self.users)
        for start in range(0, len(ids), CHUNK):
            chunk = User._base_manager.filter(pk__in=ids[start : start + CHUNK]).order_by("pk")
            people += list(chunk.values("pk", User.USERNAME_FIELD, "first_name", "last_name", "email", "is_active"))
        return people

    def models_named(self):
        found = ContentType.objects.filter(pk__in=self.content_types).order_by("pk")
        return list(found.values("pk", "app_label", "model"))


def _copy(source, target):
    """Copy a file; its SHA-256 and size."""
    digest, size = hashlib.sha256(), 0
    while block := source.read(1 << 20):
        digest.update(block)
        size += len(block)
        target.write(block)
    return digest.hexdigest(), size


@contextlib.contextmanager
def _one_state():
    """A transaction whose reads all see the database as at its first (repeatable read on PostgreSQL; SQLite's
    reading transaction does so already)."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def export_subtree(*, root, out) -> ExportResult:
    """Write the subtree under `root` to the zip file `out` (written beside, then moved into place)."""
    if None not in ALLOWED_PARENT_KINDS[root.kind]:
        raise ValidationError(
            _("A %(kind)s cannot stand at the top of a tree: export the organization it belongs to.")
            % {"kind": root.get_kind_display()}
        )
    out = Path(out)
    partial = out.with_name(f".{out.name}.partial")
    result = ExportResult(root=root)
    try:
        with _one_state(), zipfile.ZipFile(partial, "w") as archive:
            _write(archive, _Export(root), result)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return result


def _entry(name):
    """A compressed entry of the archive, dated now (a stream written in would be dated 1980)."""
    entry = zipfile.ZipInfo(name, date_time=timezone.localtime().timetuple()[:6])
    entry.compress_type = zipfile.ZIP_DEFLATED
    return entry


def _write(archive, export, result):
    records = []
    for number, part in enumerate(PARTS, start=1):
        name = f"records/{number:02d}-{part.label}.jsonl"
        with archive.open(_entry(name), "w", force_zip64=True) as raw, io.TextIOWrapper(raw, "utf-8") as text:
            serializers.serialize("jsonl", export.rows(part), stream=text, cls=_Encoder)
        records.append({"model": part.label, "file": name, "count": export.counted[part.label]})
    files = []
    for name, (label, field_name) in sorted(export.files.items()):
        storage = apps.get_model(label)._meta.get_field(field_name).storage
        try:
            with (
                storage.open(name, "rb") as source,
                archive.open(_entry(f"files/{name}"), "w", force_zip64=True) as target,
            ):
                digest, size = _copy(source, target)
        except FileNotFoundError:
            result.missing_files.append(name)
            continue
        files.append({"name": name, "sha256": digest, "size": size, "model": label, "field": field_name})
    result.files = len(files)
    result.counts = {entry["model"]: entry["count"] for entry in records}
    result.links_changed = [
        {"model": label, "field": field_name, "change": change, "rows": rows}
        for (label, field_name, change), rows in sorted(export.changed.items())
    ]
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "exported_at": timezone.now().isoformat(),
        "root": {"pk": export.root.pk, "code": export.root.code, "name": export.root.name, "path": export.root.path},
        "migrations": _migrations(part.model._meta.app_label for part in PARTS),
        "records": records,
        "users": export.people(),
        "content_types": export.models_named(),
        "files": files,
        "missing_files": result.missing_files,
        "years_kept": sorted(results.covered_years()),
        "links_changed": result.links_changed,
    }
    archive.writestr(_entry("manifest.json"), json.dumps(manifest, ensure_ascii=False, indent=1, cls=_Encoder))


# ------------------------------------------------------------------------------------------------------ import


@dataclass
class ImportResult:
    root: Organization
    counts: dict = field(default_factory=dict)  # {model label: rows}
    files: int = 0
    people_added: int = 0
    figures: int = 0  # kept figures rebuilt (rows written)

    @property
    def records(self):
        return sum(self.counts.values())


SAFE_NAME = re.compile(r"^(?!/)(?!.*(?:^|/)\.\.?(?:/|$))[\w.\-/]+$")


def _refuse(message):
    raise ValidationError(message, code="refused")


def _manifest(archive):
    try:
        manifest = json.loads(archive.read("manifest.json"))
    except (KeyError, ValueError):
        _refuse(_("This is not a subtree export: it has no readable manifest.json."))
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        _refuse(_("This is not a subtree export of the portal."))
    if manifest.get("format_version") != FORMAT_VERSION:
        _refuse(
            _("This export has format version %(version)s; this portal reads version %(ours)d.")
            % {"version": manifest.get("format_version"), "ours": FORMAT_VERSION}
        )
    # The manifest steers the import (which models, files and people): a damaged one is refused before it is used.
    problem = next(iter(jsonschema.Draft202012Validator(_manifest_schema()).iter_errors(manifest)), None)
    where = (
        "/".join(str(step) for step in problem.absolute_path) or "manifest.json"
        if problem is not None
        else _unstorable_at(manifest)
    )
    if where is not None:
        _refuse(_("The manifest of this export is damaged at %(where)s.") % {"where": where})
    return manifest


def _unstorable_at(node, path=()):
    """Where the manifest holds text no database keeps (a NUL byte, a lone surrogate), or None."""
    here = "/".join(map(str, path)) or "manifest.json"
    if isinstance(node, str):
        return here if UNSTORABLE.search(node) else None
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        if isinstance(key, str) and UNSTORABLE.search(key):
            return here
        found = _unstorable_at(child, (*path, key))
        if found is not None:
            return found
    return None


def _manifest_schema():
    """The shape `_manifest` accepts: what the export writes, with the models and fields this portal exports."""
    text = {"type": "string"}
    key = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
    labels = {"enum": [part.label for part in PARTS]}
    file_fields = sorted({f.name for part in PARTS for f in _file_fields(part.model)})
    User = get_user_model()
    user_fields = {
        f.name: {"type": ["string", "boolean", "null"]}
        for f in User._meta.concrete_fields
        if not f.is_relation and f.name not in ("password", "id")
    }
    return {
        "type": "object",
        "required": ["root", "migrations", "records", "users", "content_types", "files", "years_kept", "exported_at"],
        "properties": {
            "root": {
                "type": "object",
                "required": ["pk", "code", "path"],
                "properties": {"pk": key, "code": text, "path": {"type": "string", "minLength": 1}},
            },
            "exported_at": text,
            "migrations": {"type": "object", "additionalProperties": {"type": "array", "items": text}},
            "records": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["model", "file"],
                    "properties": {"model": labels, "file": {"type": "string", "pattern": r"^records/[\w.\-]+$"}},
                },
            },
            "users": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["pk", User.USERNAME_FIELD],
                    "properties": {
                        **user_fields,
                        "pk": key,
                        User.USERNAME_FIELD: {"type": "string", "minLength": 1, "maxLength": 150},
                    },
                    "additionalProperties": False,
                },
            },
            "content_types": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["pk", "app_label", "model"],
                    "properties": {"pk": key, "app_label": text, "model": text},
                },
            },
            "files": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "sha256", "model", "field"],
                    "properties": {"name": text, "sha256": text, "model": labels, "field": {"enum": file_fields}},
                },
            },
            "years_kept": {"type": "array", "items": {"type": "integer", "minimum": 1921, "maximum": 2100}},
        },
    }


def _check_migrations(manifest):
    """The records fit this database: every migration they were written under has been applied here."""
    applied = _migrations(manifest["migrations"].keys())
    behind = sorted(
        f"{app}.{name}" for app, names in manifest["migrations"].items() for name in set(names) - set(applied[app])
    )
    if behind:
        _refuse(
            _("This database lacks migrations the export was written under (%(names)s): run manage.py migrate first.")
            % {"names": "、".join(behind[:5])}
        )


def _sha256(handle):
    digest = hashlib.sha256()
    while block := handle.read(1 << 20):
        digest.update(block)
    return digest.hexdigest()


def _check_files(archive, manifest):
    """Every file is in the archive under a plain name, with the bytes its checksum says."""
    for entry in manifest["files"]:
        name = entry["name"]
        if not SAFE_NAME.match(name):
            _refuse(_("The export names a file %(name)s outside its folders.") % {"name": name})
        try:
            with archive.open(f"files/{name}") as handle:
                same = _sha256(handle) == entry["sha256"]
        except KeyError:
            same = False
        if not same:
            _refuse(_("The file %(name)s in the export is missing or damaged.") % {"name": name})


def _people(manifest, result):
    """{user key in the export: user key here}: people found by user name, the others added without a password."""
    User = get_user_model()
    field_name = User.USERNAME_FIELD
    names = [person[field_name] for person in manifest["users"]]
    here = {}
    for start in range(0, len(names), CHUNK):
        chunk = names[start : start + CHUNK]
        here.update(User._base_manager.filter(**{f"{field_name}__in": chunk}).values_list(field_name, "pk"))
    if access.SYSTEM_USERNAME in names and access.SYSTEM_USERNAME not in here:
        here[access.SYSTEM_USERNAME] = access.system_user().pk  # the portal's own actor, as it makes itself
    added = []
    for person in manifest["users"]:
        if person[field_name] not in here:
            user = User(**{key: value for key, value in person.items() if key != "pk"})
            user.set_unusable_password()
            added.append(user)
    for user in User._base_manager.bulk_create(added, batch_size=CHUNK):
        here[getattr(user, field_name)] = user.pk
    if added:
        with audit.as_job(JOB):
            audit.record_bulk(
                AuditEntry.Action.CREATE, [(user, {field_name: [None, user.get_username()]}) for user in added]
            )
    result.people_added = len(added)
    return {person["pk"]: here[person[field_name]] for person in manifest["users"]}


def _models_named(manifest):
    """{content type key in the export: key here}."""
    return {
        entry["pk"]: ContentType.objects.get_or_create(app_label=entry["app_label"], model=entry["model"])[0].pk
        for entry in manifest["content_types"]
    }


class _Import:
    def __init__(self, manifest, people, models_named):
        self.old_root = manifest["root"]
        last = Organization.objects.get_last_root_node()
        self.new_root_path = last._inc_path() if last else Organization._get_path(None, 1, 1)
        self.people, self.models_named = people, models_named

    def _refuse_known_organizations(self, organizations):
        known = sorted(
            Organization.objects.filter(code__in=[o.code for o in organizations]).values_list("code", flat=True)
        )
        if known:
            _refuse(
                _(
                    "This database already holds organizations of the export (%(codes)s): a subtree is imported only "
                    "into a database without them."
                )
                % {"codes": "、".join(known[:10]) + ("……" if len(known) > 10 else "")}
            )

    def prepared(self, model, objects):
        """The rows as this database needs them: the tree re-rooted, people and content types by their keys here."""
        if model is Organization:
            self._refuse_known_organizations(objects)
            step = Organization.steplen
            for organization in objects:
                organization.path = self.new_root_path + organization.path[len(self.old_root["path"]) :]
                organization.depth = len(organization.path) // step
        for link in _links(model):
            mapping = (
                self.people
                if link.related_model is get_user_model()
                else self.models_named
                if link.related_model is ContentType
                else None
            )
            if mapping is None:
                continue
            for obj in objects:
                value = getattr(obj, link.attname)
                if value is not None:
                    setattr(obj, link.attname, mapping[value])
        return objects


def _insert(model, objects):
    """Insert the rows as they are (keys, and moments that `auto_now` would otherwise replace), as loaddata does."""
    fields = model._meta.local_concrete_fields
    size = max(1, min(CHUNK, connection.ops.bulk_batch_size(fields, objects)))
    for start in range(0, len(objects), size):
        model._base_manager._insert(objects[start : start + size], fields=fields, raw=True)


def _batches(items, size):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@contextlib.contextmanager
def _stored_files():
    """The names stored inside; removed again if anything fails."""
    stored = []
    try:
        yield stored
    except BaseException:
        for storage, name in stored:
            storage.delete(name)
        raise


def _store(archive, manifest, stored):
    for entry in manifest["files"]:
        name = entry["name"]
        storage = apps.get_model(entry["model"])._meta.get_field(entry["field"]).storage
        if storage.exists(name):
            with storage.open(name, "rb") as handle:
                if _sha256(handle) == entry["sha256"]:
                    continue  # already there, the same bytes
            _refuse(_("A different file is already stored as %(name)s.") % {"name": name})
        with archive.open(f"files/{name}") as handle:
            saved = storage.save(name, File(handle, name=name))
        stored.append((storage, saved))
        if saved != name:
            _refuse(_("The file %(name)s could not be stored under its own name.") % {"name": name})


def import_subtree(*, source) -> ImportResult:
    """Load a subtree export (a path or a file) into this database; see the module's docstring."""
    with zipfile.ZipFile(source) as archive:
        manifest = _manifest(archive)
        _check_migrations(manifest)
        _check_files(archive, manifest)
        try:
            with _stored_files() as stored, transaction.atomic():
                result = _load(archive, manifest, stored)
        except DeserializationError as error:
            raise ValidationError(
                _("The records of the export cannot be read (%(error)s).") % {"error": str(error).splitlines()[0]},
                code="refused",
            ) from None
        except (DatabaseError, ValueError) as error:  # a key taken, a value this database cannot hold (a NUL byte)
            raise ValidationError(
                _("The records of the export do not fit this database (%(error)s): import into an empty database.")
                % {"error": (str(error).strip().splitlines() or [type(error).__name__])[0]},
                code="refused",
            ) from None
    return result


def _load(archive, manifest, stored):
    result = ImportResult(root=None)
    loading = _Import(manifest, _people(manifest, result), _models_named(manifest))
    loaded = []
    for entry in manifest["records"]:
        model = apps.get_model(entry["model"])
        with archive.open(entry["file"]) as raw, io.TextIOWrapper(raw, encoding="utf-8") as text:
            count = 0
            for batch in _batches(serializers.deserialize("jsonl", text), CHUNK):
                objects = loading.prepared(model, [item.object for item in batch])
                _insert(model, objects)
                count += len(objects)
        result.counts[entry["model"]] = count
        loaded.append(model)
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), loaded):
            cursor.execute(statement)
    _store(archive, manifest, stored)
    result.files = len(manifest["files"])
    root = Organization.objects.get(pk=manifest["root"]["pk"])
    result.root = root
    for year in manifest["years_kept"]:
        ResultYear.objects.get_or_create(year=year)
    result.figures = sum(rows for _label, rows in summaries.rebuild_each(within=root))
    with audit.as_job(JOB):
        audit.record_summary(
            root,
            AuditEntry.Action.CREATE,
            {"import": {"exported_at": manifest["exported_at"], "rows": result.counts, "files": result.files}},
        )
    return result
