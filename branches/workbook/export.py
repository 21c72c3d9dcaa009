"""Writing the workbook: the empty template and the export of a subtree (the format an import reads back)."""

import io

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from branches.exports import safe_cell
from branches.models import Cadre, Member, Organization
from branches.workbook.sheets import (
    CADRES,
    MEMBERS,
    ORGANIZATIONS,
    QUERY_BATCH,
    SHEETS,
    _display,
    _in_file_language,
)


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
            cell = WriteOnlyCell(ws, value=safe_cell(_display(column, value)))
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
