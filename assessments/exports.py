"""The three lists as CSV or Excel, the same rows the page shows: one sheet named after its list, dates as
dates and days overdue as numbers."""

from django.utils.translation import gettext as _

from branches.exports import respond


def _days_overdue(row, due, today):
    return (today - due).days if row.is_overdue(today) else None


def three_list(rows, which, root, fmt, today):
    if which == "duties":
        header = [
            _("organization code"),
            _("organization"),
            _("building area"),
            _("duty"),
            _("due on"),
            _("status"),
            _("days overdue"),
        ]
        table = [header] + [
            [
                r.organization.code,
                r.organization.name,
                r.get_area_display(),
                r.text,
                r.due_on,
                r.get_status_display(),
                _days_overdue(r, r.due_on, today),
            ]
            for r in rows
        ]
        what = _("responsibility list")
    else:
        header = [
            _("organization code"),
            _("organization"),
            _("severity"),
            _("problem found"),
            _("rectification required"),
            _("deadline"),
            _("state"),
            _("days overdue"),
        ]
        table = [header] + [
            [
                r.organization.code,
                r.organization.name,
                r.get_severity_display(),
                r.description,
                r.required_rectification,
                r.deadline,
                r.get_state_display(),
                _days_overdue(r, r.deadline, today),
            ]
            for r in rows
        ]
        what = _("problem list") if which == "problems" else _("rectification list")
    return respond(table, f"{root.name}-{what}-{today.isoformat()}", fmt, sheet_title=what)


def ranking(rows, assessment_round, fmt):
    """The ranking of a round: rank, total (2 decimals shown, exact kept to 6 in the workbook), grade, 末位."""
    from assessments.scoring import shown

    header = [
        _("rank"),
        _("peer group size"),
        _("organization code"),
        _("organization"),
        _("kind"),
        _("total points"),
        _("grade"),
        _("vetoed"),
        _("bottom-ranked (末位)"),
        _("state"),
    ]
    table = [header]
    for row in rows:
        table.append(
            [
                row.rank,
                row.peer_size,
                row.organization.code,
                row.organization.name,
                row.organization.get_kind_display(),
                float(shown(row.total)) if row.total is not None and fmt == "xlsx" else shown(row.total),
                row.grade,
                _("yes") if row.vetoed else "",
                _("yes") if row.bottom else "",
                row.get_state_display(),
            ]
        )
    what = _("ranking")
    name = f"{assessment_round}-{what}"
    return respond(table, name, fmt, sheet_title=what)
