from django.db import migrations, models


def forget_kept_results(apps, schema_editor):
    """Rows kept before this field lack what a meeting save now recounts in SQL: forget them. They are derived
    data; until `rebuild_summaries` (or the nightly job) keeps a year again, its views judge from the summaries."""
    apps.get_model("branches", "ComplianceResult").objects.all().delete()
    apps.get_model("branches", "ResultYear").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("branches", "0011_meeting_held_at_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="complianceresult",
            name="group_needs",
            field=models.JSONField(blank=True, null=True, verbose_name="required of each party group"),
        ),
        migrations.RunPython(forget_kept_results, migrations.RunPython.noop),
    ]
