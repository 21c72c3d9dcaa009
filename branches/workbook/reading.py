"""Reading a workbook: the file judged before it is opened, each sheet's headers, each cell's value or reason."""

import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils import translation
from django.utils.translation import gettext as _
from openpyxl.utils import get_column_letter

from branches import xlsx_reader
from branches.validators import MARKUP, within_calendar
from branches.workbook.sheets import CODE, Sheet, _example_row, _headers, _in_file_language


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


def _header(value):
    """A header cell as text, whatever it holds (a date or a number is a header that matches no column)."""
    try:
        return _text(value)
    except CellError:
        return str(value)


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
            return _within_calendar(value.date())
        if isinstance(value, date):
            return _within_calendar(value)
        match = DATE_TEXT.match(str(value).strip())
        if match:
            try:
                return _within_calendar(date(*map(int, match.groups())))
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
        if value > LARGEST_COUNT:
            raise CellError(_("at most %(n)d") % {"n": LARGEST_COUNT})
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


# The largest number a count column keeps (a positive integer field).
LARGEST_COUNT = 2**31 - 1


def _within_calendar(day):
    try:
        within_calendar(day)
    except ValidationError as error:
        raise CellError(error.messages[0]) from None
    return day


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
    headers = [_header(first.get(index, (None, False))[0]) for index in range(max(first, default=-1) + 1)]
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
