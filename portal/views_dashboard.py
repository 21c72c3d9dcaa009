"""The organization department's dashboard (组织部看板): a subtree over a period, at a glance, drilled down level by
level. Thin: the figures come from `selectors.dashboard_of`, which reads each from its app's selectors."""

from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from branches import access, periods
from branches import dashboard as branch_figures
from branches import selectors as branch_selectors
from branches.compliance import IN_PROGRESS, MET, NOT_MET, STATE_LABELS
from branches.models import Organization, OrganizationKind, Period
from portal import jobs, reports, selectors, services, tasks
from portal.forms import DashboardFilterForm

ROWS_PER_PAGE = 50  # heatmap rows (sub-organizations) per page


@require_GET
def dashboard(request, pk=None):
    """`/dashboard/`: the user's top organization; `/dashboard/<pk>/`: any organization they review or assess."""
    user = request.user
    tops = branch_figures.top_organizations(user)
    if pk is None:
        if not tops:
            raise Http404
        node = tops[0]
    else:
        node = access.get_scoped_or_404(user, Organization.objects.all(), action=access.OVERSEE, pk=pk)
    today = timezone.localdate()
    filters = DashboardFilterForm(request.GET)
    filters.is_valid()  # a field not understood says so; the others still apply
    chosen = filters.cleaned_data
    span = chosen.get("period") or periods.span_of(Period.YEAR, today)
    sector, kind = chosen.get("sector") or "", chosen.get("kind") or ""
    keep = urlencode({key: value for key, value in (("period", span.key), ("sector", sector), ("kind", kind)) if value})
    context = {
        "organization": node,
        "tops": tops if len(tops) > 1 else [],
        "ancestors": branch_selectors.visible_ancestors(user, node, access.OVERSEE),
        "filters": filters,
        "span": span,
        "sector": sector,
        "kind": kind,
        "keep": keep,
        "period_text": request.GET.get("period", span.key),
        "previous": periods.shift(span, -1),
        "next": periods.shift(span, 1),
    }
    if "period" in filters.errors:  # the box keeps what was typed and says what is wrong; no figure is shown
        return render(request, "portal/dashboard.html", {**context, "figures": None})
    page = Paginator(branch_figures.sub_organizations(node, span), ROWS_PER_PAGE).get_page(request.GET.get("page"))
    rows = list(page.object_list) or [node]  # a branch has no sub-organization to drill into: its own row
    figures = selectors.dashboard_of(node, span, today, rows=rows, sector=sector, kind=kind)
    if figures is None or selectors.dashboard_is_stale(figures):
        figures = _ask_for_snapshot(user, node, span, sector, kind, today, rows) or figures
    if figures is None:
        return render(request, "portal/dashboard.html", {**context, "figures": None, "pending": True})
    trend, rounds = selectors.trend_of(node, today), figures.rounds
    return render(
        request,
        "portal/dashboard.html",
        {
            **context,
            "figures": figures,
            "stale": selectors.dashboard_is_stale(figures),
            "page": page if page.paginator.num_pages > 1 else None,
            "heat_rows": _heat_rows(user, node, rows, figures.heatmap, sector, kind),
            "staffing": _staffing(figures),
            "links": _links(user, node, keep),
            "signals": _signals(node, span),
            "charts": {**_charts(figures), **_trend_charts(trend, rounds)},
            "trend": trend,
            "trend_days": selectors.TREND_DAYS,
            "rounds_trend": rounds,
        },
    )


def _ask_for_snapshot(user, node, span, sector, kind, today, rows):
    """A large subtree's snapshot is missing or old: queue its computation (once; the page refreshes itself until
    it is there). When the queue is away, compute it now and return the figures."""
    if not services.dashboard_snapshot_request(by=user, organization=node, span=span, sector=sector, kind=kind):
        return None
    if jobs.enqueue(tasks.refresh_dashboard, organization_id=node.pk, period=span.key, sector=sector, kind=kind):
        return None
    services.dashboard_snapshot_compute(by=user, organization=node, span=span, sector=sector, kind=kind, today=today)
    return selectors.dashboard_of(node, span, today, rows=rows, sector=sector, kind=kind)


def _heat_rows(user, node, rows, heatmap, sector, kind):
    """Each heatmap row: the organization, where clicking it leads (its dashboard, one level down), and its cells,
    a cell not met with the page showing the records behind it (one URL reversed per row, not per cell: a root's
    page has hundreds of red cells)."""
    if heatmap is None:
        return []
    reviews = access.can(user, access.REVIEW, node)
    found = []
    for row in rows:
        drill = None if row.pk == node.pk else reverse("dashboard_organization", args=[row.pk])
        records = _records_of(row, reviews, sector, kind)
        cells = []
        for cell in heatmap.cells.get(row.pk, []):
            link = records(cell.month) if cell.state == NOT_MET and records else None
            cells.append({"cell": cell, "link": link, "label": STATE_LABELS.get(cell.state, "")})
        found.append({"organization": row, "drill": drill, "cells": cells})
    return found


def _records_of(row, reviews, sector, kind):
    """The page behind a red cell of the row, for a month: the reviewer's compliance table of the row's subtree over
    that month; for an assessor (who has no table), a branch's meetings of the month. None when there is none."""
    if reviews:
        base = reverse("branches:compliance", args=[row.pk])
        filters = {**({"sector": sector} if sector else {}), **({"kind": kind} if kind else {})}
        return lambda month: base + "?" + urlencode({"period": month.key, **filters})
    if row.kind == OrganizationKind.BRANCH:
        base = reverse("branches:meetings", args=[row.pk])
        return lambda month: base + "?" + urlencode({"period": month.key})
    return None


def _staffing(figures):
    staffing, setting = figures.staffing, figures.setting
    share = staffing.share
    if share is None:
        state = None
    elif share < setting.staffing_min_share:
        state = "below"
    elif share > setting.staffing_max_share:
        state = "above"
    else:
        state = "within"
    return {
        "figures": staffing,
        "percent": (share * 100).quantize(Decimal("0.01")) if share is not None else None,
        "min_percent": _percent(setting.staffing_min_share),
        "max_percent": _percent(setting.staffing_max_share),
        "state": state,
    }


def _percent(share):
    return (share * 100).quantize(Decimal("0.01")).normalize()


def _links(user, node, keep):
    """Where the tiles lead, for what the user may open."""
    reviews = access.can(user, access.REVIEW, node)
    lists = reverse("assessments:three_lists", args=[node.pk])
    return {
        "compliance": reverse("branches:compliance", args=[node.pk]) + "?" + keep if reviews else "",
        "duties_overdue": f"{lists}?list=duties&overdue=1" if reviews else "",
        "findings_overdue": f"{lists}?list=problems&overdue=1" if reviews else "",
    }


def _signals(node, span):
    """The integrity signals tile: per kind, how many of the subtree's organizations are flagged over the period's
    year (read as the nightly job left them, so never from a snapshot), each opening the page that lists them; and
    the run they come from, so that "none found" is told from "not computed yet" and from a failed run. The counts
    are read only when a run has finished."""
    year = span.start.year
    runs = branch_selectors.integrity_signal_runs_of(node, year)
    page = reverse("branches:integrity_signals", args=[node.pk])
    counts = [] if runs.done is None else branch_selectors.integrity_signal_counts(node, year)
    return {
        "state": runs.state,
        "latest": runs.latest,
        "done": runs.done,
        "found": sum(n for _kind, n in counts),
        "kinds": [
            {"kind": kind, "count": n, "link": f"{page}?{urlencode({'year': year, 'kind': kind.value})}"}
            for kind, n in counts
        ],
    }


def _charts(figures):
    """What static/portal/dashboard.js draws (numbers only; the page's tables hold the same)."""
    data = {}
    if figures.compliance:
        data["compliance"] = {
            "types": [str(row.meeting_type.label) for row in figures.compliance],
            "series": [
                {"key": MET, "name": str(STATE_LABELS[MET]), "data": [row.met for row in figures.compliance]},
                {
                    "key": IN_PROGRESS,
                    "name": str(STATE_LABELS[IN_PROGRESS]),
                    "data": [row.in_progress for row in figures.compliance],
                },
                {
                    "key": NOT_MET,
                    "name": str(STATE_LABELS[NOT_MET]),
                    "data": [row.not_met for row in figures.compliance],
                },
            ],
        }
    if figures.round and figures.round.grades:
        data["grades"] = {
            "names": [name for name, _n in figures.round.grades],
            "counts": [n for _name, n in figures.round.grades],
            "label": _("organizations"),
        }
    return data


def _trend_charts(trend, rounds):
    """The trend lines static/portal/dashboard.js draws: the daily figures, and the average over the rounds."""
    data = {}
    if trend:
        data["trend"] = {
            "days": [row["day"].isoformat() for row in trend],
            "series": [
                {"name": str(label), "data": [row[key] for row in trend]}
                for key, label in (
                    ("duties_overdue", _("duties overdue")),
                    ("rectifications_overdue", _("rectifications overdue")),
                    ("terms_overdue", _("committees past their election")),
                )
            ],
        }
    if len(rounds) > 1:
        data["rounds"] = {
            "names": [point.title for point in rounds],
            "averages": [None if point.average is None else float(round(point.average, 2)) for point in rounds],
            "label": _("average points"),
        }
    return data


@require_GET
def dashboard_report(request, pk):
    """The report of the dashboard's subtree, period and filters: an Excel workbook (one sheet a table), or a PDF to
    print with `format=pdf`. Every sub-organization's row, not a page of them. While a large subtree's figures are
    being calculated, or with a period not understood, back to the dashboard, which says so."""
    node = access.get_scoped_or_404(request.user, Organization.objects.all(), action=access.OVERSEE, pk=pk)
    back = reverse("dashboard_organization", args=[node.pk]) + ("?" + request.GET.urlencode() if request.GET else "")
    filters = DashboardFilterForm(request.GET)
    filters.is_valid()
    if "period" in filters.errors:
        return redirect(back)
    today = timezone.localdate()
    chosen = filters.cleaned_data
    span = chosen.get("period") or periods.span_of(Period.YEAR, today)
    sector, kind = chosen.get("sector") or "", chosen.get("kind") or ""
    rows = list(branch_figures.sub_organizations(node, span)) or [node]
    figures = selectors.dashboard_of(node, span, today, rows=rows, sector=sector, kind=kind)
    if figures is None:
        figures = _ask_for_snapshot(request.user, node, span, sector, kind, today, rows)
    if figures is None:
        messages.info(request, _("The figures of this period are being calculated; the report follows once they show."))
        return redirect(back)
    report_tables = reports.tables(
        figures,
        staffing=_staffing(figures),
        rows=rows,
        trend=selectors.trend_of(node, today),
        rounds=figures.rounds,
    )
    if request.GET.get("format") == "pdf":
        return reports.pdf_response(report_tables, node=node, span=span, figures=figures)
    return reports.workbook_response(report_tables, reports.filename(node, span))
