import calendar
from collections import defaultdict
from datetime import date

import django.db.models.deletion
from django.db import migrations, models


def count_standings(apps, schema_editor):
    """Count the standings of every kept year from its stored year-view rows (as `results.standings` does), so
    ranking a year reads them at once instead of waiting for the nightly rebuild."""
    result_model = apps.get_model("branches", "ComplianceResult")
    standing_model = apps.get_model("branches", "YearStanding")
    unmet = defaultdict(list)
    rows = result_model.objects.filter(period="year").values_list(
        "organization_id", "start", "unmet_start", "unmet_end"
    )
    for org_id, start, unmet_start, unmet_end in rows.iterator(chunk_size=10000):
        found = unmet[(org_id, start.year)]
        if unmet_end is not None:
            found.append((unmet_start, unmet_end))
    batch = []
    for (org_id, year), spans in unmet.items():
        for month in [date(year, m, 1) for m in range(1, 13)] + [date(year + 1, 1, 1)]:
            end = month.replace(day=calendar.monthrange(month.year, month.month)[1])
            batch.append(
                standing_model(
                    organization_id=org_id,
                    year=year,
                    month=month,
                    not_met=sum(1 for _first, last in spans if last < month),
                    in_progress=sum(1 for first, last in spans if first <= month and last >= end),
                )
            )
        if len(batch) >= 10000:
            standing_model.objects.bulk_create(batch)
            batch = []
    standing_model.objects.bulk_create(batch)


class Migration(migrations.Migration):
    dependencies = [
        ("branches", "0013_compliance_result_unmet_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="YearStanding",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("year", models.PositiveSmallIntegerField(verbose_name="year")),
                ("month", models.DateField(verbose_name="month")),
                ("not_met", models.PositiveSmallIntegerField(verbose_name="rules not met")),
                ("in_progress", models.PositiveSmallIntegerField(verbose_name="rules in progress")),
                (
                    "organization",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="year_standings",
                        to="branches.organization",
                        verbose_name="organization",
                    ),
                ),
            ],
            options={
                "verbose_name": "year standing",
                "verbose_name_plural": "year standings",
                "indexes": [models.Index(fields=["organization", "year"], name="year_standing_organization")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("year", "month", "organization"),
                        include=("not_met", "in_progress"),
                        name="year_standing_unique",
                    )
                ],
            },
        ),
        migrations.RunPython(count_standings, migrations.RunPython.noop),
    ]
