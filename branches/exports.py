"""Exports of what a page shows, as CSV or Excel, with the same rows and columns."""

import csv
import io
import tempfile

from django.http import HttpResponse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def compliance(rows, columns, span, root, fmt):
    """The reviewer's table: per meeting type, two numeric columns (counted, required) and the state.

    `columns` are (meeting type, what its cells are judged over). For committee rows the numbers are
    branches meeting the rule and branches judged.
    """
    summary = any(row.is_summary for row in rows)
    header = [_("organization code"), _("organization"), _("sector")]
    if summary:
        header.append(_("branches"))
    for meeting_type, judged_over in columns:
        name = f"{meeting_type.label} ({judged_over})" if judged_over else str(meeting_type.label)
        if summary:
            header += [
                _("%(type)s: branches meeting it") % {"type": name},
                _("%(type)s: branches judged") % {"type": name},
            ]
        else:
            header += [_("%(type)s: held") % {"type": name}, _("%(type)s: required") % {"type": name}]
        header.append(_("%(type)s: state") % {"type": name})
    header += [
        _("requirements met"),
        _("requirements in progress"),
        _("requirements not met"),
        _("requirements judged"),
        _("attendance rate (%)"),
    ]
    table = [header]
    for row in rows:
        cells = [row.organization.code, row.organization.name, row.organization.get_sector_display()]
        if summary:
            cells.append(row.branches)
        for meeting_type, _judged_over in columns:
            status = row.status(meeting_type)
            cells += [status.numerator, status.denominator, status.state_label] if status else ["", "", ""]
        cells += [
            row.requirements_met,
            row.requirements_in_progress,
            row.requirements_not_met,
            row.requirements_total,
            round(row.attendance_rate * 100, 1) if row.attendance_rate is not None else "",
        ]
        table.append(cells)
    what = _("meeting compliance")
    name = f"{root.name}-{what}-{span.key}"
    return respond(table, name, fmt)


def respond(table, name, fmt, *, sheet_title=None, more_sheets=()):
    """A download of `table` (rows of cells, the header first) as .xlsx or .csv. Numbers and dates stay
    numbers and dates in the workbook, so that a spreadsheet can sum and sort them. A workbook may hold more
    sheets after the first, `more_sheets` [(title, table)]; a CSV file holds one table."""
    if fmt == "xlsx":
        # Write-only: rows go to a temporary file as they are added, so a 100,000-row table does not hold a
        # hundred thousand cell objects in memory at once.
        book = Workbook(write_only=True)
        _fill(book.create_sheet(), sheet_title or _("compliance"), table)
        for title, more in more_sheets:
            _fill(book.create_sheet(), title, more)
        with tempfile.TemporaryFile() as stored:
            book.save(stored)
            stored.seek(0)
            response = HttpResponse(stored.read(), content_type=XLSX)
        filename = f"{name}.xlsx"
    else:
        buffer = io.StringIO()
        buffer.write("\ufeff")  # so that Excel on Chinese Windows reads UTF-8
        writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)  # see safe_cell
        for row in table:
            writer.writerow([safe_cell(cell) for cell in row])
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        filename = f"{name}.csv"
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


def _fill(sheet, title, table):
    sheet.title = str(title)[:31]
    sheet.freeze_panes = "C2"
    bold = Font(bold=True)
    for number, row in enumerate(table):
        if number == 0:
            cells = []
            for value in row:
                cell = WriteOnlyCell(sheet, value=safe_cell(value))
                cell.font = bold
                cells.append(cell)
            sheet.append(cells)
        else:
            sheet.append([safe_cell(cell) for cell in row])


# What a spreadsheet may read as the start of a formula (OWASP's list, with the full-width forms a Chinese input
# method types).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def safe_cell(value):
    """Text starting with a formula character is quoted with a leading apostrophe (CSV injection). Numbers and dates
    are left as they are (a negative number is not a formula). A formula after a list separator (`a;=4+4` where `;`
    separates lists) cannot start a cell either: every CSV cell is written in double quotes, which keep it one cell
    whatever separator the spreadsheet uses."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
