"""Default committee term lengths (DOMAIN.md): editable data, not constants in code.

Branch committees and general branches serve 3 years, primary-level committees 5;
every organization in villages and communities serves 5.
"""

from django.db import migrations

DEFAULTS = [
    ("committee", "", 5),
    ("primary_committee", "", 5),
    ("general_branch", "", 3),
    ("branch", "", 3),
    ("primary_committee", "village", 5),
    ("general_branch", "village", 5),
    ("branch", "village", 5),
    ("primary_committee", "community", 5),
    ("general_branch", "community", 5),
    ("branch", "community", 5),
]


def add_defaults(apps, schema_editor):
    rule = apps.get_model("branches", "TermLengthRule")
    for kind, sector, years in DEFAULTS:
        rule.objects.get_or_create(kind=kind, sector=sector, defaults={"years": years})


def remove_defaults(apps, schema_editor):
    rule = apps.get_model("branches", "TermLengthRule")
    for kind, sector, years in DEFAULTS:
        rule.objects.filter(kind=kind, sector=sector, years=years).delete()


class Migration(migrations.Migration):
    dependencies = [("branches", "0001_initial")]

    operations = [migrations.RunPython(add_defaults, remove_defaults)]
