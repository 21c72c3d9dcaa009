import time
from datetime import date

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from assessments import demo as assessments_demo
from branches import audit, demo
from branches.models import Organization
from portal import demo as portal_demo
from portal.management import arguments

# Twice the county the portal is designed and measured for (DESIGN.md): a larger one is a typing slip.
MAX_ORGS = 200_000


class Command(BaseCommand):
    help = (
        "Build a deterministic demo county (organizations, members, cadres, users). Running it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--orgs", type=int, default=400, help="about how many organizations (default 400)")
        parser.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
        parser.add_argument(
            "--today",
            type=date.fromisoformat,
            default=None,
            help="reference day YYYY-MM-DD (default: today in Beijing time)",
        )
        parser.add_argument("--no-meetings", action="store_true", help="skip the year of meetings")
        parser.add_argument("--quiet-logins", action="store_true", help="do not print the demo logins")

    def handle(self, *args, orgs, seed, today, quiet_logins, no_meetings, **options):
        arguments.number("--orgs", orgs, 12, MAX_ORGS)
        arguments.number("--seed", seed, 0, arguments.LARGEST_ID)
        arguments.day("--today", today)
        today = today or timezone.localdate()
        started = time.monotonic()

        def progress(done, total):
            if options["verbosity"] >= 2:
                self.stdout.write(f"  {done}/{total}")

        counts = demo.build_county(orgs=orgs, seed=seed, today=today, progress=progress, with_meetings=not no_meetings)
        if counts and connection.vendor == "postgresql":
            # Fresh statistics, or the planner guesses badly over the millions of rows just loaded.
            with connection.cursor() as cursor:
                for table in (
                    "branches_organization",
                    "branches_member",
                    "branches_cadre",
                    "branches_trainingrecord",
                    "branches_meeting",
                    "branches_attendance",
                    "branches_monthsummary",
                    "branches_complianceresult",
                    "branches_compliancestanding",
                ):
                    cursor.execute(f"ANALYZE {table}")
        if counts:
            self.stdout.write(
                self.style.SUCCESS(
                    _(
                        "Demo county built in %(seconds).1f s: %(organizations)d organizations, %(members)d members, "
                        "%(cadres)d cadres, %(terms)d committee terms, %(trainings)d training records, "
                        "%(meetings)d meetings with %(attendance)d attendance records."
                    )
                    % {"seconds": time.monotonic() - started, "meetings": 0, "attendance": 0, **counts}
                )
            )
        else:
            self.stdout.write(_("Demo data is already present; nothing was added."))
        with audit.as_job("seed_demo"):
            logins = demo.ensure_demo_users()
            if counts:
                root = Organization.objects.get(code=demo.ROOT_CODE)
                inspector = get_user_model().objects.filter(username="kaohe").first()
                duties = assessments_demo.build(root=root, today=today, seed=seed, inspector=inspector)
                if duties:
                    self.stdout.write(
                        _(
                            "Duties: %(issued_lists)d lists with %(duties)d items issued, %(duties_done)d done; "
                            "%(inspections)d inspections with %(findings)d findings."
                        )
                        % duties
                    )
                portal_demo.build(today=today, inspector=inspector)
            portal_demo.give_emails()
        if not quiet_logins:
            self.stdout.write(_("Demo logins (user name / password):"))
            for login in logins:
                self.stdout.write(f"  {login.username:<8} {login.password:<24} {login.role} · {login.organization}")
