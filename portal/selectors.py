"""Reads for the inbox and the jobs page."""

from datetime import timedelta

from django.db.models import Count
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

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


def jobs_overview(days=7):
    """What the jobs page shows: schedules, rules, recent runs, the week's email outcomes, recent errors."""
    since = timezone.now() - timedelta(days=days)
    return {
        "schedules": list(PeriodicTask.objects.select_related("crontab", "interval").order_by("name")),
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
