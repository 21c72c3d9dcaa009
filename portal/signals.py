from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.db.models import Count, Sum
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext as _

from branches import audit
from branches.models import SecurityEvent, SecurityEventKind


@receiver(user_locked_out)
def record_lockout(sender, request=None, username=None, ip_address=None, **kwargs):
    audit.record_refusal(SecurityEventKind.LOCKED_OUT, username=username or "", detail=ip_address or "")


@receiver(user_login_failed)
def record_targeted_name(sender, credentials=None, request=None, **kwargs):
    """A name guessed at from many addresses is not locked (its owner would be locked out with it): it is reported
    once per cool-off to the security log, for an administrator to look at and warn its owner."""
    username = (credentials or {}).get("username") or ""
    if not username:
        return
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    attempts = AccessAttempt.objects.filter(username=username, attempt_time__gte=since).aggregate(
        failures=Sum("failures_since_start"), addresses=Count("ip_address", distinct=True)
    )
    if (attempts["failures"] or 0) < settings.TARGETED_NAME_FAILURES or (attempts["addresses"] or 0) < 2:
        return
    reported = SecurityEvent.objects.filter(kind=SecurityEventKind.TARGETED_NAME, username=username, at__gte=since)
    if not reported.exists():
        audit.record_refusal(
            SecurityEventKind.TARGETED_NAME,
            username=username,
            detail=_("%(failures)s failures from %(addresses)s addresses") % attempts,
        )
