"""The dashboards' snapshots of the large subtrees, refreshed every 15 minutes (a django-celery-beat row an admin can
change)."""

from django.db import migrations

NAME = "看板数据快照"


def create(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    if PeriodicTask.objects.filter(name=NAME).exists():
        return
    interval, _ = IntervalSchedule.objects.get_or_create(every=15, period="minutes")
    PeriodicTask.objects.create(
        name=NAME,
        task="portal.refresh_dashboards",
        interval=interval,
        description="每 15 分钟为下属组织较多（默认 1000 个及以上）的组织重新计算本年、本季度、本月的看板数据。",
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0009_dashboard_snapshots"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
