"""The dashboard's figures (`Dashboard`, as `portal.selectors.dashboard_of` gathers them) to JSON and back, so a
snapshot row (`DashboardSnapshot.figures`) gives the page the very objects a live count gives it.

Dates are written as ISO text, Decimals as text, choices by their value, model rows by the fields the page shows
(an assessment round by its name as the page writes it). `from_json(to_json(d))` equals `d`, figure for figure;
the heatmap's cells are read back only for the rows the page shows.
"""

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.utils import timezone

from assessments import dashboard as assessment_figures
from assessments.models import Assessment, AssessmentRound
from branches import dashboard as branch_figures
from branches import periods
from branches import selectors as branch_selectors
from branches.models import MeetingType, Organization, OrganizationKind
from portal.models import DashboardSetting

VERSION = 3  # a snapshot of another version is not read (it is computed anew); 3: the cells kept apart


@dataclass
class Dashboard:
    setting: DashboardSetting
    organizations: branch_figures.OrganizationCounts
    compliance: list | None  # [TypeCompliance]; None when the period's year is not kept
    heatmap: branch_figures.Heatmap | None
    terms: branch_figures.TermsDue
    staffing: branch_figures.Staffing
    duties: assessment_figures.DutyFigures
    round: assessment_figures.RoundFigures | None
    computed_at: datetime | None = None  # when read from a snapshot: when it was computed; None: counted now
    rounds: list = field(default_factory=list)  # [RoundPoint]: the subtree across its latest rounds, oldest first


def _decimal(value):
    return None if value is None else str(value)


def _undecimal(text):
    return None if text is None else Decimal(text)


def _span(span):
    return [span.kind, span.start.isoformat(), span.end.isoformat()]


def _unspan(item):
    return periods.Span(item[0], date.fromisoformat(item[1]), date.fromisoformat(item[2]))


def to_json(figures: Dashboard) -> dict:
    """The figures as JSON-serialisable data (`computed_at` aside: the snapshot row keeps it)."""
    setting, counts, heatmap, terms, result = (
        figures.setting,
        figures.organizations,
        figures.heatmap,
        figures.terms,
        figures.round,
    )
    return {
        "version": VERSION,
        "setting": {
            "pk": setting.pk,
            "staffing_min_share": _decimal(setting.staffing_min_share),
            "staffing_max_share": _decimal(setting.staffing_max_share),
            "term_warning_days": setting.term_warning_days,
        },
        "organizations": {
            "by_kind": [[kind.value, n] for kind, n in counts.by_kind],
            "members": {"full": counts.members.full, "probationary": counts.members.probationary},
        },
        "compliance": None
        if figures.compliance is None
        else [[row.meeting_type.value, row.met, row.in_progress, row.not_met] for row in figures.compliance],
        "heatmap": None
        if heatmap is None
        else {
            "months": [_span(month) for month in heatmap.months],
            "cells": {
                str(pk): [[cell.judged, cell.not_met, cell.state] for cell in cells]
                for pk, cells in heatmap.cells.items()
            },
        },
        "terms": {
            "overdue": terms.overdue,
            "soon": terms.soon,
            "shown": [
                [term.organization_id, term.name, term.kind, term.election_due.isoformat(), term.overdue]
                for term in terms.shown
            ],
        },
        "staffing": asdict(figures.staffing),
        "duties": asdict(figures.duties),
        "round": None if result is None else _round_to_json(result),
        "rounds": [
            [point.round_id, point.title, point.period_end.isoformat(), point.assessed, _decimal(point.average)]
            for point in figures.rounds
        ],
    }


def _round_to_json(result):
    found = result.round
    return {
        "round": {
            "pk": found.pk,
            "name": str(found),
            "period_start": found.period_start.isoformat(),
            "period_end": found.period_end.isoformat(),
        },
        "grades": [[name, n] for name, n in result.grades],
        "assessed": result.assessed,
        "average": _decimal(result.average),
        "bottom_total": result.bottom_total,
        "bottom": [
            {
                "pk": item.pk,
                "total": _decimal(item.total),
                "grade": item.grade,
                "rank": item.rank,
                "peer_size": item.peer_size,
                "organization": {
                    "pk": item.organization.pk,
                    "name": item.organization.name,
                    "kind": item.organization.kind,
                    "path": item.organization.path,
                },
            }
            for item in result.bottom
        ],
    }


def cells_apart(data: dict) -> dict | None:
    """Take the heatmap's cells out of `to_json`'s data, to be kept apart (`DashboardSnapshot.cells`) and read back a
    page of rows at a time: {organization id as text: cells}. None when there is no heatmap."""
    heatmap = data.get("heatmap")
    return None if heatmap is None else heatmap.pop("cells")


def from_json(data: dict, *, rows=None, computed_at=None, cells=None) -> Dashboard | None:
    """The figures back from `to_json`, their heatmap's cells for `rows` only (organizations or ids; every row's
    when None; a row the snapshot does not hold, such as one founded since, gets empty cells), taken from `cells`
    when the cells were kept apart (`cells_apart`: at least the rows'). None when the data is of another
    version."""
    if not data or data.get("version") != VERSION:
        return None
    if cells is not None and data["heatmap"] is not None:
        data = {**data, "heatmap": {**data["heatmap"], "cells": cells}}
    setting = data["setting"]
    counts = data["organizations"]
    terms = data["terms"]
    return Dashboard(
        setting=DashboardSetting(
            pk=setting["pk"],
            staffing_min_share=_undecimal(setting["staffing_min_share"]),
            staffing_max_share=_undecimal(setting["staffing_max_share"]),
            term_warning_days=setting["term_warning_days"],
        ),
        organizations=branch_figures.OrganizationCounts(
            [(OrganizationKind(kind), n) for kind, n in counts["by_kind"]],
            branch_selectors.MemberCounts(**counts["members"]),
        ),
        compliance=None
        if data["compliance"] is None
        else [
            branch_figures.TypeCompliance(MeetingType(kind), met, in_progress, not_met)
            for kind, met, in_progress, not_met in data["compliance"]
        ],
        heatmap=None if data["heatmap"] is None else _heatmap(data["heatmap"], rows, computed_at),
        terms=branch_figures.TermsDue(
            terms["overdue"],
            terms["soon"],
            [
                branch_figures.TermDue(pk, name, kind, date.fromisoformat(due), overdue)
                for pk, name, kind, due, overdue in terms["shown"]
            ],
        ),
        staffing=branch_figures.Staffing(**data["staffing"]),
        duties=assessment_figures.DutyFigures(**data["duties"]),
        round=None if data["round"] is None else _round(data["round"]),
        computed_at=computed_at,
        rounds=[
            assessment_figures.RoundPoint(pk, title, date.fromisoformat(end), assessed, _undecimal(average))
            for pk, title, end, assessed, average in data["rounds"]
        ],
    )


def _heatmap(data, rows, computed_at):
    months = [_unspan(item) for item in data["months"]]
    heatmap = branch_figures.Heatmap(months)
    cells = data["cells"]
    wanted = cells.keys() if rows is None else [str(getattr(row, "pk", row)) for row in rows]
    for key in wanted:
        found = cells.get(key)
        if found is None:  # an organization the snapshot did not know (founded since): nothing counted for it then
            day = timezone.localdate(computed_at) if computed_at else timezone.localdate()
            found = [[0, 0, branch_figures.cell_state(branch_figures.HeatCell(month), day)] for month in months]
        heatmap.cells[int(key)] = [
            branch_figures.HeatCell(month, judged, not_met, state)
            for month, (judged, not_met, state) in zip(months, found, strict=True)
        ]
    return heatmap


def _round(data):
    found = data["round"]
    return assessment_figures.RoundFigures(
        round=AssessmentRound(
            pk=found["pk"],
            title=found["name"],
            period_start=date.fromisoformat(found["period_start"]),
            period_end=date.fromisoformat(found["period_end"]),
        ),
        grades=[(name, n) for name, n in data["grades"]],
        assessed=data["assessed"],
        average=_undecimal(data["average"]),
        bottom_total=data["bottom_total"],
        bottom=[
            Assessment(
                pk=item["pk"],
                total=_undecimal(item["total"]),
                grade=item["grade"],
                rank=item["rank"],
                peer_size=item["peer_size"],
                organization=Organization(**item["organization"]),
            )
            for item in data["bottom"]
        ],
    )
