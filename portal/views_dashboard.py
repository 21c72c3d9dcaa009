"""The organization department's dashboard (组织部看板): a subtree over a period, at a glance, drilled down level by
level. Thin: the figures come from `selectors.dashboard_of`, which reads each from its app's selectors."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from branches import access, periods, uploads
from branches import dashboard as branch_figures
from branches import selectors as branch_selectors
from branches.compliance import IN_PROGRESS, MET, NOT_MET, STATE_LABELS
from branches.models import Organization, OrganizationKind, Period
from portal import jobs, reports, selectors, services, tasks
from portal.forms import DashboardFilterForm
from portal.models import DashboardReport, ReportFormat

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
            "staffing": selectors.staffing_of(figures),
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


@require_http_methods(["GET", "POST"])
def dashboard_report(request, pk):
    """The report of the dashboard's subtree, period and filters (in the query string): an Excel workbook (one
    sheet a table), or a PDF to print with `format=pdf`. Every sub-organization's row, not a page of them. A large
    subtree's (as many organizations as DASHBOARD_SNAPSHOT_MIN_ORGS or more) is built by a job, asked for by the
    dashboard's buttons (a POST): on to its page, which shows the progress and then the download; a link (a GET)
    only shows what would be made and a button to start it, so a link followed by mistake, or planted on another
    site, starts no job. A smaller report is sent at once either way. With a period not understood, back to the
    dashboard, which says so."""
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
    asked = request.POST if request.method == "POST" else request.GET
    fmt = ReportFormat.PDF if asked.get("format") == "pdf" else ReportFormat.XLSX
    if branch_figures.subtree_reaches(node, settings.DASHBOARD_SNAPSHOT_MIN_ORGS):
        if request.method != "POST":
            return render(
                request,
                "portal/dashboard_report_ask.html",
                {"organization": node, "span": span, "format": ReportFormat(fmt), "back": back},
            )
        report = _build_in_background(request.user, node, span, sector, kind, fmt)
        return redirect("dashboard_report_job", pk=report.pk)
    rows = list(branch_figures.sub_organizations(node, span)) or [node]
    figures = selectors.dashboard_of(node, span, today, rows=rows, sector=sector, kind=kind)
    if figures is None:  # a subtree grown smaller, its old snapshot not yet dropped by the job
        figures = _ask_for_snapshot(request.user, node, span, sector, kind, today, rows)
    if figures is None:
        messages.info(request, _("The figures of this period are being calculated; the report follows once they show."))
        return redirect(back)
    report_tables = reports.tables_of(node, span, figures, rows=rows, today=today)
    return reports.response(report_tables, fmt, node=node, span=span, figures=figures)


def _build_in_background(user, node, span, sector, kind, fmt):
    """A large subtree's report: recorded and queued (once: an identical one being built, or built from the same
    snapshot, is taken instead). When the queue is away, built now, as the dashboard computes its snapshot then."""
    report, new = services.dashboard_report_request(
        by=user, organization=node, span=span, sector=sector, kind=kind, format=fmt
    )
    if new and not jobs.enqueue(tasks.build_dashboard_report, report_id=report.pk):
        report = services.dashboard_report_build(by=user, report=report)
    return report


def _report_of(request, pk):
    """A report, for a reader who oversees its organization; 404 to anyone else (an id tells nothing)."""
    return access.get_scoped_or_404(
        request.user, DashboardReport.objects.select_related("organization"), access.OVERSEE, pk=pk
    )


@require_GET
def dashboard_report_job(request, pk):
    """A report being built by a job: its state and progress (the page refreshes itself meanwhile), then the download,
    or why it failed."""
    report = _report_of(request, pk)
    span = periods.parse(report.period)
    back = reverse("dashboard_organization", args=[report.organization_id])
    keep = urlencode(
        {k: v for k, v in (("period", report.period), ("sector", report.sector), ("kind", report.kind)) if v}
    )
    return render(
        request,
        "portal/dashboard_report.html",
        {
            "report": report,
            "organization": report.organization,
            "span": span,
            "back": f"{back}?{keep}",
            "filename": f"{reports.filename(report.organization, span)}.{report.format}",
        },
    )


@require_GET
def dashboard_report_download(request, pk):
    """The file of a report done, for a reader who oversees its organization (checked again: the link may be
    passed on); 404 to anyone else, and while it is not done."""
    report = _report_of(request, pk)
    if not report.is_ready:
        raise Http404
    name = f"{reports.filename(report.organization, periods.parse(report.period))}.{report.format}"
    try:
        return uploads.download_file(report.file, content_type=reports.CONTENT_TYPES[report.format], name=name)
    except FileNotFoundError:  # removed from the folder by hand: as if it had been pruned
        raise Http404 from None
