"""Month summaries of responsibility duties and inspection findings, built from the records already kept."""

import django.db.models.deletion
from django.db import migrations, models


def build(apps, schema_editor):
    from assessments.summaries import _counted

    Item = apps.get_model("assessments", "ResponsibilityItem")
    Finding = apps.get_model("assessments", "Finding")
    Summary = apps.get_model("assessments", "DutyMonthSummary")
    counted = _counted(Item.objects.all(), Finding.objects.all(), Finding.objects.all())
    names = ("duties_due", "duties_on_time", "duties_late", "duties_open") + (
        "findings_opened", "findings_open", "findings_closed", "findings_closed_late"
    )
    rows = [
        Summary(organization_id=org_id, month=month, **dict(zip(names, figures)))
        for (org_id, month), figures in counted.items()
    ]
    Summary.objects.bulk_create(rows, batch_size=5000)


class Migration(migrations.Migration):

    dependencies = [
        ('assessments', '0001_responsibility_lists_and_inspections'),
        ('branches', '0008_build_month_summaries'),
    ]

    operations = [
        migrations.CreateModel(
            name='DutyMonthSummary',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('month', models.DateField(verbose_name='month')),
                ('duties_due', models.PositiveIntegerField(default=0, verbose_name='duties due')),
                ('duties_on_time', models.PositiveIntegerField(default=0, verbose_name='duties done on time')),
                ('duties_late', models.PositiveIntegerField(default=0, verbose_name='duties done late')),
                ('duties_open', models.PositiveIntegerField(default=0, verbose_name='duties not done')),
                ('findings_opened', models.PositiveIntegerField(default=0, verbose_name='findings opened')),
                ('findings_open', models.PositiveIntegerField(default=0, verbose_name='findings opened and not yet closed')),
                ('findings_closed', models.PositiveIntegerField(default=0, verbose_name='findings closed')),
                ('findings_closed_late', models.PositiveIntegerField(default=0, verbose_name='findings closed after their deadline')),
                ('organization', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='duty_month_summaries', to='branches.organization', verbose_name='organization')),
            ],
            options={
                'verbose_name': 'duty and finding month summary',
                'verbose_name_plural': 'duty and finding month summaries',
                'indexes': [models.Index(fields=['month', 'organization'], name='duty_summary_month_org')],
                'constraints': [models.UniqueConstraint(fields=('organization', 'month'), name='duty_month_summary_unique')],
            },
        ),
        migrations.RunPython(build, migrations.RunPython.noop),
    ]
