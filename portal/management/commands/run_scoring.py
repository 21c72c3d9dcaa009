from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from assessments import services
from assessments.models import AssessmentRound
from branches import access
from portal.management import arguments


class Command(BaseCommand):
    help = (
        "Score assessment rounds: every computed indicator, totals, grades, ranks and roll-ups of every assessment "
        "not yet published (every open round, or one round). The nightly job runs the same service."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--round", type=int, default=None, help="id of the round to score (default: every open one)"
        )

    def handle(self, *args, round, **options):  # noqa: A002 (the option's name)
        arguments.row_id("--round", round)
        system = access.system_user()
        if round is not None:
            found = AssessmentRound.objects.select_related("root").filter(pk=round).first()
            if found is None:
                raise CommandError(_("There is no assessment round %(id)d.") % {"id": round})
            runs = {found.pk: services.round_score(round=found, by=system)}
        else:
            runs = services.rounds_score_open(by=system)
        for pk, run in runs.items():
            self.stdout.write(
                _("Round %(id)d: %(assessments)d assessments scored, %(published)d published left as they were.")
                % {"id": pk, "assessments": run.assessments, "published": run.skipped_published}
            )
        if not runs:
            self.stdout.write(_("No open assessment round."))
