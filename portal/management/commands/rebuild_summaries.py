from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from branches import summaries
from branches.models import Organization, SummaryRun
from portal.management import arguments


class Command(BaseCommand):
    help = (
        "Recompute the month summaries (meetings, duties, findings) and the kept compliance results from the records "
        "(all, or one subtree and/or one year), fix what differs "
        "and report how many rows were out of step (expected 0). The run is listed on the jobs page."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", type=int, default=None, help="id of the organization whose subtree to rebuild")
        parser.add_argument("--year", type=int, default=None, help="the year to rebuild (default: every year)")

    def handle(self, *args, org, year, **options):
        arguments.row_id("--org", org)
        arguments.year("--year", year)
        within = None
        if org is not None:
            within = Organization.objects.filter(pk=org).first()
            if within is None:
                raise CommandError(_("There is no organization %(id)d.") % {"id": org})
        run = summaries.run(source=SummaryRun.Source.COMMAND, within=within, year=year)
        self.stdout.write(
            _("Summaries rebuilt in %(seconds).1f s: %(drift)d rows were out of step and are fixed.")
            % {"seconds": run.seconds, "drift": run.drift}
        )
