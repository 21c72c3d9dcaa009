"""Reads for the inbox, the jobs page and the dashboards."""

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateField,
    Exists,
    F,
    Func,
    IntegerField,
    JSONField,
    Max,
    OuterRef,
    Q,
    Subquery,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, TruncMonth, TruncQuarter, TruncYear
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from assessments import dashboard as assessment_figures
from assessments import selectors as duty_selectors
from branches import access
from branches import dashboard as branch_figures
from branches import selectors as branch_selectors
from branches.models import IntegritySignalRun, Organization, RoleAssignment, SummaryRun
from portal import dashboard_codec, tasks
from portal.dashboard_codec import Dashboard
from portal.models import (
    ApiToken,
    ApiTokenUse,
    DailyFigures,
    DashboardSetting,
    DashboardSnapshot,
    DashboardSnapshotRun,
    EmailState,
    Notification,
    NotificationKind,
    NotificationPreference,
    ReminderRule,
    ReminderRun,
)

MEETING_KINDS = (NotificationKind.MEETING_DUE, NotificationKind.MEETING_OVERDUE)


# The path of a review reminder's organization (the assessor's subtree), looked up inside the check: joining the
# organizations to the notifications instead made the planner hash the whole tree for the bell's one row.
_assessor_path = Subquery(Organization.objects.filter(pk=OuterRef(OuterRef("organization_id"))).values("path")[:1])


def with_subject_done(rows):
    """Each notification with `subject_done`: whether what it is about is done now (the duty completed, the
    rectification submitted or closed, the meeting held as often as required, the committee re-elected).

    Worked out as the inbox is read, in the same query (a subquery per row, no query per row), so a
    reminder shows as done the moment its subject is, not only after the next reminder run withdraws it."""
    missing = lambda owed: ~Exists(owed.filter(pk=OuterRef("object_id")))  # noqa: E731
    # A meeting reminder is about one calendar month, quarter or year (its `period`) ending on `due_on`.
    rows = rows.annotate(
        _span_start=Case(
            When(params__period="month", then=TruncMonth("due_on")),
            When(params__period="quarter", then=TruncQuarter("due_on")),
            When(params__period="year", then=TruncYear("due_on")),
            output_field=DateField(),
        ),
        _meeting_type=KT("params__meeting_type"),
    )
    held = branch_selectors.meetings_counted_towards(
        organization=OuterRef("organization"),
        meeting_type=OuterRef("_meeting_type"),
        first_day=OuterRef("_span_start"),
        last_day=OuterRef("due_on"),
    )
    required = Cast(KT("params__required"), IntegerField())
    return rows.annotate(
        subject_done=Case(
            When(
                kind__in=(NotificationKind.DUTY_DUE, NotificationKind.DUTY_OVERDUE),
                then=missing(duty_selectors.open_duties()),
            ),
            When(
                kind__in=(NotificationKind.RECTIFICATION_DUE, NotificationKind.RECTIFICATION_OVERDUE),
                then=missing(duty_selectors.findings_awaiting_organization()),
            ),
            When(kind=NotificationKind.TERM_ENDING, then=missing(branch_selectors.open_terms())),
            When(
                kind=NotificationKind.SELF_ASSESSMENT_DUE,
                then=missing(duty_selectors.assessments_awaiting_organization()),
            ),
            When(
                kind=NotificationKind.REVIEW_DUE,
                then=~Exists(duty_selectors.reviews_awaiting(OuterRef("object_id"), _assessor_path)),
            ),
            When(
                Q(kind__in=MEETING_KINDS) & GreaterThanOrEqual(Coalesce(Subquery(held), 0), required),
                then=True,
            ),
            default=False,
            output_field=BooleanField(),
        )
    )


def inbox_of(user, *, unread_only=False):
    """The user's own notifications, newest first, each marked whether its subject is done; withdrawn ones
    (done some time ago, or moved) are left out. Unread: not read, and not done since."""
    rows = with_subject_done(Notification.objects.filter(recipient=user, withdrawn_at=None))
    if unread_only:
        rows = rows.filter(read_at=None, subject_done=False)
    return rows.order_by("-created_at", "-pk")


def unread_count(user):
    """What the bell counts: reminders neither read nor done since. One query; its SQL is built once per
    process (`_unread_count_sql`), since building it took the ORM several milliseconds of every page."""
    sql, params = _unread_count_sql(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [user.pk if value == _SOMEONE else value for value in params])
        return cursor.fetchone()[0]


_SOMEONE = -918_273_645  # a recipient id no row has, replaced by the user's in the built query's parameters


@functools.lru_cache(maxsize=4)
def _unread_count_sql(_vendor):
    rows = Notification.objects.filter(recipient_id=_SOMEONE, read_at=None, withdrawn_at=None)
    query = with_subject_done(rows).filter(subject_done=False).order_by().values("pk").query
    sql, params = query.sql_with_params()
    assert list(params).count(_SOMEONE) == 1, "the recipient is the query's only parameter of its kind"
    return f"SELECT count(*) FROM ({sql}) AS unread", tuple(params)  # noqa: S608 (compiled ORM SQL)


def preference_of(user):
    return NotificationPreference.objects.filter(user=user).first() or NotificationPreference(user=user)


@dataclass(frozen=True)
class ScheduleRow:
    task: PeriodicTask
    last_run: datetime | None
    runs: int


def schedule_rows() -> list[ScheduleRow]:
    """Each schedule with its last run and run count. The reminder job's come from the portal's own runs
    (every run, whoever started it); beat keeps its counters in memory and writes them only now and then,
    so they are a fallback for jobs that keep no runs of their own."""
    reminders = ReminderRun.objects.aggregate(
        last_run=Max("started_at"), runs=Count("pk", filter=Q(started_at__isnull=False))
    )
    rebuilds = SummaryRun.objects.filter(source=SummaryRun.Source.NIGHTLY).aggregate(
        last_run=Max("started_at"), runs=Count("pk")
    )
    snapshot_runs = DashboardSnapshotRun.objects.aggregate(last_run=Max("started_at"), runs=Count("pk"))
    signal_runs = IntegritySignalRun.objects.filter(organization=None).aggregate(
        last_run=Max("started_at"), runs=Count("pk")
    )
    rows = []
    for task in PeriodicTask.objects.select_related("crontab", "interval").order_by("name"):
        if task.task == tasks.send_reminders.name:
            rows.append(ScheduleRow(task, reminders["last_run"], reminders["runs"]))
        elif task.task == tasks.rebuild_summaries.name:
            rows.append(ScheduleRow(task, rebuilds["last_run"], rebuilds["runs"]))
        elif task.task == tasks.refresh_dashboards.name:
            rows.append(ScheduleRow(task, snapshot_runs["last_run"], snapshot_runs["runs"]))
        elif task.task == tasks.refresh_integrity_signals.name:
            rows.append(ScheduleRow(task, signal_runs["last_run"], signal_runs["runs"]))
        else:
            rows.append(ScheduleRow(task, task.last_run_at, task.total_run_count))
    return rows


def jobs_overview(days=7):
    """What the jobs page shows: schedules, rules, recent runs, the week's email outcomes, recent errors."""
    since = timezone.now() - timedelta(days=days)
    return {
        "schedules": schedule_rows(),
        "rules": list(ReminderRule.objects.all()),
        "runs": list(ReminderRun.objects.select_related("requested_by")[:10]),
        "rebuilds": list(SummaryRun.objects.select_related("organization")[:10]),
        "snapshot_runs": list(DashboardSnapshotRun.objects.all()[:10]),
        "signal_runs": branch_selectors.integrity_signal_runs_recent(),
        "email_states": [
            (EmailState(state).label, n)
            for state, n in Notification.objects.filter(created_at__gte=since)
            .values_list("email_state")
            .annotate(n=Count("pk"))
            .order_by("email_state")
        ],
        "errors": list(
            Notification.objects.filter(created_at__gte=since)
            .exclude(last_error="")
            .exclude(email_state=EmailState.SENT)
            .select_related("recipient")
            .order_by("-created_at")[:20]
        ),
    }


def api_tokens_of(user):
    """A person's own API tokens, newest first (revoked and expired ones too, so the list tells what happened)."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-pk")


def api_tokens_administered(user):
    """The tokens of the people whose every role lies in a subtree the user administers, newest first.

    Someone who also holds a role elsewhere answers to that organization's admins too, so only an admin of all
    their organizations sees (and may revoke) their tokens; one query."""
    inside = access.organization_q(user, access.ADMINISTER, via="organization")
    holders = RoleAssignment.objects.filter(inside).values("user_id")
    elsewhere = RoleAssignment.objects.exclude(inside).values("user_id")
    return (
        ApiToken.objects.filter(user_id__in=holders)
        .exclude(user_id__in=elsewhere)
        .select_related("user")
        .order_by("-created_at", "-pk")
    )


def api_tokens_revocable(user):
    """The tokens a person may revoke: their own, and those of the people they administer."""
    return ApiToken.objects.filter(Q(user=user) | Q(pk__in=api_tokens_administered(user).values("pk")))


TOKEN_USES_SHOWN = 30  # the last calls listed under the tokens


def api_token_uses_of(user, limit=TOKEN_USES_SHOWN):
    """The last calls made with a person's own tokens, newest first (one query, the token joined)."""
    return list(ApiTokenUse.objects.filter(token__user=user).select_related("token").order_by("-at", "-pk")[:limit])


def api_token_uses_administered(user, limit=TOKEN_USES_SHOWN):
    """The last calls made with the tokens an admin sees (`api_tokens_administered`), newest first, one query."""
    return list(
        ApiTokenUse.objects.filter(token__in=api_tokens_administered(user).values("pk"))
        .select_related("token__user")
        .order_by("-at", "-pk")[:limit]
    )


# The organization department's dashboard: every figure from its own selector in the app that keeps it; for a large
# subtree, from the snapshot a job keeps of them (`portal.dashboard_codec`).


def dashboard_of(node, span, today, *, rows, sector="", kind="", live=False) -> Dashboard | None:
    """The figures of a subtree's dashboard over a period: the organizations counted are the subtree's of `sector`
    and `kind` (when given); `rows` are the heatmap's rows (the node's sub-organizations, or the node alone).

    A subtree of `DASHBOARD_SNAPSHOT_MIN_ORGS` organizations or more is read from its snapshot of the period and
    filters (one query): the figures as they were at their `computed_at`, or None when that snapshot is not
    computed yet (the caller asks for it: `services.dashboard_snapshot_request`). Any other subtree, or any when
    `live`, is counted now (`computed_at` None), in a fixed number of queries whatever its size: one or two per
    figure group. Whether the subtree is that large and its snapshot are read together, in one query."""
    if not live:
        large, kept, cells, computed_at = _kept_figures(node, span, sector, kind, rows)
        if kept is not None:
            figures = dashboard_codec.from_json(kept, rows=rows, computed_at=computed_at, cells=cells or {})
            if figures is not None:
                return figures
        if large or computed_at is not None:
            return None
    setting = DashboardSetting.current()
    of = {"sector": sector, "kind": kind}
    return Dashboard(
        setting=setting,
        organizations=branch_figures.organization_counts(node, **of),
        compliance=branch_figures.compliance_by_type(node, span, today, **of),
        heatmap=branch_figures.compliance_heatmap(node, rows, span, today, **of),
        terms=branch_figures.committee_terms_due(node, today, within_days=setting.term_warning_days, **of),
        staffing=branch_figures.staffing(node, today, **of),
        duties=assessment_figures.duty_figures(node, span, today, **of),
        round=assessment_figures.latest_round(node, span, **of),
        rounds=assessment_figures.rounds_trend(node),
    )


SNAPSHOT_STALE_AFTER = timedelta(hours=1)  # a snapshot older than this is shown with its time and computed anew


class _RowsCells(Func):
    """The heatmap cells of the given rows out of a snapshot's `cells`: on PostgreSQL only theirs leave the server,
    the column read once (`->` per row would decompress it once per row); elsewhere the whole column (the codec
    picks the rows)."""

    output_field = JSONField()

    def __init__(self, cells, keys):
        super().__init__(cells)
        self.keys = keys

    def as_sql(self, compiler, connection, **extra):
        return compiler.compile(self.source_expressions[0])

    def as_postgresql(self, compiler, connection, **extra):
        cells_sql, params = compiler.compile(self.source_expressions[0])
        sql = f"(SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each({cells_sql}) AS e WHERE e.key = ANY(%s))"  # noqa: S608 (a compiled column)
        return sql, (*params, self.keys)


def _kept_figures(node, span, sector, kind, rows=None):
    """(whether the subtree holds DASHBOARD_SNAPSHOT_MIN_ORGS organizations or more, the figures of its snapshot,
    the heatmap cells of `rows` (every row's when None), when they were computed): one query. A snapshot asked for
    and not computed yet gives (…, None, None, None)."""
    kept = DashboardSnapshot.objects.filter(organization=node, period=span.key, sector=sector, kind=kind)
    keys = None if rows is None else [str(getattr(row, "pk", row)) for row in rows]
    cells = F("cells") if keys is None else _RowsCells(F("cells"), keys)
    return (
        Organization.objects.filter(pk=node.pk)
        .annotate(
            large=branch_figures.reaches(node, settings.DASHBOARD_SNAPSHOT_MIN_ORGS),
            kept=Subquery(kept.values("figures")[:1], output_field=JSONField()),
            kept_cells=Subquery(kept.annotate(wanted=cells).values("wanted")[:1], output_field=JSONField()),
            kept_at=Subquery(kept.values("computed_at")[:1]),
        )
        .values_list("large", "kept", "kept_cells", "kept_at")
        .get()
    )


def dashboard_is_stale(figures, now=None) -> bool:
    """Were the figures read from a snapshot computed more than SNAPSHOT_STALE_AFTER ago?"""
    return figures.computed_at is not None and figures.computed_at < (now or timezone.now()) - SNAPSHOT_STALE_AFTER


def dashboard_snapshot_rows(node, span):
    """The heatmap's rows a snapshot keeps: every sub-organization of the node that lived some day of the span (the
    page shows them a page at a time), or the node alone when it has none."""
    return list(branch_figures.sub_organizations(node, span)) or [node]


TREND_DAYS = 90


def staffing_of(figures):
    """The staffing tile: the share of full-time party-affairs staff as a percentage, and where it lies against the
    norm (below, within, above; None when the unit has no staff headcount)."""
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


def trend_of(node, today, *, days=TREND_DAYS):
    """The node's daily figures over the last `days` days, oldest first (one query on the daily rows' key); empty
    for a node the daily job does not follow (a branch) or before its first run."""
    return list(
        DailyFigures.objects.filter(organization=node, day__gt=today - timedelta(days=days), day__lte=today)
        .order_by("day")
        .values("day", "duties_overdue", "rectifications_overdue", "terms_overdue")
    )


def daily_figures_taken(day) -> bool:
    """Whether the daily job has taken the day's figures."""
    return DailyFigures.objects.filter(day=day).exists()
