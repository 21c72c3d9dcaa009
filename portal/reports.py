"""The dashboard's report (一键生成报告): the figures of a subtree over a period as tables, written as an Excel
workbook (one sheet a table, numbers as numbers) or a printable A4 PDF (the portal's one PDF path, branches.pdf).

The tables are made once from the dashboard's figures (`portal.selectors.dashboard_of`, a large subtree's from its
snapshot), so the report says what the page says; its heatmap holds every sub-organization, not a page of them.
"""

import tempfile
from dataclasses import dataclass, field
from decimal import Decimal

from django.http import FileResponse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from branches import pdf
from branches.compliance import IN_PROGRESS, MET, NOT_MET, STATE_LABELS
from branches.dashboard import NOT_OWED, NOT_YET
from branches.exports import XLSX, safe_cell


@dataclass
class Table:
    title: str  # the sheet's name (31 characters at most in a workbook)
    header: list
    rows: list = field(default_factory=list)
    note: str = ""


def _cell_text(cell):
    if cell.state == NOT_MET:
        return f"✗ {cell.not_met}/{cell.judged}"
    return {MET: "✓", IN_PROGRESS: "…", NOT_OWED: "—", NOT_YET: ""}.get(cell.state, "")


def tables(figures, *, staffing, rows, trend, rounds):
    """The report's tables, in the dashboard's order: at a glance, meeting compliance by type, month by month (every
    sub-organization), committee elections due, duties and rectifications, the latest assessment, the trends."""
    counts, duties = figures.organizations, figures.duties
    glance = Table(_("At a glance"), [_("measure"), _("value")])
    glance.rows += [[_("Organizations (active today)"), counts.organizations]]
    glance.rows += [[kind.label, n] for kind, n in counts.by_kind]
    glance.rows += [
        [_("members"), counts.members.total],
        [_("full members"), counts.members.full],
        [_("probationary members"), counts.members.probationary],
        [_("Party-affairs staffing") + " (%)", float(staffing["percent"]) if staffing["percent"] is not None else ""],
        [_("duties of the period not done in time"), duties.duties_overdue],
        [_("rectifications past their deadline"), duties.rectifications_overdue],
        [_("committee elections overdue"), figures.terms.overdue],
    ]
    found = [glance]

    compliance = Table(
        _("Meeting compliance by type"),
        [
            _("meeting type"),
            STATE_LABELS[MET],
            STATE_LABELS[IN_PROGRESS],
            STATE_LABELS[NOT_MET],
            _("organizations judged"),
        ],
    )
    for row in figures.compliance or []:
        compliance.rows.append([row.meeting_type.label, row.met, row.in_progress, row.not_met, row.judged])
    if figures.compliance is None:
        compliance.note = _("The results of this year are not kept, so the dashboard cannot show them.")
    found.append(compliance)

    if figures.heatmap is not None:
        heat = Table(
            _("Meeting compliance month by month"),
            [_("organization code"), _("Organization"), *[month.label for month in figures.heatmap.months]],
            note=_("✓ met · ✗ not met (organizations that missed one / judged) · … in progress · — not owed"),
        )
        for row in rows:
            cells = figures.heatmap.cells.get(row.pk, [])
            heat.rows.append([row.code, row.name, *[_cell_text(cell) for cell in cells]])
        found.append(heat)

    terms = Table(
        _("Committee elections due"),
        [_("Organization"), _("kind"), _("next election due"), _("overdue")],
        note=_("%(overdue)s overdue, %(soon)s due soon.")
        % {"overdue": figures.terms.overdue, "soon": figures.terms.soon},
    )
    for term in figures.terms.shown:
        terms.rows.append([term.name, term.kind_label, term.election_due, _("yes") if term.overdue else ""])
    found.append(terms)

    found.append(
        Table(
            _("Duties and rectifications"),
            [_("measure"), _("value")],
            [
                [_("duties due in the period"), duties.duties_due],
                [_("done on time"), duties.duties_on_time],
                [_("done late"), duties.duties_late],
                [_("not done and overdue today"), duties.duties_overdue],
                [_("findings recorded in the period"), duties.findings_opened],
                [_("findings closed in the period"), duties.findings_closed],
                [_("of which closed after their deadline"), duties.findings_closed_late],
                [_("rectifications past their deadline today"), duties.rectifications_overdue],
            ],
        )
    )

    result = figures.round
    assessment = Table(_("Latest assessment"), [_("grade"), _("organizations")])
    if result is None:
        assessment.note = _("No assessment round covers this organization yet.")
    else:
        average = "" if result.average is None else float(round(result.average, 2))
        assessment.note = (
            f"{result.round} · {_('organizations assessed')} {result.assessed} · {_('average points')} {average}"
        )
        assessment.rows += [[name, n] for name, n in result.grades]
        if result.bottom:
            assessment.rows.append([_("Bottom-ranked"), result.bottom_total])
            assessment.rows += [
                [a.organization.name, float(a.total) if a.total is not None else "", a.grade or ""]
                for a in result.bottom
            ]
    found.append(assessment)

    daily = Table(
        _("Trends"),
        [_("day"), _("duties overdue"), _("rectifications overdue"), _("committees past their election")],
    )
    daily.rows += [[r["day"], r["duties_overdue"], r["rectifications_overdue"], r["terms_overdue"]] for r in trend]
    if rounds:
        daily.note = " · ".join(
            f"{point.title}: {'' if point.average is None else round(point.average, 2)}" for point in rounds
        )
    found.append(daily)
    return found


def _plain(value):
    """A cell's value as a spreadsheet takes it: words translated now, points as numbers."""
    if isinstance(value, Promise):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    return value


def filename(node, span):
    return f"{node.name}-{_('dashboard report')}-{span.key}"


def tables_of(node, span, figures, *, rows, today):
    """The report's tables of the node's dashboard over `span`, from its figures (`rows`: every sub-organization)."""
    from portal import selectors

    return tables(
        figures,
        staffing=selectors.staffing_of(figures),
        rows=rows,
        trend=selectors.trend_of(node, today),
        rounds=figures.rounds,
    )


def write_workbook(report_tables, target):
    """The tables into `target` (a file open for writing bytes) as an .xlsx workbook, one sheet a table, written row
    by row (openpyxl's write-only mode), so memory stays bounded whatever the number of rows."""
    book = Workbook(write_only=True)
    bold = Font(bold=True)
    for table in report_tables:
        sheet = book.create_sheet(str(table.title)[:31])
        sheet.freeze_panes = "A2"
        header = []
        for title in table.header:
            cell = WriteOnlyCell(sheet, value=str(title))
            cell.font = bold
            header.append(cell)
        sheet.append(header)
        for row in table.rows:
            sheet.append([safe_cell(_plain(value)) for value in row])
        if table.note:
            sheet.append([])
            sheet.append([safe_cell(str(table.note))])
    book.save(target)


def write_pdf(report_tables, target, *, node, span, figures, laid_out=None):
    """The tables into `target` as a printable A4 PDF (`laid_out`: see `pdf.render_pdf`)."""
    target.write(
        pdf.render_pdf(
            "portal/dashboard_report_pdf.html",
            {
                "organization": node,
                "span": span,
                "tables": report_tables,
                "computed_at": figures.computed_at,
                "printed_at": timezone.localtime(),
            },
            stylesheets=("portal/report_pdf.css",),
            laid_out=laid_out,
        )
    )


CONTENT_TYPES = {"xlsx": XLSX, "pdf": "application/pdf"}


def write(report_tables, target, fmt, *, node, span, figures, laid_out=None):
    """The one path of a report into a file, whether it is sent at once or kept by the job: `fmt` xlsx or pdf
    (`laid_out`: called once a PDF's pages are laid out, with their number)."""
    if fmt == "pdf":
        write_pdf(report_tables, target, node=node, span=span, figures=figures, laid_out=laid_out)
    else:
        write_workbook(report_tables, target)


def response(report_tables, fmt, *, node, span, figures):
    """A small subtree's report, written into a temporary file and sent as a download no cache keeps."""
    spooled = tempfile.TemporaryFile()  # noqa: SIM115 (the response closes it once sent)
    write(report_tables, spooled, fmt, node=node, span=span, figures=figures)
    spooled.seek(0)
    sent = FileResponse(spooled, content_type=CONTENT_TYPES[fmt])
    sent["Content-Disposition"] = content_disposition_header(True, f"{filename(node, span)}.{fmt}")
    sent["Cache-Control"] = "no-store"
    return sent
