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

The package, by concern: `sheets` (the format), `export` (template and export), `reading` (the file, the
headers, the cells), one module per sheet judging its rows (`organizations`, `members`, `cadres`), `apply` (the
writes), and `planning` (the run over the three sheets that ties them together).
"""

from branches.workbook.export import export, template
from branches.workbook.planning import Outcome, Planner, plan
from branches.workbook.reading import check_file
from branches.workbook.sheets import CADRES, MEMBERS, ORGANIZATIONS, SHEETS, SHOWN_ROWS, _headers, _in_file_language

__all__ = [
    "CADRES",
    "MEMBERS",
    "ORGANIZATIONS",
    "SHEETS",
    "SHOWN_ROWS",
    "Outcome",
    "Planner",
    "_headers",
    "_in_file_language",
    "check_file",
    "export",
    "plan",
    "template",
]
