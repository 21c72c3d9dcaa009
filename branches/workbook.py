"""The workbook of organizations, members and cadres: its template, export, reading, preview and apply.

One format serves three sheets (组织, 党员, 干部) with Chinese headers, so that an export of a subtree,
edited and imported again, round-trips. Rows are matched to what exists by their keys:

- an organization by its code;
- a member by branch code and member ID (a member's record is their place in one branch);
- a cadre by organization code, post, name and term start.

A row is then to be created, updated, unchanged, or refused with a reason beside each cell. `plan()` reads the
file once, in read-only mode, sheet by sheet and members and cadres in chunks, with a fixed number of queries
per chunk. With `write=True` (inside the caller's transaction) it writes each chunk as it goes, with
bulk_create / bulk_update, so the preview and the apply are the same code and the same decisions; the
fingerprint of every decision (`digest`) lets the caller check that what is applied is what was previewed.

Files are judged before openpyxl opens them (`check_file`): size, a real zip with a workbook inside, and the
declared uncompressed sizes (a zip bomb is refused unread). Formula cells are refused by cell.
"""

import hashlib
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Max
from django.db.models.functions import Length, Substr
from django.template.defaultfilters import filesizeformat
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy
from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from branches import access, xlsx_reader
from branches.models import (
    ALLOWED_PARENT_KINDS,
    Cadre,
    Employment,
    Gender,
    Member,
    MemberCategory,
    MemberStatus,
    Organization,
    OrganizationKind,
    OrganizationStatus,
    Post,
    Sector,
)
from branches.validators import MARKUP

WORKBOOK_LANGUAGE = "zh-hans"  # the headers and values of the file, whatever the page's language
CHUNK = 2000  # member and cadre rows planned (and written) together
QUERY_BATCH = 1000  # values in one IN (...) lookup
SHOWN_ROWS = 200  # rows of each kind kept for the preview page
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")

CREATE, UPDATE, UNCHANGED, REFUSED = "create", "update", "unchanged", "refused"


@dataclass(frozen=True)
class Column:
    key: str
    label: object
    kind: str  # code, text, choice, date, int, bool
    required: bool = False
    choices: type | None = None
    max_length: int = 0
    example: object = None


@dataclass(frozen=True)
class Sheet:
    key: str
    title: object
    columns: tuple

    @property
    def keys(self):
        return [column.key for column in self.columns]


ORGANIZATIONS = Sheet(
    "organizations",
    pgettext_lazy("workbook sheet", "organizations"),
    (
        Column(
            "code",
            pgettext_lazy("workbook column", "organization code"),
            "code",
            True,
            max_length=32,
            example="Q-01-03",
        ),
        Column(
            "name",
            pgettext_lazy("workbook column", "organization name"),
            "text",
            True,
            max_length=120,
            example="中共青山县东村支部委员会",
        ),
        Column(
            "kind",
            pgettext_lazy("workbook column", "organization kind"),
            "choice",
            True,
            OrganizationKind,
            example=OrganizationKind.BRANCH,
        ),
        Column(
            "parent",
            pgettext_lazy("workbook column", "parent organization code"),
            "code",
            max_length=32,
            example="Q-01",
        ),
        Column("sector", pgettext_lazy("workbook column", "sector"), "choice", True, Sector, example=Sector.VILLAGE),
        Column("founded_on", pgettext_lazy("workbook column", "founded on"), "date", example=date(2018, 7, 1)),
        Column("staff_headcount", pgettext_lazy("workbook column", "staff headcount"), "int", example=12),
    ),
)
MEMBERS = Sheet(
    "members",
    pgettext_lazy("workbook sheet", "members"),
    (
        Column(
            "number", pgettext_lazy("workbook column", "member ID"), "code", True, max_length=32, example="DY20180001"
        ),
        Column("name", pgettext_lazy("workbook column", "full name"), "text", True, max_length=60, example="张明"),
        Column("gender", pgettext_lazy("workbook column", "gender"), "choice", True, Gender, example=Gender.MALE),
        Column(
            "category",
            pgettext_lazy("workbook column", "member category"),
            "choice",
            True,
            MemberCategory,
            example=MemberCategory.FULL,
        ),
        Column(
            "joined_party_on",
            pgettext_lazy("workbook column", "joined the Party on"),
            "date",
            True,
            example=date(2010, 7, 1),
        ),
        Column(
            "joined_branch_on",
            pgettext_lazy("workbook column", "joined the branch on"),
            "date",
            example=date(2018, 7, 1),
        ),
        Column(
            "branch", pgettext_lazy("workbook column", "branch code"), "code", True, max_length=32, example="Q-01-03"
        ),
        Column("party_group", pgettext_lazy("workbook column", "party group code"), "code", max_length=32, example=""),
        Column(
            "status",
            pgettext_lazy("workbook column", "status"),
            "choice",
            choices=MemberStatus,
            example=MemberStatus.ACTIVE,
        ),
        Column("left_on", pgettext_lazy("workbook column", "left the branch on"), "date", example=""),
    ),
)
CADRES = Sheet(
    "cadres",
    pgettext_lazy("workbook sheet", "cadres"),
    (
        Column(
            "organization",
            pgettext_lazy("workbook column", "organization code"),
            "code",
            True,
            max_length=32,
            example="Q-01-03",
        ),
        Column("name", pgettext_lazy("workbook column", "full name"), "text", True, max_length=60, example="张明"),
        Column("member", pgettext_lazy("workbook column", "member ID"), "code", max_length=32, example="DY20180001"),
        Column("post", pgettext_lazy("workbook column", "post"), "choice", True, Post, example=Post.SECRETARY),
        Column(
            "employment",
            pgettext_lazy("workbook column", "full-time or part-time"),
            "choice",
            True,
            Employment,
            example=Employment.PART_TIME,
        ),
        Column("also_unit_head", pgettext_lazy("workbook column", "also heads the unit"), "bool", example=False),
        Column("term_start", pgettext_lazy("workbook column", "term start"), "date", True, example=date(2024, 1, 1)),
        Column("term_end", pgettext_lazy("workbook column", "term end"), "date", example=""),
    ),
)
SHEETS = (ORGANIZATIONS, MEMBERS, CADRES)


def _in_file_language(value):
    with translation.override(WORKBOOK_LANGUAGE):
        return str(value)


def _headers(sheet):
    return [_in_file_language(column.label) for column in sheet.columns]


def _display(column, value):
    """A value as the file shows it: a choice by its Chinese label, a yes/no in words, dates as dates."""
    if value is None or value == "":
        return None
    if column.kind == "choice":
        return _in_file_language(column.choices(value).label)
    if column.kind == "bool":
        return _in_file_language(_("yes") if value else _("no"))
    return value


def _safe(value):
    """Text starting with = + - @ is a formula to a spreadsheet: quote it, as the other exports do."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


# ----------------------------------------------------------------------------------------------- writing


def _new_book():
    book = Workbook(write_only=True)
    return book


def _add_sheet(book, sheet, rows, *, example=False):
    """A sheet with its headers (bold, frozen) and its rows, in the column order of `sheet`."""
    from openpyxl.cell import WriteOnlyCell

    ws = book.create_sheet(_in_file_language(sheet.title))
    ws.freeze_panes = "A2"
    for index in range(1, len(sheet.columns) + 1):
        ws.column_dimensions[get_column_letter(index)].width = 18
    header = []
    for column in sheet.columns:
        cell = WriteOnlyCell(ws, value=_in_file_language(column.label))
        cell.font = Font(bold=True)
        if column.required:
            cell.fill = PatternFill("solid", fgColor="FFF2CC")
        if column.kind == "choice":
            cell.comment = Comment(
                "、".join(_in_file_language(choice.label) for choice in column.choices), "portal", width=300
            )
        header.append(cell)
    ws.append(header)
    if example:
        cells = []
        for column in sheet.columns:
            cell = WriteOnlyCell(ws, value=_display(column, column.example))
            cell.font = Font(italic=True, color="808080")
            if column.kind == "date" and column.example:
                cell.number_format = "yyyy-mm-dd"
            cells.append(cell)
        ws.append(cells)
    for row in rows:
        cells = []
        for column, value in zip(sheet.columns, row, strict=True):
            cell = WriteOnlyCell(ws, value=_safe(_display(column, value)))
            if column.kind == "date" and value:
                cell.number_format = "yyyy-mm-dd"
            cells.append(cell)
        ws.append(cells)


def _save(book):
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def template() -> bytes:
    """The empty workbook: each sheet with its headers and one example row (skipped on import if left as is)."""
    book = _new_book()
    for sheet in SHEETS:
        _add_sheet(book, sheet, [], example=True)
    return _save(book)


def _example_row(sheet):
    return tuple(_display(column, column.example) for column in sheet.columns)


def export(root) -> bytes:
    """Everything under `root` (itself included) as the import workbook: export, edit, import round-trips.

    Streams the rows from the database in path order (parents before children) with a fixed number of
    queries; the caller has checked that the user may read `root`.
    """
    orgs = Organization.objects.filter(path__startswith=root.path).order_by("path")
    parent_codes = dict(
        Organization.objects.filter(path=root.path[: -Organization.steplen]).values_list("path", "code")
        if root.depth > 1
        else []
    )

    def organization_rows():
        codes = dict(parent_codes)
        for org in orgs.values_list("path", "code", "name", "kind", "sector", "founded_on", "staff_headcount").iterator(
            chunk_size=QUERY_BATCH
        ):
            path, code, name, kind, sector, founded_on, staff = org
            codes[path] = code
            yield (code, name, kind, codes.get(path[: -Organization.steplen]), sector, founded_on, staff)

    members = (
        Member.objects.filter(organization__path__startswith=root.path)
        .order_by("organization__path", "name", "pk")
        .values_list(
            "number",
            "name",
            "gender",
            "category",
            "joined_party_on",
            "joined_branch_on",
            "organization__code",
            "party_group__code",
            "status",
            "left_on",
        )
    )
    cadres = (
        Cadre.objects.filter(organization__path__startswith=root.path)
        .order_by("organization__path", "post", "term_start", "pk")
        .values_list(
            "organization__code",
            "name",
            "member__number",
            "post",
            "employment",
            "also_unit_head",
            "term_start",
            "term_end",
        )
    )
    book = _new_book()
    _add_sheet(book, ORGANIZATIONS, organization_rows())
    _add_sheet(book, MEMBERS, members.iterator(chunk_size=QUERY_BATCH))
    _add_sheet(book, CADRES, cadres.iterator(chunk_size=QUERY_BATCH))
    return _save(book)


# ----------------------------------------------------------------------------------------------- the file


def check_file(upload):
    """Refuse, before openpyxl opens it, a file that is too large, not a workbook, or a zip bomb."""
    limit = settings.WORKBOOK_MAX_BYTES
    size = upload.size
    if size > limit:
        raise ValidationError(
            _("The file is %(size)s; the limit for a workbook is %(limit)s.")
            % {"size": filesizeformat(size), "limit": filesizeformat(limit)}
        )
    if size == 0:
        raise ValidationError(_("The file is empty."))
    not_a_workbook = ValidationError(_("This file is not an Excel workbook (.xlsx). Save it as .xlsx and try again."))
    upload.seek(0)
    try:
        with zipfile.ZipFile(upload) as archive:
            entries = archive.infolist()
            names = {entry.filename for entry in entries}
            if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
                raise not_a_workbook
            unpacked = sum(entry.file_size for entry in entries)
            if len(entries) > settings.WORKBOOK_MAX_ENTRIES or unpacked > settings.WORKBOOK_MAX_UNPACKED_BYTES:
                raise ValidationError(
                    _(
                        "This workbook would unpack to %(size)s, more than the %(limit)s allowed: it may be a "
                        "compressed bomb. Split the data into smaller workbooks."
                    )
                    % {"size": filesizeformat(unpacked), "limit": filesizeformat(settings.WORKBOOK_MAX_UNPACKED_BYTES)}
                )
            for entry in entries:
                if (
                    entry.compress_size
                    and entry.file_size > 1024 * 1024
                    and entry.file_size / entry.compress_size > 200
                ):
                    raise ValidationError(
                        _("This workbook is compressed beyond what a spreadsheet can be: it may be a compressed bomb.")
                    )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError):
        raise not_a_workbook from None
    finally:
        upload.seek(0)


def _open(fileobj):
    try:
        return xlsx_reader.Book(zipfile.ZipFile(fileobj))
    except (xlsx_reader.Unreadable, zipfile.BadZipFile, OSError) as error:
        raise ValidationError(
            _("This file is not an Excel workbook (.xlsx). Save it as .xlsx and try again.")
        ) from error


# ----------------------------------------------------------------------------------------------- cells


class CellError(Exception):
    pass


def _choice_lookup(choices):
    table = {}
    for choice in choices:
        table[choice.value.lower()] = choice.value
        table[_in_file_language(choice.label).lower()] = choice.value
        with translation.override("en"):
            table[str(choice.label).lower()] = choice.value
    return table


_LOOKUPS = {}
YES = {"是", "yes", "y", "true", "1", "√", "✓"}
NO = {"否", "no", "n", "false", "0", ""}
DATE_TEXT = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


def _text(value):
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (datetime, date)):
        raise CellError(_("a date is not expected here"))
    return str(value).strip()


def _cell_value(column, value):
    """The cell's value as the model wants it, or CellError with the reason."""
    if column.kind in ("code", "text"):
        text = _text(value)
        if column.max_length and len(text) > column.max_length:
            raise CellError(_("at most %(n)d characters") % {"n": column.max_length})
        if column.kind == "code" and text and not CODE.match(text):
            raise CellError(_("use letters, digits, hyphens and underscores only"))
        if column.kind == "text" and MARKUP.search(text):
            raise CellError(_("HTML tags and scripts are not allowed here; please enter plain text."))
        return text
    if value is None or (isinstance(value, str) and not value.strip()):
        return False if column.kind == "bool" else None
    if column.kind == "date":
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        match = DATE_TEXT.match(str(value).strip())
        if match:
            try:
                return date(*map(int, match.groups()))
            except ValueError:
                pass
        raise CellError(_("not a date (write it as 2024-07-01)"))
    if column.kind == "int":
        if isinstance(value, bool):
            raise CellError(_("not a whole number"))
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if not isinstance(value, int) or value < 0:
            raise CellError(_("not a whole number"))
        return value
    if column.kind == "bool":
        text = _text(value).lower()
        if text in YES:
            return True
        if text in NO:
            return False
        raise CellError(_("write 是 or 否"))
    lookup = _LOOKUPS.get(column.choices)
    if lookup is None:
        lookup = _LOOKUPS[column.choices] = _choice_lookup(column.choices)
    found = lookup.get(_text(value).lower())
    if found is None:
        raise CellError(
            _("not one of: %(choices)s")
            % {"choices": "、".join(_in_file_language(choice.label) for choice in column.choices)}
        )
    return found


@dataclass(eq=False)
class Row:
    sheet: Sheet
    number: int  # the row number in the file
    values: dict
    errors: dict = field(default_factory=dict)  # column key -> message (with the cell reference)
    refs: dict = field(default_factory=dict)  # column key -> cell reference
    action: str = ""
    changes: dict = field(default_factory=dict)  # column key -> (before, after) for updates
    pk: int | None = None  # the matched record
    member_id: int | None = None  # a cadre's linked member

    def refuse(self, key, message):
        if key not in self.errors:
            self.errors[key] = message

    @property
    def refused(self):
        return bool(self.errors)

    def cell(self, key):
        return self.refs.get(key, "")


class SheetError(ValidationError):
    pass


def _rows(book, title, sheet, allow_example):
    """Rows of one worksheet as `Row`s, headers checked; blank rows and the template's example skipped."""
    cells = book.rows(title)
    first = next(cells, (1, {}))[1]
    headers = [_text(first.get(index, (None, False))[0]) for index in range(max(first, default=-1) + 1)]
    while headers and not headers[-1]:
        headers.pop()
    expected = _headers(sheet)
    with translation.override("en"):
        english = [str(column.label).lower() for column in sheet.columns]
    position = {}
    unknown = []
    for index, header in enumerate(headers):
        if header in expected:
            key = sheet.columns[expected.index(header)].key
        elif header.lower() in english:
            key = sheet.columns[english.index(header.lower())].key
        else:
            unknown.append(header or get_column_letter(index + 1))
            continue
        if key in position:
            unknown.append(header)
            continue
        position[key] = index
    missing = [name for column, name in zip(sheet.columns, expected, strict=True) if column.key not in position]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(_("missing columns: %(names)s") % {"names": "、".join(missing)})
        if unknown:
            parts.append(_("columns not in the template: %(names)s") % {"names": "、".join(unknown)})
        raise SheetError(
            _(
                "The sheet “%(sheet)s” does not match the template (%(problems)s). "
                "Download the template and keep its headers."
            )
            % {"sheet": _in_file_language(sheet.title), "problems": "；".join(parts)}
        )
    example = _example_row(sheet)
    letters = {key: get_column_letter(index + 1) for key, index in position.items()}
    empty = (None, False)
    for number, row_cells in cells:
        raw = {}
        formulas = []
        for key, index in position.items():
            value, formula = row_cells.get(index, empty)
            if formula:
                formulas.append(key)
            raw[key] = value
        if all(value is None or (isinstance(value, str) and not value.strip()) for value in raw.values()):
            continue
        if (
            allow_example
            and number == 2
            and tuple(raw[key] if raw[key] != "" else None for key in sheet.keys)
            == tuple(_example_cell(value) for value in example)
        ):
            continue
        row = Row(sheet, number, {}, refs={key: f"{letters[key]}{number}" for key in position})
        for column in sheet.columns:
            if column.key in formulas:
                row.refuse(column.key, _("formulas are not accepted; paste the values instead"))
                row.values[column.key] = None
                continue
            try:
                row.values[column.key] = _cell_value(column, raw[column.key])
            except CellError as error:
                row.refuse(column.key, str(error))
                row.values[column.key] = None
                continue
            if column.required and row.values[column.key] in (None, ""):
                row.refuse(column.key, _("required"))
        yield row


def _example_cell(value):
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    return value


# ----------------------------------------------------------------------------------------------- planning


@dataclass(eq=False)
class OrgRef:
    """What the plan knows of an organization: from the database, from the file, or both."""

    code: str
    kind: str
    pk: int | None = None
    path: str = ""
    depth: int = 0
    status: str = OrganizationStatus.ACTIVE
    numchild: int = 0
    parent_code: str | None = None
    row: Row | None = None  # the file's row, if the organization is in the file
    fields: dict = field(default_factory=dict)  # name, sector, founded_on, staff_headcount as stored

    @property
    def is_new(self):
        return self.pk is None


ORG_FIELDS = ("name", "sector", "founded_on", "staff_headcount")
MEMBER_FIELDS = (
    "name",
    "gender",
    "category",
    "joined_party_on",
    "joined_branch_on",
    "party_group",
    "status",
    "left_on",
)
CADRE_FIELDS = ("member", "employment", "also_unit_head", "term_end")


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


class Planner:
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

    def plan_organizations(self, rows):
        rows = list(rows)
        self.lookup([row.values["code"] for row in rows] + [row.values["parent"] for row in rows])
        seen = {}
        in_file = []
        for row in rows:
            code = row.values["code"]
            if code and code in seen:
                row.refuse("code", _("the code is already on row %(row)d") % {"row": seen[code]})
                continue
            if code:
                seen[code] = row.number
            if row.refused:
                continue
            ref = self.orgs.get(code)
            if ref is None:
                ref = self.orgs[code] = OrgRef(code=code, kind=row.values["kind"])
                self.missing_codes.discard(code)
            ref.row = row
            in_file.append(ref)
        self.parent_codes([ref for ref in in_file if not ref.is_new])
        today = timezone.localdate()
        for ref in in_file:
            row = ref.row
            values = row.values
            if values["founded_on"] and values["founded_on"] > today:
                row.refuse("founded_on", _("The founding date cannot be in the future."))
            if ref.is_new:
                self._check_new_parent(ref)
            else:
                self._check_existing(ref)
        self._check_new_chains([ref for ref in in_file if ref.is_new])
        for row in rows:
            if row.refused:
                self.record(row, REFUSED, row.values.get("code") or "")
            elif self.orgs[row.values["code"]].is_new:
                self.record(row, CREATE, row.values["code"])
            elif row.changes:
                self.record(row, UPDATE, row.values["code"])
            else:
                self.record(row, UNCHANGED, row.values["code"])
        if self.write and not self.outcome.refused:
            self.write_organizations(in_file)

    def _check_existing(self, ref):
        row = ref.row
        values = row.values
        if not self.manages(ref):
            row.refuse("code", _("this organization is outside the part of the tree you administer"))
            return
        if values["kind"] != ref.kind:
            row.refuse(
                "kind",
                _("the kind cannot be changed by an import (now %(kind)s)")
                % {"kind": _in_file_language(OrganizationKind(ref.kind).label)},
            )
        if (values["parent"] or None) != ref.parent_code:
            row.refuse(
                "parent",
                _("moving an organization is done on its page, not by an import (its parent is now %(code)s)")
                % {"code": ref.parent_code or "—"},
            )
        for name in ORG_FIELDS:
            before, after = ref.fields[name], values[name]
            if name == "founded_on" or name == "staff_headcount":
                after = after if after not in ("",) else None
            if before != after:
                row.changes[name] = (before, after)

    def _check_new_parent(self, ref):
        """A new organization's parent: given, known, inside the user's part of the tree, active, of a kind
        that may hold this one. A parent that is itself new in the file is judged by `_check_new_chains`."""
        row = ref.row
        parent_code = row.values["parent"]
        if not parent_code:
            row.refuse("parent", _("a new organization needs the code of its parent organization"))
            return
        parent = self.orgs.get(parent_code)
        if parent is None:
            row.refuse("parent", _("no organization has the code %(code)s") % {"code": parent_code})
            return
        if parent.is_new:
            return
        if not self.manages(parent):
            row.refuse(
                "parent",
                _("the parent organization %(code)s is outside the part of the tree you administer")
                % {"code": parent_code},
            )
            return
        if parent.status != OrganizationStatus.ACTIVE:
            row.refuse("parent", _("the parent organization %(code)s is dissolved") % {"code": parent_code})
            return
        self._check_kind(ref, parent)

    def _check_kind(self, ref, parent):
        if parent.kind not in ALLOWED_PARENT_KINDS[OrganizationKind(ref.kind)]:
            ref.row.refuse(
                "kind",
                _("a %(kind)s cannot be placed under a %(parent_kind)s")
                % {
                    "kind": _in_file_language(OrganizationKind(ref.kind).label),
                    "parent_kind": _in_file_language(OrganizationKind(parent.kind).label),
                },
            )

    def _check_new_chains(self, new_refs):
        """New organizations under new organizations: no cycle, and no parent row that was refused."""
        state = {}  # code -> "ok" | "bad"
        for ref in new_refs:
            trail = []
            current = ref
            while True:
                if current.code in state:
                    verdict = state[current.code]
                    break
                if current in trail:
                    cycle = trail[trail.index(current) :]
                    names = " → ".join([each.code for each in cycle] + [current.code])
                    for each in cycle:
                        each.row.refuse("parent", _("the parent codes form a cycle: %(codes)s") % {"codes": names})
                        state[each.code] = "bad"
                    trail = [each for each in trail if each not in cycle]
                    verdict = "bad"
                    break
                trail.append(current)
                parent = self.orgs.get(current.row.values["parent"]) if not current.row.refused else None
                if current.row.refused or parent is None or not parent.is_new or parent.row is None:
                    verdict = "bad" if current.row.refused else "ok"
                    state[current.code] = verdict
                    trail.pop()
                    break
                current = parent
            for child in reversed(trail):  # each child's parent is the one after it in the trail
                parent = self.orgs[child.row.values["parent"]]
                if verdict == "bad":
                    child.row.refuse(
                        "parent",
                        _("its parent organization %(code)s (row %(row)d) is refused")
                        % {"code": parent.code, "row": parent.row.number},
                    )
                else:
                    self._check_kind(child, parent)
                    if child.row.refused:
                        verdict = "bad"
                state[child.code] = verdict

    def write_organizations(self, in_file):
        """New organizations get their tree paths here (parents before children) and go in with bulk_create;
        changed ones with bulk_update; the parents' child counts follow."""
        now = timezone.now()
        created = [ref for ref in in_file if ref.is_new]
        if created:
            parents = {}
            for ref in created:
                parent = self.orgs[ref.row.values["parent"]]
                if not parent.is_new:
                    parents[parent.path] = parent
            last = self._last_child_steps(list(parents))
            locked = {
                org.pk: org.numchild
                for org in Organization.objects.select_for_update().filter(pk__in=[p.pk for p in parents.values()])
            }
            for parent in parents.values():
                parent.numchild = locked.get(parent.pk, parent.numchild)
            counter = dict(last)
            pending = list(created)
            ordered = []
            while pending:  # parents before children: the chains were checked, so this ends
                later = []
                for ref in pending:
                    parent = self.orgs[ref.row.values["parent"]]
                    if parent.is_new and not parent.path:
                        later.append(ref)
                        continue
                    counter[parent.path] = counter.get(parent.path, 0) + 1
                    ref.depth = parent.depth + 1
                    ref.path = Organization._get_path(parent.path, ref.depth, counter[parent.path])
                    if len(ref.path) > Organization._meta.get_field("path").max_length:
                        raise ValidationError(_("The tree is too deep for a new organization."))
                    parent.numchild += 1
                    ordered.append(ref)
                if len(later) == len(pending):
                    raise ValidationError(_("The parent codes form a cycle."))
                pending = later
            objects = []
            for ref in ordered:
                values = ref.row.values
                objects.append(
                    Organization(
                        code=ref.code,
                        name=values["name"],
                        kind=ref.kind,
                        sector=values["sector"],
                        founded_on=values["founded_on"],
                        staff_headcount=values["staff_headcount"],
                        path=ref.path,
                        depth=ref.depth,
                        numchild=ref.numchild,
                    )
                )
            Organization.objects.bulk_create(objects, batch_size=QUERY_BATCH)
            for ref, obj in zip(ordered, objects, strict=True):
                ref.pk = obj.pk
            existing_parents = [Organization(pk=p.pk, numchild=p.numchild) for p in parents.values()]
            Organization.objects.bulk_update(existing_parents, ["numchild"], batch_size=QUERY_BATCH)
        created_ids = {id(ref) for ref in created}
        changed = [ref for ref in in_file if id(ref) not in created_ids and ref.row.changes]
        if changed:
            objects = []
            for ref in changed:
                obj = Organization(pk=ref.pk, updated_at=now, **{name: ref.row.values[name] for name in ORG_FIELDS})
                objects.append(obj)
                ref.fields.update({name: ref.row.values[name] for name in ORG_FIELDS})
            Organization.objects.bulk_update(objects, [*ORG_FIELDS, "updated_at"], batch_size=QUERY_BATCH)

    def _last_child_steps(self, parent_paths):
        """{parent path: the step number of its last child} for existing parents, a batch per query."""
        step = Organization.steplen
        result = {}
        for start in range(0, len(parent_paths), QUERY_BATCH):
            batch = parent_paths[start : start + QUERY_BATCH]
            rows = (
                Organization.objects.annotate(parent_path=Substr("path", 1, Length("path") - step))
                .filter(parent_path__in=batch, depth__gt=1)
                .values("parent_path")
                .annotate(last=Max("path"))
                .order_by()
            )
            for row in rows:
                result[row["parent_path"]] = Organization._str2int(row["last"][-step:])
        return result

    # --- members

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

    def plan_members(self, rows):
        self.lookup([row.values[name] for row in rows for name in ("branch", "party_group")])
        existing = {}
        branch_ids = {self.orgs[row.values["branch"]].pk for row in rows if row.values["branch"] in self.orgs}
        branch_ids.discard(None)
        numbers = [row.values["number"] for row in rows if row.values["number"]]
        if branch_ids and numbers:
            for member in Member.objects.filter(organization_id__in=branch_ids, number__in=numbers).values(
                "pk",
                "organization_id",
                "number",
                "party_group__code",
                *[f for f in MEMBER_FIELDS if f != "party_group"],
            ):
                existing[(member["organization_id"], member["number"])] = member
        group_codes = {}
        today = timezone.localdate()
        for row in rows:
            values = row.values
            branch = self._branch_of(
                row,
                "branch",
                {OrganizationKind.BRANCH},
                _("%(code)s is not a Party branch: members belong to a branch"),
            )
            group = None
            if values["party_group"] and branch is not None:
                group = self._branch_of(
                    row, "party_group", {OrganizationKind.PARTY_GROUP}, _("%(code)s is not a party group")
                )
                if group is not None and not self._is_child(group, branch):
                    row.refuse("party_group", _("%(code)s is not a party group of this branch") % {"code": group.code})
            key = (values["branch"], values["number"])
            if values["number"] and values["branch"]:
                if key in self.member_keys:
                    row.refuse("number", _("this member ID is already listed for this branch above"))
                self.member_keys.add(key)
            status = values["status"] or MemberStatus.ACTIVE
            values["status"] = status
            if not values["joined_branch_on"]:
                values["joined_branch_on"] = values["joined_party_on"]
            if values["joined_party_on"] and values["joined_party_on"] > today:
                row.refuse("joined_party_on", _("The Party joining date cannot be in the future."))
            if values["left_on"] and values["joined_branch_on"] and values["left_on"] < values["joined_branch_on"]:
                row.refuse("left_on", _("A member cannot leave before joining the branch."))
            if status != MemberStatus.ACTIVE and not values["left_on"]:
                row.refuse("left_on", _("Give the date the member left the branch."))
            if status == MemberStatus.ACTIVE and values["left_on"]:
                row.refuse("status", _("a member who left the branch cannot be in it: choose why they left"))
            group_codes[row.number] = group
            if row.refused:
                self.record(row, REFUSED, values["number"] or "")
                continue
            current = existing.get((branch.pk, values["number"])) if branch.pk else None
            if current is None:
                self.record(row, CREATE, values["number"])
                continue
            current["party_group"] = current["party_group__code"] or ""
            for name in MEMBER_FIELDS:
                if current[name] != values[name]:
                    row.changes[name] = (current[name], values[name])
            row.pk = current["pk"]
            self.record(row, UPDATE if row.changes else UNCHANGED, values["number"])
        if self.write and not self.outcome.refused:
            self.write_members(rows, group_codes)

    def _is_child(self, child, parent):
        if child.is_new or parent.is_new:
            return child.row is not None and child.row.values["parent"] == parent.code
        return child.path.startswith(parent.path) and child.depth == parent.depth + 1

    def write_members(self, rows, groups):
        now = timezone.now()
        created, updated = [], []
        for row in rows:
            if row.action not in (CREATE, UPDATE):
                continue
            values = row.values
            group = groups.get(row.number)
            member = Member(
                organization_id=self.orgs[values["branch"]].pk,
                number=values["number"],
                party_group_id=group.pk if group else None,
                **{name: values[name] for name in MEMBER_FIELDS if name != "party_group"},
            )
            if row.action == CREATE:
                member.created_at = member.updated_at = now
                created.append(member)
            else:
                member.pk = row.pk
                member.updated_at = now
                updated.append(member)
                if {"joined_branch_on", "left_on"} & set(row.changes):
                    self.outcome.changed_members.append(row.pk)
        Member.objects.bulk_create(created, batch_size=QUERY_BATCH)
        Member.objects.bulk_update(updated, [*MEMBER_FIELDS, "updated_at"], batch_size=QUERY_BATCH)

    # --- cadres

    def plan_cadres(self, rows):
        self.lookup([row.values["organization"] for row in rows])
        orgs = {}
        for row in rows:
            orgs[row.number] = self._branch_of(row, "organization", set(OrganizationKind), "")
        org_ids = {ref.pk for ref in orgs.values() if ref is not None and ref.pk}
        existing = {}
        members = {}
        if org_ids:
            for cadre in Cadre.objects.filter(organization_id__in=org_ids).values(
                "pk",
                "organization_id",
                "post",
                "name",
                "term_start",
                "member__number",
                "employment",
                "also_unit_head",
                "term_end",
            ):
                key = (cadre["organization_id"], cadre["post"], cadre["name"], cadre["term_start"])
                existing.setdefault(key, []).append(cadre)
            numbers = [row.values["member"] for row in rows if row.values["member"]]
            if numbers:
                members = {
                    (org_id, number): pk
                    for pk, org_id, number in Member.objects.filter(
                        organization_id__in=org_ids, number__in=numbers
                    ).values_list("pk", "organization_id", "number")
                }
        seen = set()
        for row in rows:
            values = row.values
            ref = orgs[row.number]
            if values["term_start"] and values["term_end"] and values["term_end"] < values["term_start"]:
                row.refuse("term_end", _("The term cannot end before it starts."))
            member_id = None
            if ref is not None and values["member"]:
                member_id = members.get((ref.pk, values["member"])) if ref.pk else None
                if member_id is None and (values["organization"], values["member"]) not in self.member_keys:
                    row.refuse(
                        "member",
                        _("%(organization)s has no member with the ID %(number)s")
                        % {"organization": values["organization"], "number": values["member"]},
                    )
            key = (values["organization"], values["post"], values["name"], values["term_start"])
            if key in seen:
                row.refuse("name", _("the same post, person and term start are already listed above"))
            seen.add(key)
            matches = existing.get((ref.pk, values["post"], values["name"], values["term_start"]), []) if ref else []
            if len(matches) > 1:
                row.refuse("name", _("several cadres have this post, name and term start: correct them on the page"))
            row.member_id = member_id
            label = f"{values['organization']} {values['name']}"
            if row.refused:
                self.record(row, REFUSED, label)
                continue
            if not matches:
                self.record(row, CREATE, label)
                continue
            current = matches[0]
            row.pk = current["pk"]
            before = {
                "member": current["member__number"] or "",
                "employment": current["employment"],
                "also_unit_head": current["also_unit_head"],
                "term_end": current["term_end"],
            }
            for name in CADRE_FIELDS:
                if before[name] != values[name]:
                    row.changes[name] = (before[name], values[name])
            self.record(row, UPDATE if row.changes else UNCHANGED, label)
        if self.write and not self.outcome.refused:
            self.write_cadres(rows, orgs)

    def write_cadres(self, rows, orgs):
        now = timezone.now()
        wanted = [row for row in rows if row.action in (CREATE, UPDATE)]
        if not wanted:
            return
        # Members created by this import have ids now: look the missing links up again.
        unresolved = [row for row in wanted if row.values["member"] and row.member_id is None]
        if unresolved:
            ids = {orgs[row.number].pk for row in unresolved}
            found = {
                (org_id, number): pk
                for pk, org_id, number in Member.objects.filter(
                    organization_id__in=ids, number__in=[row.values["member"] for row in unresolved]
                ).values_list("pk", "organization_id", "number")
            }
            for row in unresolved:
                row.member_id = found.get((orgs[row.number].pk, row.values["member"]))
        created, updated = [], []
        for row in wanted:
            values = row.values
            cadre = Cadre(
                organization_id=orgs[row.number].pk,
                member_id=row.member_id,
                name=values["name"],
                post=values["post"],
                employment=values["employment"],
                also_unit_head=values["also_unit_head"],
                term_start=values["term_start"],
                term_end=values["term_end"],
                updated_at=now,
            )
            if row.action == CREATE:
                cadre.created_at = now
                created.append(cadre)
            else:
                cadre.pk = row.pk
                updated.append(cadre)
        Cadre.objects.bulk_create(created, batch_size=QUERY_BATCH)
        Cadre.objects.bulk_update(
            updated, ["member", "employment", "also_unit_head", "term_end", "updated_at"], batch_size=QUERY_BATCH
        )


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
