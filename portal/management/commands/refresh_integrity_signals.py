from django.core.management.base import BaseCommand
from django.utils import timezone
from django.utils.translation import gettext as _

from branches import access, services
from branches.models import IntegritySignalKind
from portal.management import arguments


class Command(BaseCommand):
    help = (
        "Recompute the integrity signals (late logging, year-end cramming, nearly identical minutes, identical "
        "attendance lists) of a year over the whole tree, replacing that year's. The nightly job runs the same service."
    )

    def add_arguments(self, parser):
        parser.add_argument("--year", type=int, default=None, help="the year (default: this year)")

    def handle(self, *args, year, **options):
        year = arguments.year("--year", year) or timezone.localdate().year
        counts = services.integrity_signals_refresh(by=access.system_user(), year=year)
        for kind, n in counts.items():
            self.stdout.write(f"{IntegritySignalKind(kind).label}: {n}")
        self.stdout.write(_("Integrity signals of %(year)d recomputed.") % {"year": year})
