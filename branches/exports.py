"""Exports of what a page shows, as CSV or Excel, with the same rows and columns."""

import csv
import io

from django.http import HttpResponse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def compliance(rows, types, span, root, fmt):
    header = [_("organization code"), _("organization"), _("sector")]
    header += [str(t.label) for t in types]
    header += [_("requirements met"), _("attendance rate")]
    table = [header]
    for row in rows:
        cells = [row.organization.code, row.organization.name, row.organization.get_sector_display()]
        for meeting_type in types:
            status = row.status(meeting_type)
            cells.append(f"{status.held}/{status.required}" if status else "")
        cells.append(f"{row.requirements_met}/{row.requirements_total}")
        cells.append(f"{row.attendance_rate:.0%}" if row.attendance_rate is not None else "")
        table.append(cells)
    what = _("meeting compliance")
    name = f"{root.name}-{what}-{span.key}"
    return respond(table, name, fmt)


def respond(table, name, fmt, *, sheet_title=None):
    """A download of `table` (rows of cells, the header first) as .xlsx or .csv. Numbers and dates stay
    numbers and dates in the workbook, so that a spreadsheet can sum and sort them."""
    if fmt == "xlsx":
        book = Workbook()
        sheet = book.active
        sheet.title = (sheet_title or _("compliance"))[:31]
        for row in table:
            sheet.append([_safe(cell) for cell in row])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = "C2"
        buffer = io.BytesIO()
        book.save(buffer)
        response = HttpResponse(buffer.getvalue(), content_type=XLSX)
        filename = f"{name}.xlsx"
    else:
        buffer = io.StringIO()
        buffer.write("\ufeff")  # so that Excel on Chinese Windows reads UTF-8
        writer = csv.writer(buffer)
        for row in table:
            writer.writerow([_safe(cell) for cell in row])
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        filename = f"{name}.csv"
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


def _safe(value):
    """Text starting with = + - @ is a formula to a spreadsheet: quote it (CSV injection). Numbers and dates
    are left as they are (a negative number is not a formula)."""
    if not isinstance(value, str):
        return value
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value
