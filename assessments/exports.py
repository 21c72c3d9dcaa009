"""The three lists as CSV or Excel, the same rows the page shows."""

from django.utils.translation import gettext as _

from branches.exports import respond


def three_list(rows, which, root, fmt, today):
    if which == "duties":
        header = [
            _("organization code"),
            _("organization"),
            _("building area"),
            _("duty"),
            _("due on"),
            _("status"),
            _("overdue"),
        ]
        table = [header] + [
            [
                r.organization.code,
                r.organization.name,
                r.get_area_display(),
                r.text,
                r.due_on.isoformat(),
                r.get_status_display(),
                _("yes") if r.is_overdue(today) else "",
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
            _("overdue"),
        ]
        table = [header] + [
            [
                r.organization.code,
                r.organization.name,
                r.get_severity_display(),
                r.description,
                r.required_rectification,
                r.deadline.isoformat(),
                r.get_state_display(),
                _("yes") if r.is_overdue(today) else "",
            ]
            for r in rows
        ]
        what = _("problem list") if which == "problems" else _("rectification list")
    return respond(table, f"{root.name}-{what}-{today.isoformat()}", fmt)
