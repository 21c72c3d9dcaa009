"""The nightly integrity signals (a django-celery-beat row an admin can change)."""

from django.db import migrations

NAME = "每日台账质量提示"


def create(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    if PeriodicTask.objects.filter(name=NAME).exists():
        return
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="0",
        hour="4",
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone="Asia/Shanghai",
    )
    PeriodicTask.objects.create(
        name=NAME,
        task="portal.refresh_integrity_signals",
        crontab=crontab,
        description="每天 4:00 重新计算本年度（1 月还有上年度）的台账质量提示：会后很久才录入、年底集中补录、"
        "会议记录高度雷同、出席名单连续雷同。提示只供查看记录，不作扣分依据。",
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0012_daily_figures"),
        ("branches", "0018_integrity_signals"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
