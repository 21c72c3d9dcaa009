from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from branches import backup
from branches.models import Organization
from portal.management import arguments


class Command(BaseCommand):
    help = (
        "Write one organization's subtree to a zip file: its organizations, members, cadres and terms, meetings with "
        "attendance, files, responsibility lists, inspections and findings, and their audit trail. "
        "import_subtree loads it into an empty database."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="code of the organization whose subtree to export")
        parser.add_argument("--out", required=True, help="the zip file to write")

    def handle(self, *args, org, out, **options):
        out = arguments.file_path("--out", out)
        root = Organization.objects.filter(code=org).first() if arguments.organization_code(org) else None
        if root is None:
            raise CommandError(_("There is no organization with the code %(code)s.") % {"code": org})
        try:
            result = backup.export_subtree(root=root, out=out)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        except OSError as error:  # a folder, a folder that is not there, no permission, a name too long
            raise CommandError(
                _("%(file)s cannot be written: %(error)s") % {"file": out, "error": error.strerror or error}
            ) from None
        self.stdout.write(
            _(
                "%(name)s (%(code)s) and its subtree written to %(file)s: %(organizations)d organizations, "
                "%(records)d records in all, %(files)d files."
            )
            % {
                "name": root.name,
                "code": root.code,
                "file": out,
                "organizations": result.counts.get("branches.organization", 0),
                "records": result.records,
                "files": result.files,
            }
        )
        for change in result.links_changed:
            model = apps.get_model(change["model"])
            self.stdout.write(
                (
                    _("  %(model)s, %(rows)d: %(field)s named a record outside the subtree and was emptied.")
                    if change["change"] == "cut"
                    else _(
                        "  %(model)s, %(rows)d: %(field)s named an organization outside the subtree; it names the "
                        "subtree's root in the export."
                    )
                )
                % {
                    "model": model._meta.verbose_name,
                    "rows": change["rows"],
                    "field": model._meta.get_field(change["field"]).verbose_name,
                }
            )
        if result.missing_files:
            self.stderr.write(
                _(
                    "%(count)d files named by the records are missing from the storage and are not in the export: "
                    "%(names)s"
                )
                % {"count": len(result.missing_files), "names": ", ".join(result.missing_files)}
            )
