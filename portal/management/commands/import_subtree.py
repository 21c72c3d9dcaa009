import zipfile

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from branches import backup
from portal.management import arguments


class Command(BaseCommand):
    help = (
        "Load a file written by export_subtree into a database that holds none of its organizations (normally an "
        "empty one, migrated), with its files; then rebuild the subtree's summaries and results. A refusal writes "
        "nothing. People are found by user name, or added without a password."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the zip file written by export_subtree")

    def handle(self, *args, file, **options):
        file = arguments.file_path("file", file)
        try:
            result = backup.import_subtree(source=file)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        except (OSError, zipfile.BadZipFile) as error:
            raise CommandError(_("The file cannot be read: %(error)s") % {"error": error}) from None
        self.stdout.write(
            _(
                "%(name)s (%(code)s) and its subtree imported: %(organizations)d organizations, %(records)d records "
                "in all, %(files)d files, %(people)d people added (without a password); summaries and results "
                "rebuilt (%(figures)d rows)."
            )
            % {
                "name": result.root.name,
                "code": result.root.code,
                "organizations": result.counts.get("branches.organization", 0),
                "records": result.records,
                "files": result.files,
                "people": result.people_added,
                "figures": result.figures,
            }
        )
