"""The default schedules (django-celery-beat rows) and reminder lead times. Admins change both later."""

from django.db import migrations

SCHEDULES = [
    # name, task, crontab (minute, hour) or every so many minutes, description
    (
        "每日提醒",
        "portal.send_reminders",
        ("0", "7"),
        None,
        "每天 7:00 生成三会一课、责任事项、整改、换届提醒和逾期日报，并发送邮件。",
    ),
    ("通知发送与重试", "portal.deliver_notifications", None, 5, "每 5 分钟发送待发邮件，失败的按间隔重试。"),
]

RULES = [
    ("meeting", "before", 7),
    ("meeting", "overdue", 7),
    ("duty", "before", 7),
    ("duty", "overdue", 7),
    ("rectification", "before", 7),
    ("rectification", "overdue", 7),
    ("term", "before", 90),
    ("term", "before", 30),
]


def create(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    ReminderRule = apps.get_model("portal", "ReminderRule")
    for name, task, cron, minutes, description in SCHEDULES:
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        if cron:
            minute, hour = cron
            crontab, _ = CrontabSchedule.objects.get_or_create(
                minute=minute,
                hour=hour,
                day_of_week="*",
                day_of_month="*",
                month_of_year="*",
                timezone="Asia/Shanghai",
            )
            PeriodicTask.objects.create(name=name, task=task, crontab=crontab, description=description)
        else:
            interval, _ = IntervalSchedule.objects.get_or_create(every=minutes, period="minutes")
            PeriodicTask.objects.create(name=name, task=task, interval=interval, description=description)
    for topic, timing, days in RULES:
        ReminderRule.objects.get_or_create(topic=topic, timing=timing, days=days)


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()
    apps.get_model("portal", "ReminderRule").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0001_reminders"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
