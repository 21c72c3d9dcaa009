"""Reads for the inbox and the jobs page."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, Q
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from portal import tasks
from portal.models import EmailState, Notification, NotificationPreference, ReminderRule, ReminderRun


def inbox_of(user, *, unread_only=False):
    """The user's own notifications, newest first; withdrawn ones (done since, or moved) are left out."""
    rows = Notification.objects.filter(recipient=user, withdrawn_at=None)
    if unread_only:
        rows = rows.filter(read_at=None)
    return rows.order_by("-created_at", "-pk")


def unread_count(user):
    return Notification.objects.filter(recipient=user, read_at=None, withdrawn_at=None).count()


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
    rows = []
    for task in PeriodicTask.objects.select_related("crontab", "interval").order_by("name"):
        if task.task == tasks.send_reminders.name:
            rows.append(ScheduleRow(task, reminders["last_run"], reminders["runs"]))
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
