"""The three lists as CSV or Excel, the same rows the page shows: one sheet named after its list, dates as
dates and days overdue as numbers; and a round's ranking with the committees' roll-ups."""

from decimal import Decimal

from django.utils.translation import gettext as _
from django.utils.translation import pgettext

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


# The tables of the round's export: a workbook holds all three, a CSV file the one asked for.
RANKING, ROLLUPS, RATINGS = "ranking", "rollups", "ratings"
TABLES = (RANKING, ROLLUPS, RATINGS)


def ranking(rows, assessment_round, fmt, *, table=RANKING, rollups_of=None, ratings_of=None):
    """The ranking of a round: rank, total (2 decimals shown, exact kept to 6 in the workbook), grade, 末位; the
    committees' roll-ups of their sub-organizations (`rollups_table`); and the round's ratings with their results
    (`ratings_table`). A workbook holds the three as three sheets; a CSV file holds the one `table` names.
    `rollups_of([(assessment id, organization path)])` gives each committee's roll-ups per indicator
    (selectors.ranking_rollups); `ratings_of()` the round's ratings the user judges (ratings.round_ratings)."""
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
    with_ranking, with_rollups = fmt == "xlsx" or table == RANKING, fmt == "xlsx" or table == ROLLUPS
    ranked, seen = [header], []
    for row in rows:
        organization = row.organization
        if with_rollups:
            kind = organization.get_kind_display()
            seen.append((row.pk, organization.path, organization.code, organization.name, kind, row.rollup))
        if with_ranking:
            ranked.append(
                [
                    row.rank,
                    row.peer_size,
                    organization.code,
                    organization.name,
                    organization.get_kind_display(),
                    float(shown(row.total)) if row.total is not None and fmt == "xlsx" else shown(row.total),
                    row.grade,
                    _("yes") if row.vetoed else "",
                    _("yes") if row.bottom else "",
                    row.get_state_display(),
                ]
            )
    sheets = []
    if with_ranking:
        sheets.append((_("ranking"), ranked))
    if with_rollups:
        by_indicator = rollups_of([(pk, path) for pk, path, *_rest in seen]) if rollups_of else {}
        sheets.append((_("roll-ups"), rollups_table(seen, by_indicator, fmt)))
    if fmt == "xlsx" or table == RATINGS:
        sheets.append((_("ratings"), ratings_table(ratings_of() if ratings_of else [])))
    (title, first), more = sheets[0], sheets[1:]
    return respond(first, f"{assessment_round}-{title}", fmt, sheet_title=title, more_sheets=more)


def rollups_table(seen, by_indicator, fmt):
    """Each committee's roll-up of its sub-organizations, as its pages show it, one row a figure: the totals (how
    many, their average, how many vetoed), each grade with its ≥ share rule (how many reach it, their share, the
    share required, met or not), then each indicator (its maximum, the average points, how many meet its
    standard and their share). Numbers stay numbers in a workbook; shares are percentages to one decimal.

    `seen`: the ranking's rows [(assessment id, path, code, name, kind label, stored roll-up)], in its order;
    `by_indicator`: {assessment id: [RubricRollup]}."""
    from assessments.scoring import shown

    def points(value):
        if value in (None, ""):
            return ""
        return float(shown(value)) if fmt == "xlsx" else shown(value)

    def percent(share):
        return float(round(Decimal(share) * 100, 1))

    header = [
        _("organization code"),
        _("organization"),
        _("kind"),
        _("rolled up"),
        _("rubric"),
        _("area"),
        pgettext("indicator", "code"),
        pgettext("indicator", "kind"),
        _("max"),
        _("grade from (points)"),
        _("sub-organizations assessed"),
        _("average points"),
        _("vetoed"),
        _("meeting its standard"),
        _("share meeting the standard (%)"),
        _("share required (%)"),
        _("standard met"),
    ]
    table = [header]
    for pk, _path, code, name, kind, rollup in seen:
        groups = by_indicator.get(pk, [])
        if not rollup and not groups:
            continue
        whose = [code, name, kind]
        if rollup:
            count = rollup["sub_organizations"]
            table.append(
                [
                    *whose,
                    _("total points"),
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    count,
                    points(rollup["average_total"]),
                    rollup["vetoed"],
                    "",
                    "",
                    "",
                    "",
                ]
            )
            for band in rollup.get("bands", []):
                table.append(
                    [
                        *whose,
                        _("reaching “%(band)s”") % {"band": band["band"]},
                        "",
                        "",
                        "",
                        "",
                        "",
                        points(band["min_points"]),
                        count,
                        "",
                        "",
                        band["meeting"],
                        percent(band["share"]),
                        percent(band["required_share"]),
                        pgettext("standard", "met") if band["qualifies"] else pgettext("standard", "not met"),
                    ]
                )
        for group in groups:
            for line in group.indicators:
                table.append(
                    [
                        *whose,
                        line.title,
                        group.round.rubric.title,
                        line.area,
                        line.code,
                        str(line.kind_label),
                        points(line.max_points),
                        "",
                        line.organizations,
                        points(line.average),
                        "",
                        line.meeting,
                        percent(line.share),
                        "",
                        "",
                    ]
                )
    return table


# ------------------------------------------------------------------------------------------ ratings by ticket


def voter_url(code):
    """The link a ticket's QR code holds."""
    from django.conf import settings
    from django.urls import reverse

    return f"{settings.PORTAL_BASE_URL}{reverse('vote:ballot', args=[code])}"


def _tickets(issue):
    from assessments import ratings
    from assessments.models import AudienceKind

    return [
        (index, str(AudienceKind(ticket.audience.kind).label), ratings.shown(ticket.code), voter_url(ticket.code))
        for index, ticket in enumerate(issue.tickets, start=1)
    ]


def tickets_pdf(issue):
    """The sheet of an issue's tickets: A4, eight to a page, each with its QR code (the voter's link) and its code
    printed large. The plain codes are in this file and nowhere else."""
    import segno
    from django.conf import settings
    from django.urls import reverse

    from branches import pdf

    rating = issue.rating
    tickets = [
        {
            "number": number,
            "audience": audience,
            "code": code,
            "qr": segno.make(url, error="m").svg_data_uri(scale=4, border=2),
        }
        for number, audience, code, url in _tickets(issue)
    ]
    content = pdf.render_pdf(
        "assessments/rating_tickets_pdf.html",
        {"rating": rating, "tickets": tickets, "start": f"{settings.PORTAL_BASE_URL}{reverse('vote:start')}"},
        stylesheets=["portal/tickets.css"],
    )
    return pdf.pdf_response(content, _("tickets-%(id)s-%(batch)s.pdf") % {"id": rating.pk, "batch": issue.batch})


def tickets_csv(issue):
    """The same tickets as CSV for a mail merge: number, audience, code, link."""
    header = [_("number"), _("audience"), _("ticket code"), _("voting link")]
    response = respond(
        [header, *[list(row) for row in _tickets(issue)]],
        _("tickets-%(id)s-%(batch)s") % {"id": issue.rating.pk, "batch": issue.batch},
        "csv",
    )
    response["Cache-Control"] = "no-store"
    return response


def ratings_table(rows):
    """The round's ratings and their results, one row a rating (exported with the round)."""
    header = [
        _("organization code"),
        _("organization"),
        _("kind"),
        _("person rated"),
        _("state"),
        _("tickets"),
        _("tickets used"),
        _("weighted score"),
        _("bottom-ranked (末位)"),
        _("why"),
    ]
    table = [header]
    for row in rows:
        results = row.rating.results or {}
        table.append(
            [
                row.rating.organization.code,
                row.rating.organization.name,
                row.rating.get_kind_display(),
                row.rating.subject,
                row.rating.get_state_display(),
                row.tickets,
                row.used,
                Decimal(results["score"]) if results.get("score") else None,
                _("yes") if row.bottom else "",
                results.get("why", ""),
            ]
        )
    return table
