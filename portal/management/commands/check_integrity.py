from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from branches import integrity
from branches.models import Organization
from portal.management import arguments


def organization_by_code(code):
    found = Organization.objects.filter(code=code).first() if arguments.organization_code(code) else None
    if found is None:
        raise CommandError(_("There is no organization with the code %(code)s.") % {"code": code})
    return found


def scope_of(organization):
    if organization is None:
        return _("every organization")
    return _("%(name)s (%(code)s) and its subtree") % {"name": organization.name, "code": organization.code}


class Command(BaseCommand):
    help = (
        "Look for records pointing at a missing file, files under MEDIA_ROOT that no record points at, and month "
        "summaries or compliance results out of step with the records; print what was found. Changes nothing unless "
        "--fix-summaries is given. Exits with 1 when anything was found, 0 when everything is in order."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--org",
            default=None,
            help="code of the organization whose subtree to check (default: everything; orphaned files are looked "
            "for only then)",
        )
        parser.add_argument(
            "--fix-summaries",
            action="store_true",
            help="rebuild the summaries and results found out of step (as rebuild_summaries does)",
        )

    def handle(self, *args, org, fix_summaries, **options):
        within = organization_by_code(org) if org is not None else None
        report = integrity.check(within=within, fix_summaries=fix_summaries)
        write = self.stdout.write
        write(_("Records pointing at a missing file: %(count)d") % {"count": len(report.missing)})
        for missing in report.missing:
            write(
                _("  %(record)s, %(field)s: %(name)s")
                % {"record": missing.record, "field": missing.field_label, "name": missing.name}
            )
        if report.orphans is None:
            write(_("Files no record points at: looked for only when every organization is checked."))
        else:
            write(_("Files no record points at: %(count)d") % {"count": len(report.orphans)})
            for name in report.orphans:
                write(f"  {name}")
        write(_("Summaries and results out of step with the records: %(count)d rows") % {"count": report.drift_rows})
        for label, rows in report.drift:
            write(_("  %(what)s: %(rows)d rows") % {"what": label, "rows": rows})
        if report.fixed is not None:
            write(
                _("Rebuilt from the records: %(rows)d rows fixed (the run is listed on the jobs page).")
                % {"rows": report.fixed}
            )
        scope = scope_of(within)
        if report.problems:
            raise CommandError(
                _("%(count)d problems found in %(scope)s.") % {"count": report.problems, "scope": scope}, returncode=1
            )
        write(_("No problem found in %(scope)s.") % {"scope": scope})
