from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from branches import audit
from portal.management import arguments


class Command(BaseCommand):
    help = "Delete audit entries older than AUDIT_RETENTION_DAYS (0, the default, keeps them all)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="override AUDIT_RETENTION_DAYS")

    def handle(self, *args, days, **options):
        # A century at most: a longer span reaches before any date the trail can hold.
        days = settings.AUDIT_RETENTION_DAYS if days is None else arguments.number("--days", days, 0, 36_500)
        deleted = audit.prune(now=timezone.now(), retention_days=days)
        self.stdout.write(
            f"{deleted} audit entries older than {days} days deleted."
            if days
            else "AUDIT_RETENTION_DAYS is 0: the audit trail is kept in full."
        )
