from datetime import date

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from branches import access
from portal import services
from portal.management import arguments


class Command(BaseCommand):
    help = (
        "Count the dashboard figures of every organization overseeing many organizations (this year, quarter and "
        "month, without filters) and keep them as snapshots. The job every 15 minutes runs the same service."
    )

    def add_arguments(self, parser):
        parser.add_argument("--today", type=date.fromisoformat, default=None, help="YYYY-MM-DD (default: today)")
        parser.add_argument(
            "--min-orgs",
            type=int,
            default=None,
            help="subtrees of this many organizations or more (default: DASHBOARD_SNAPSHOT_MIN_ORGS)",
        )

    def handle(self, *args, today, min_orgs, **options):
        arguments.day("--today", today)
        arguments.number("--min-orgs", min_orgs, 1, arguments.LARGEST_ID)
        run = services.dashboards_refresh(by=access.system_user(), today=today, min_orgs=min_orgs)
        if run is None:
            self.stdout.write(_("Another run is still counting the dashboards' snapshots."))
            return
        self.stdout.write(
            _("%(snapshots)d snapshots of %(organizations)d organizations in %(seconds).1f seconds.")
            % {"snapshots": run.snapshots, "organizations": run.organizations, "seconds": run.seconds}
        )
