from datetime import date

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from portal import services
from portal.management import arguments
from portal.models import NotificationKind


class Command(BaseCommand):
    help = "Create and send the day's reminders, as the scheduled job does. Running it twice sends nothing twice."

    def add_arguments(self, parser):
        parser.add_argument("--today", type=date.fromisoformat, default=None, help="the day to run for, YYYY-MM-DD")
        parser.add_argument(
            "--dry-run", action="store_true", help="show what would be created and withdrawn; change nothing"
        )

    def handle(self, *args, today, dry_run, **options):
        arguments.day("--today", today)
        summary = services.reminders_send(today=today, dry_run=dry_run)
        head = _("Dry run for %(day)s: nothing was written or sent.") if dry_run else _("Reminders for %(day)s:")
        self.stdout.write(head % {"day": summary.today.isoformat()})
        for kind in NotificationKind:
            if summary.created.get(kind):
                self.stdout.write(f"  {kind.label}: {summary.created[kind]}")
        self.stdout.write(
            _("%(created)d new, %(withdrawn)d withdrawn (done since, or due date moved).")
            % {"created": summary.created_total, "withdrawn": summary.withdrawn}
        )
        if not dry_run:
            self.stdout.write(
                _("%(sent)d emails sent, %(failed)d failed (retried later).")
                % {"sent": summary.emailed, "failed": summary.email_errors}
            )
