"""The record-keeping setting (a meeting logged more than 7 days after it was held is late), and the month
summaries of the meetings already logged."""

from django.db import migrations


def build(apps, schema_editor):
    from branches.summaries import _aggregated, _row_fields

    Meeting = apps.get_model("branches", "Meeting")
    MonthSummary = apps.get_model("branches", "MonthSummary")
    ComplianceSetting = apps.get_model("branches", "ComplianceSetting")
    setting = ComplianceSetting.objects.order_by("pk").first() or ComplianceSetting.objects.create(late_log_days=7)
    late_days = setting.late_log_days
    rows = _aggregated(Meeting.objects.all(), late_days)
    MonthSummary.objects.bulk_create([MonthSummary(**_row_fields(key, figures)) for key, figures in rows.items()], 5000)


def clear(apps, schema_editor):
    apps.get_model("branches", "MonthSummary").objects.all().delete()
    apps.get_model("branches", "ComplianceSetting").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("branches", "0007_month_summaries")]

    operations = [migrations.RunPython(build, clear)]
