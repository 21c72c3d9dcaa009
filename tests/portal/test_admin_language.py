"""The admin speaks Chinese: the audit trail, the user form and the schedules carry no English left over
from the libraries under them (django-auditlog, Django's user admin, django-celery-beat)."""

import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from branches.models import AuditEntry
from tests.conftest import add_cadre


class VisibleText(HTMLParser):
    """The words a person reads: text outside scripts and styles, and titles, placeholders and labels."""

    def __init__(self):
        super().__init__()
        self.hidden = 0
        self.parts = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.hidden += 1
        self.parts += [value for name, value in attrs if name in ("title", "placeholder", "aria-label") and value]

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden and data.strip():
            self.parts.append(data.strip())


def visible(response):
    assert response.status_code == 200
    parser = VisibleText()
    parser.feed(response.content.decode())
    return "\n".join(parser.parts)


def english_left(text, words):
    return [word for word in words if re.search(rf"\b{re.escape(word)}\b", text, re.IGNORECASE)]


@pytest.fixture
def admin_client(county, people, signed_in):
    add_cadre(county.east, "张九")
    return signed_in(people.admin)


def test_the_audit_trail_in_the_admin_is_in_chinese(admin_client):
    listing = visible(admin_client.get(reverse("admin:branches_auditentry_changelist")))
    assert (
        english_left(
            listing,
            ["Actor", "Timestamp", "Remote address", "Object representation", "create", "update", "By timestamp"],
        )
        == []
    )
    assert "操作人" in listing and "发生时间" in listing and "新增" in listing
    assert "group-permission" not in listing and "Axes" not in listing  # record types are the portal's own
    entry = AuditEntry.objects.filter(object_repr="张九（书记）").first()
    detail = visible(admin_client.get(reverse("admin:branches_auditentry_change", args=[entry.pk])))
    assert english_left(detail, ["Created", "Correlation ID", "change message", "Actor", "Timestamp"]) == []
    assert "职务: — → 书记" in detail and "新增 张九（书记）" in detail


def test_the_user_form_in_the_admin_is_in_chinese(admin_client):
    page = visible(admin_client.get(reverse("admin:auth_user_add")))
    assert english_left(page, ["After you", "user options"]) == []
    assert "请先设置用户名和密码" in page


def test_the_organization_admin_shows_no_tree_internals(admin_client, county):
    listing = visible(admin_client.get(reverse("admin:branches_organization_changelist")))
    detail = visible(admin_client.get(reverse("admin:branches_organization_change", args=[county.east.pk])))
    assert english_left(listing + detail, ["Depth", "Path", "Numchild"]) == []
    assert "层级" in listing and "层级" in detail


def test_the_schedules_in_the_admin_are_in_chinese(admin_client):
    crontab = CrontabSchedule.objects.create(minute="0", hour="7", timezone="Asia/Shanghai")
    task = PeriodicTask.objects.create(name="每日提醒（测试）", task="portal.send_reminders", crontab=crontab)
    pages = {
        "tasks": reverse("admin:django_celery_beat_periodictask_changelist"),
        "task": reverse("admin:django_celery_beat_periodictask_change", args=[task.pk]),
        "new task": reverse("admin:django_celery_beat_periodictask_add"),
        "crontabs": reverse("admin:django_celery_beat_crontabschedule_changelist"),
        "crontab": reverse("admin:django_celery_beat_crontabschedule_change", args=[crontab.pk]),
        "new crontab": reverse("admin:django_celery_beat_crontabschedule_add"),
    }
    words = [
        "Schedule",
        "Scheduler",
        "Arguments",
        "Execution Options",
        "Crontab translation",
        "Task Name",
        "Human readable",
        "Cron Days Of The Week",
        "Cron Months",
        "At 07:00",
        "Every minute",
    ]
    texts = {name: visible(admin_client.get(url)) for name, url in pages.items()}
    assert {name: english_left(text, words) for name, text in texts.items() if english_left(text, words)} == {}
    assert "在 07:00" in texts["crontabs"] and "在 07:00" in texts["task"]
    assert "星期几" in texts["new crontab"]


def test_the_admin_still_speaks_english_to_those_who_chose_it(admin_client):
    CrontabSchedule.objects.create(minute="0", hour="7", timezone="Asia/Shanghai")
    admin_client.cookies["django_language"] = "en"
    listing = visible(admin_client.get(reverse("admin:django_celery_beat_crontabschedule_changelist")))
    assert "At 07:00 (Asia/Shanghai)" in listing
    assert "level" in visible(admin_client.get(reverse("admin:branches_organization_changelist"))).lower()
