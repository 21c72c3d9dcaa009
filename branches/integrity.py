"""Checking that the records, the stored files and the kept figures agree (`manage.py check_integrity`).

Three kinds of problem are looked for, each without changing anything:

- records pointing at a missing file: every `FileField` of every installed model (found through the app registry,
  so a model added later is checked too), each name asked of the field's own storage;
- orphaned files: files in a storage that no record of any of its file fields names (only when the whole tree is
  checked: a file no record names belongs to no organization);
- kept figures out of step with the records: the month summaries, the compliance results of the kept years and the
  other apps' summaries, counted by the very rebuild that fixes them (`summaries.rebuild_each`), run inside a
  transaction that is rolled back.

Records are read in chunks and files asked for one at a time: the memory used does not grow with the tree.
"""

from dataclasses import dataclass, field

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models, transaction

from branches import summaries
from branches.models import Organization, SummaryRun

CHUNK = 1000


@dataclass(frozen=True)
class MissingFile:
    model: type[models.Model]
    pk: object
    field: str
    name: str

    @property
    def record(self):
        return f"{self.model._meta.verbose_name} #{self.pk}"

    @property
    def field_label(self):
        return str(self.model._meta.get_field(self.field).verbose_name)


@dataclass
class Report:
    within: Organization | None = None
    missing: list[MissingFile] = field(default_factory=list)
    orphans: list[str] | None = None  # None: not looked for (a subtree was checked)
    drift: list[tuple[str, int]] = field(default_factory=list)  # (what, rows out of step), the kinds with any
    fixed: int | None = None  # rows rewritten by --fix-summaries

    @property
    def drift_rows(self):
        return sum(rows for _label, rows in self.drift)

    @property
    def problems(self):
        return len(self.missing) + len(self.orphans or ()) + self.drift_rows


def file_fields():
    """[(model, file field)] of every installed model, in a stable order."""
    found = []
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        for model_field in model._meta.concrete_fields:
            if isinstance(model_field, models.FileField):
                found.append((model, model_field))
    return sorted(found, key=lambda pair: (pair[0]._meta.label, pair[1].name))


def _organization_link(model):
    """Whether the model's records belong to an organization (`organization`), so a subtree's can be found."""
    try:
        link = model._meta.get_field("organization")
    except FieldDoesNotExist:
        return False
    return link.is_relation and link.related_model is Organization


def _records(model, model_field, within):
    """The records with a file name, of the subtree under `within` (or all); None if the model names no
    organization (its records cannot be told apart by subtree)."""
    rows = model._base_manager.exclude(**{model_field.attname: ""}).exclude(**{f"{model_field.attname}__isnull": True})
    if within is None:
        return rows
    if not _organization_link(model):
        return None
    return rows.filter(organization__path__startswith=within.path)


def missing_files(within=None) -> list[MissingFile]:
    """Records (of the subtree under `within`, or all) whose file is not in their storage."""
    missing = []
    for model, model_field in file_fields():
        rows = _records(model, model_field, within)
        if rows is None:  # no way to tell which of its records are the subtree's
            continue
        storage = model_field.storage
        for pk, name in rows.order_by("pk").values_list("pk", model_field.attname).iterator(chunk_size=CHUNK):
            if not storage.exists(name):
                missing.append(MissingFile(model, pk, model_field.name, name))
    return missing


def _walk(storage, folder=""):
    """Every file name in a storage, folders first, in a stable order."""
    folders, files = storage.listdir(folder)
    for name in sorted(folders):
        yield from _walk(storage, f"{folder}{name}/")
    for name in sorted(files):
        yield f"{folder}{name}"


def _storages():
    """{storage: [(model, file field)]}: each storage in use, with the fields that keep their files in it."""
    by_storage = {}
    for model, model_field in file_fields():
        by_storage.setdefault(model_field.storage, []).append((model, model_field))
    return by_storage


def _unnamed(names, fields):
    named = set()
    for model, model_field in fields:
        named.update(
            model._base_manager.filter(**{f"{model_field.attname}__in": names}).values_list(
                model_field.attname, flat=True
            )
        )
    return [name for name in names if name not in named]


def _exists(storage, folder=""):
    try:
        storage.listdir(folder)
    except FileNotFoundError:  # nothing was ever stored there
        return False
    return True


def orphaned_files() -> list[str]:
    """Files of every storage in use that no record names; asked of the database a chunk of names at a time."""
    orphans = []
    for storage, fields in _storages().items():
        if not _exists(storage):
            continue
        chunk = []
        for name in _walk(storage):
            chunk.append(name)
            if len(chunk) == CHUNK:
                orphans += _unnamed(chunk, fields)
                chunk = []
        orphans += _unnamed(chunk, fields) if chunk else []
    return orphans


class _RolledBack(Exception):
    pass


def figures_out_of_step(within=None) -> list[tuple[str, int]]:
    """[(what, rows out of step)] for every kind of kept figure, as the rebuild finds them; nothing is changed."""
    found = []
    try:
        with transaction.atomic():
            found = summaries.rebuild_each(within=within)
            raise _RolledBack
    except _RolledBack:
        pass
    return found


def check(*, within=None, fix_summaries=False, source=SummaryRun.Source.COMMAND) -> Report:
    """Look for every kind of problem (in the subtree under `within`, or everywhere); with `fix_summaries`, the
    figures found out of step are then rebuilt (a run listed on the jobs page, started by `source`)."""
    report = Report(within=within)
    report.missing = missing_files(within)
    report.orphans = orphaned_files() if within is None else None
    report.drift = [(label, rows) for label, rows in figures_out_of_step(within) if rows]
    if fix_summaries and report.drift:
        report.fixed = summaries.run(source=source, within=within).drift
    return report
