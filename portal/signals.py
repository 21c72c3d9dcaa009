from axes.signals import user_locked_out
from django.dispatch import receiver

from branches import audit
from branches.models import SecurityEventKind


@receiver(user_locked_out)
def record_lockout(sender, request=None, username=None, ip_address=None, **kwargs):
    audit.record_refusal(SecurityEventKind.LOCKED_OUT, username=username or "", detail=ip_address or "")
