"""The plan of an import: every row of the three sheets decided (create, update, unchanged, refused), and with
`write=True` written, by the same code, so that what is applied is what was previewed."""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from django.utils import translation
from django.utils.translation import gettext as _

from branches import access, xlsx_reader
from branches.models import Organization
from branches.workbook.apply import Writes
from branches.workbook.cadres import CadreRows
from branches.workbook.members import MemberRows
from branches.workbook.organizations import ORG_FIELDS, OrganizationRows, OrgRef
from branches.workbook.reading import SheetError, _open, _rows
from branches.workbook.sheets import (
    CADRES,
    CHUNK,
    CREATE,
    MEMBERS,
    ORGANIZATIONS,
    QUERY_BATCH,
    REFUSED,
    SHEETS,
    SHOWN_ROWS,
    UNCHANGED,
    UPDATE,
    _in_file_language,
)


@dataclass
class Tally:
    create: int = 0
    update: int = 0
    unchanged: int = 0
    refused: int = 0


@dataclass
class Outcome:
    """What a plan found (and, when writing, wrote): counts per sheet, rows to show, the fingerprint."""

    counts: dict = field(default_factory=lambda: {sheet.key: Tally() for sheet in SHEETS})
    shown: dict = field(default_factory=lambda: {CREATE: [], UPDATE: [], REFUSED: []})
    digest: str = ""
    rows_total: int = 0
    error: str = ""
    changed_members: list = field(default_factory=list)  # ids whose membership dates changed (written plans)

    @property
    def refused(self):
        return bool(self.error) or any(tally.refused for tally in self.counts.values())

    def as_preview(self):
        return {
            "counts": {key: vars(tally) for key, tally in self.counts.items()},
            "shown": self.shown,
            "error": self.error,
        }


class Planner(OrganizationRows, MemberRows, CadreRows, Writes):
    """Decides, row by row, what the workbook would do under `root` for `user`; writes it when `write`."""

    def __init__(self, *, root, user, write=False, progress: Callable[[int], None] | None = None):
        self.root = root
        self.user = user
        self.write = write
        self.progress = progress or (lambda done: None)
        self.outcome = Outcome()
        self.hash = hashlib.sha256()
        self.orgs = {}  # code -> OrgRef, for every organization the plan has met
        self.missing_codes = set()
        self.member_keys = set()  # (branch code, member ID) of the members sheet
        self.done = 0
        self.admin_paths = None if access.is_everywhere(user) else access.root_paths(user, access.ADMINISTER)

    # --- scope and lookups

    def manages(self, ref):
        """Within the import's organization and administered by the user: an existing organization's path, or a
        new organization (whose parent is checked in turn)."""
        if ref.is_new:
            return True
        if not ref.path.startswith(self.root.path):
            return False
        return self.admin_paths is None or any(ref.path.startswith(path) for path in self.admin_paths)

    def lookup(self, codes):
        """Load the organizations of these codes not met yet, a batch of codes per query."""
        wanted = [code for code in set(codes) if code and code not in self.orgs and code not in self.missing_codes]
        for start in range(0, len(wanted), QUERY_BATCH):
            batch = wanted[start : start + QUERY_BATCH]
            rows = Organization.objects.filter(code__in=batch).values(
                "pk", "code", "kind", "path", "depth", "status", "numchild", *ORG_FIELDS
            )
            found = set()
            for row in rows:
                found.add(row["code"])
                self.orgs[row["code"]] = OrgRef(
                    code=row["code"],
                    kind=row["kind"],
                    pk=row["pk"],
                    path=row["path"],
                    depth=row["depth"],
                    status=row["status"],
                    numchild=row["numchild"],
                    fields={name: row[name] for name in ORG_FIELDS},
                )
            self.missing_codes.update(set(batch) - found)

    def parent_codes(self, refs):
        """The current parent code of existing organizations (None for a root), a batch of paths per query."""
        step = Organization.steplen
        paths = {ref.path[:-step] for ref in refs if ref.depth > 1}
        by_path = {}
        paths = list(paths)
        for start in range(0, len(paths), QUERY_BATCH):
            by_path.update(
                Organization.objects.filter(path__in=paths[start : start + QUERY_BATCH]).values_list("path", "code")
            )
        for ref in refs:
            ref.parent_code = by_path.get(ref.path[:-step]) if ref.depth > 1 else None

    def record(self, row, action, key):
        """Count a decided row, keep it for the page if there is room, add it to the fingerprint."""
        row.action = action
        tally = self.outcome.counts[row.sheet.key]
        setattr(tally, action, getattr(tally, action) + 1)
        if action in (CREATE, UPDATE, REFUSED) and len(self.outcome.shown[action]) < SHOWN_ROWS:
            entry = {"sheet": _in_file_language(row.sheet.title), "row": row.number, "key": key}
            if action == REFUSED:
                labels = {column.key: _in_file_language(column.label) for column in row.sheet.columns}
                entry["errors"] = [
                    {"column": labels.get(name, ""), "cell": row.cell(name), "message": message}
                    for name, message in row.errors.items()
                ]
            elif action == UPDATE:
                labels = {column.key: column for column in row.sheet.columns}
                entry["changes"] = [
                    {
                        "column": _in_file_language(labels[name].label),
                        "before": _shown(labels[name], before),
                        "after": _shown(labels[name], after),
                    }
                    for name, (before, after) in row.changes.items()
                ]
            self.outcome.shown[action].append(entry)
        if action != UNCHANGED:
            values = [str(row.values.get(column.key)) for column in row.sheet.columns]
            self.hash.update(f"{row.sheet.key}|{row.number}|{action}|{'|'.join(values)}\n".encode())
        self.done += 1
        if self.done % CHUNK == 0:
            self.progress(min(99, self.book.read_bytes[0] * 100 // self.bytes_total))

    # --- the run

    def run(self, fileobj):
        book = _open(fileobj)
        titles = {}
        for sheet in SHEETS:
            title = _in_file_language(sheet.title)
            if title not in book.sheets:
                with translation.override("en"):
                    title = str(sheet.title)
            if title not in book.sheets:
                raise SheetError(
                    _("The workbook has no sheet “%(sheet)s”. Download the template and keep its three sheets.")
                    % {"sheet": _in_file_language(sheet.title)}
                )
            titles[sheet.key] = title
        self.book = book
        self.bytes_total = sum(book.sheet_size(title) for title in titles.values()) or 1
        self.plan_organizations(_rows(book, titles["organizations"], ORGANIZATIONS, True))
        self.plan_in_chunks(_rows(book, titles["members"], MEMBERS, True), self.plan_members)
        self.plan_in_chunks(_rows(book, titles["cadres"], CADRES, True), self.plan_cadres)
        self.outcome.rows_total = self.done
        self.outcome.digest = self.hash.hexdigest()
        return self.outcome

    def plan_in_chunks(self, rows, plan):
        chunk = []
        for row in rows:
            chunk.append(row)
            if len(chunk) == CHUNK:
                plan(chunk)
                chunk = []
        if chunk:
            plan(chunk)

    # --- organizations

    def _branch_of(self, row, key, kinds, what):
        """The organization a member or cadre row names, checked; None (with the cell refused) otherwise."""
        code = row.values[key]
        if not code:
            return None
        ref = self.orgs.get(code)
        if ref is None:
            row.refuse(key, _("no organization has the code %(code)s") % {"code": code})
            return None
        if not self.manages(ref):
            row.refuse(
                key, _("the organization %(code)s is outside the part of the tree you administer") % {"code": code}
            )
            return None
        if ref.row is not None and ref.row.refused:
            row.refuse(
                key, _("the organization %(code)s (row %(row)d) is refused") % {"code": code, "row": ref.row.number}
            )
            return None
        if ref.kind not in kinds:
            row.refuse(key, what % {"code": code})
            return None
        return ref


def _shown(column, value):
    if value is None or value == "":
        return ""
    if column.kind == "choice":
        try:
            return str(column.choices(value).label)
        except ValueError:
            return str(value)
    if column.kind == "bool":
        return _("yes") if value else _("no")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def plan(fileobj, *, root, user, write=False, progress=None) -> Outcome:
    """Read the workbook and decide every row; with `write`, also write them (call inside a transaction, and
    only for a file whose preview had no refused row: a refused row stops the writing of what follows)."""
    planner = Planner(root=root, user=user, write=write, progress=progress)
    try:
        return planner.run(fileobj)
    except SheetError as error:
        planner.outcome.error = error.messages[0]
        return planner.outcome
    except xlsx_reader.Unreadable:  # damaged past the first look, in a sheet's cells
        planner.outcome.error = _("This file is not an Excel workbook (.xlsx). Save it as .xlsx and try again.")
        return planner.outcome
