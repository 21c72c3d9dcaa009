"""Celery tasks: thin wrappers over portal.services, retried when the database is briefly away.

Each is one schedule row (django-celery-beat), created by portal's migrations; later jobs
(nightly scoring, dashboard snapshots) are added the same way.
"""

from datetime import date

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from assessments import services as assessment_services
from branches import access, periods, summaries
from branches import services as branch_services
from branches.models import Organization
from portal import services
from portal.models import DashboardReport, ReminderRun

RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 30,
    "retry_backoff_max": 600,
    "max_retries": 5,
}


@shared_task(name="portal.send_reminders", **RETRY)
def send_reminders(today=None, run_id=None):
    """The day's reminders: create, withdraw what is done, email. `today` as YYYY-MM-DD (default: today)."""
    run = ReminderRun.objects.filter(pk=run_id).first() if run_id else None
    if run_id and run is None:
        return None
    summary = services.reminders_send(today=date.fromisoformat(today) if today else None, run=run)
    return None if summary is None else {"created": summary.created_total, "emailed": summary.emailed}


@shared_task(name="portal.deliver_notifications", **RETRY)
def deliver_notifications():
    """Every few minutes: start runs the broker never took, then send waiting emails and due retries."""
    started = services.start_queued_runs()
    delivery = services.notifications_deliver()
    return {"runs_started": started, "sent": delivery.sent, "failed": delivery.failed}


@shared_task(name="portal.rebuild_summaries", **RETRY)
def rebuild_summaries(today=None):
    """Nightly: recompute the month summaries from the records and record the drift found (expected 0)."""
    day = date.fromisoformat(today) if today else timezone.localdate()
    return [{"year": run.year, "drift": run.drift} for run in summaries.nightly(day)]


@shared_task(name="portal.score_rounds", **RETRY)
def score_rounds(today=None):
    """Nightly: score every open assessment round (published assessments are left as they are)."""
    day = date.fromisoformat(today) if today else None
    runs = assessment_services.rounds_score_open(by=access.system_user(), today=day)
    return {str(pk): run.assessments for pk, run in runs.items()}


@shared_task(name="portal.prune_api_token_uses", **RETRY)
def prune_api_token_uses():
    """Nightly: forget the calls made with API tokens older than API_TOKEN_USE_DAYS."""
    return {"deleted": services.api_token_uses_prune(now=timezone.now())}


@shared_task(name="portal.refresh_dashboards", **RETRY)
def refresh_dashboards(today=None):
    """Every 15 minutes: the snapshots of the large subtrees' dashboards over the running year, quarter and month."""
    day = date.fromisoformat(today) if today else None
    run = services.dashboards_refresh(by=access.system_user(), today=day)
    return None if run is None else {"organizations": run.organizations, "snapshots": run.snapshots}


@shared_task(name="portal.refresh_integrity_signals", **RETRY)
def refresh_integrity_signals(year=None, today=None):
    """Nightly: the integrity signals of the running year (in January, of the year just ended too: its last
    records are often logged then). `year` alone recomputes that year."""
    day = date.fromisoformat(today) if today else timezone.localdate()
    years = [year] if year else [day.year - 1, day.year] if day.month == 1 else [day.year]
    return {str(each): branch_services.integrity_signals_refresh(by=access.system_user(), year=each) for each in years}


@shared_task(name="portal.refresh_dashboard", **RETRY)
def refresh_dashboard(organization_id, period, sector="", kind=""):
    """One snapshot a dashboard page asked for (another period or filter, or one grown old)."""
    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        return None
    services.dashboard_snapshot_compute(
        by=access.system_user(), organization=organization, span=periods.parse(period), sector=sector, kind=kind
    )
    return {"organization": organization_id, "period": period, "sector": sector, "kind": kind}


@shared_task(name="portal.take_daily_figures", **RETRY)
def take_daily_figures(today=None):
    """Daily, late in the evening: each committee's overdue figures as of today, for the dashboard's trend lines."""
    day = date.fromisoformat(today) if today else None
    return {"committees": services.daily_figures_take(by=access.system_user(), today=day)}


@shared_task(name="portal.build_dashboard_report", **RETRY)
def build_dashboard_report(report_id):
    """One report of a large subtree's dashboard a reader asked for (its page shows the progress)."""
    report = DashboardReport.objects.select_related("organization").filter(pk=report_id).first()
    if report is None:
        return None
    report = services.dashboard_report_build(by=access.system_user(), report=report)
    return {"report": report.pk, "state": report.state}


@shared_task(name="portal.prune_dashboard_reports", **RETRY)
def prune_dashboard_reports():
    """Nightly: remove the dashboard reports older than DASHBOARD_REPORT_DAYS, with their files."""
    return {"deleted": services.dashboard_reports_prune(now=timezone.now())}
