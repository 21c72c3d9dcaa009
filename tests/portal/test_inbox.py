"""The inbox, the reminder settings, the jobs page and the admin of schedules and lead times."""

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from assessments import services as duty_services
from branches.models import SecurityEvent, SecurityEventKind
from portal.models import (
    EmailState,
    Notification,
    NotificationKind,
    NotificationPreference,
    ReminderRule,
    ReminderRun,
    ReminderRunState,
    Timing,
    Topic,
)
from tests.conftest import system


def notify(user, organization, n=1, **extra):
    """`n` duty reminders for `user` about as many open duties, as the job would write them."""
    made = []
    for i in range(n):
        duty = duty_services.item_add(
            organization=organization,
            year=2026,
            data={"area": "ideological", "text": f"第{i + 1}项责任", "due_on": date(2026, 12, 10)},
            by=system(),
        )
        made.append(
            Notification.objects.create(
                recipient=user,
                kind=NotificationKind.DUTY_DUE,
                subject=f"duty:{duty.pk}",
                window="2026-12-10@7",
                organization=organization,
                object_id=duty.pk,
                due_on=date(2026, 12, 10),
                params={"text": f"第{i + 1}项责任", "due": "2026-12-10", "days": 7},
                link="/work/",
                **extra,
            )
        )
    return made


def bell(html):
    """The unread count the header's bell carries."""
    marker = 'data-unread="'
    start = html.index(marker) + len(marker)
    return int(html[start : html.index('"', start)])


def test_the_bell_counts_unread_reminders_and_the_inbox_lists_them(county, people, signed_in):
    notify(people.secretary, county.east, 3)
    notify(people.finance_secretary, county.finance, 2)
    client = signed_in(people.secretary)
    page = client.get(reverse("inbox")).content.decode()
    assert bell(page) == 3
    assert "第1项责任" in page and "第3项责任" in page and page.count('data-kind="duty_due"') == 3


def test_opening_a_reminder_marks_it_read_and_goes_to_what_it_is_about(county, people, signed_in):
    [note] = notify(people.secretary, county.east)
    client = signed_in(people.secretary)
    response = client.get(reverse("notification_open", args=[note.pk]))
    assert response.status_code == 302 and response.url == "/work/"
    note.refresh_from_db()
    assert note.read_at is not None
    assert bell(client.get(reverse("inbox")).content.decode()) == 0


def test_a_secretary_cannot_open_another_users_reminder_by_guessing_its_id(county, people, signed_in):
    [theirs] = notify(people.finance_secretary, county.finance)
    client = signed_in(people.secretary)
    assert client.get(reverse("notification_open", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    event = SecurityEvent.objects.get(kind=SecurityEventKind.OUT_OF_SCOPE)
    assert event.user == people.secretary and event.organization_id == county.finance.pk
    assert "第1项责任" not in client.get(reverse("inbox")).content.decode()


def test_mark_all_read_touches_only_the_users_own_reminders(county, people, signed_in):
    mine = notify(people.secretary, county.east, 2)
    [theirs] = notify(people.finance_secretary, county.finance)
    client = signed_in(people.secretary)
    client.post(reverse("inbox_read"), {"id": [str(mine[0].pk), str(theirs.pk)]})
    assert [n.read_at is not None for n in Notification.objects.filter(pk__in=[m.pk for m in mine]).order_by("pk")] == [
        True,
        False,
    ]
    client.post(reverse("inbox_read"))
    assert not Notification.objects.filter(recipient=people.secretary, read_at=None).exists()
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_withdrawn_reminders_leave_the_inbox_and_the_count(county, people, signed_in):
    kept, withdrawn = notify(people.secretary, county.east, 2)
    Notification.objects.filter(pk=withdrawn.pk).update(withdrawn_at=timezone.now(), withdrawn_reason="done")
    page = signed_in(people.secretary).get(reverse("inbox")).content.decode()
    assert bell(page) == 1 and "第1项责任" in page and "第2项责任" not in page


def test_the_inbox_pages_and_filters_unread(county, people, signed_in):
    notes = notify(people.secretary, county.east, 25)
    Notification.objects.filter(pk__in=[n.pk for n in notes[:5]]).update(read_at=timezone.now())
    client = signed_in(people.secretary)
    first = client.get(reverse("inbox")).content.decode()
    second = client.get(reverse("inbox") + "?page=2").content.decode()
    assert first.count('data-kind="duty_due"') == 20 and second.count('data-kind="duty_due"') == 5
    unread = client.get(reverse("inbox") + "?show=unread").content.decode()
    assert unread.count('data-kind="duty_due"') == 20


def test_the_inbox_is_a_fixed_number_of_queries(county, people, signed_in, django_assert_max_num_queries):
    client = signed_in(people.secretary)
    notify(people.secretary, county.east, 2)
    client.get(reverse("inbox"))
    with django_assert_max_num_queries(9) as few:
        client.get(reverse("inbox"))
    Notification.objects.all().delete()
    notify(people.secretary, county.east, 20)
    with django_assert_max_num_queries(9) as many:
        client.get(reverse("inbox"))
    assert len(many) == len(few)


def test_an_empty_inbox_says_so(people, signed_in):
    response = signed_in(people.secretary).get(reverse("inbox"))
    assert response.status_code == 200 and b"list-group-item text-muted" in response.content


# Settings


def test_a_person_chooses_email_daily_digest_and_language(people, signed_in):
    client = signed_in(people.secretary)
    response = client.post(
        reverse("notification_settings"),
        {"email": "zhang@example.org", "email_enabled": "on", "daily_digest": "on", "language": "en"},
    )
    assert response.status_code == 302
    preference = NotificationPreference.objects.get(user=people.secretary)
    assert (preference.email_enabled, preference.daily_digest, preference.language) == (True, True, "en")
    people.secretary.refresh_from_db()
    assert people.secretary.email == "zhang@example.org"


def test_switching_the_portal_to_english_switches_the_reminder_emails_too(people, signed_in):
    client = signed_in(people.secretary)
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert NotificationPreference.objects.get(user=people.secretary).language == "en"
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    assert NotificationPreference.objects.get(user=people.secretary).language == "zh-hans"


def test_a_bad_email_address_is_refused_beside_the_field_and_nothing_is_saved(people, signed_in):
    client = signed_in(people.secretary)
    response = client.post(
        reverse("notification_settings"),
        {"email": "zhang@", "email_enabled": "on", "language": "zh-hans"},
    )
    assert response.status_code == 200
    assert "邮箱地址" in response.content.decode() and 'value="zhang@"' in response.content.decode()
    assert not NotificationPreference.objects.exists()


def test_email_reminders_need_an_address(people, signed_in):
    response = signed_in(people.secretary).post(
        reverse("notification_settings"), {"email": "", "email_enabled": "on", "language": "zh-hans"}
    )
    assert response.status_code == 200 and "email" in response.context["form"].errors
    assert not NotificationPreference.objects.exists()


# The jobs page and the admin


def test_the_jobs_page_shows_schedules_runs_and_email_problems_to_an_admin_of_the_whole_tree(county, people, signed_in):
    ReminderRun.objects.create(today=date(2026, 12, 5), state=ReminderRunState.DONE, created=4, emailed=3)
    notify(people.secretary, county.east, email_state=EmailState.FAILED, last_error="SMTPServerDisconnected: 连接断开")
    page = signed_in(people.admin).get(reverse("jobs")).content.decode()
    assert "每日提醒" in page and "通知发送与重试" in page  # the schedules made by the migration
    assert "2026-12-05" in page and "SMTPServerDisconnected" in page


@pytest.mark.parametrize("who", ["town_admin", "reviewer", "secretary"])
def test_only_an_admin_of_a_whole_tree_sees_the_jobs_page(county, people, make_user, signed_in, who):
    user = make_user("town_admin", "admin", county.town) if who == "town_admin" else getattr(people, who)
    client = signed_in(user)
    assert client.get(reverse("jobs")).status_code == 404
    assert client.post(reverse("jobs")).status_code == 404
    assert not ReminderRun.objects.exists()


def admin_post(client, name, data, args=()):
    return client.post(reverse(f"admin:{name}", args=args), data)


def test_lead_times_are_checked_in_the_admin(people, signed_in):
    client = signed_in(people.admin)
    ReminderRule.objects.all().delete()
    zero = admin_post(client, "portal_reminderrule_add", {"topic": Topic.DUTY, "timing": Timing.BEFORE, "days": "0"})
    assert zero.status_code == 200 and "days" in zero.context["adminform"].form.errors
    too_late = admin_post(
        client, "portal_reminderrule_add", {"topic": Topic.DUTY, "timing": Timing.OVERDUE, "days": "90"}
    )
    assert "days" in too_late.context["adminform"].form.errors
    term_overdue = admin_post(
        client, "portal_reminderrule_add", {"topic": Topic.TERM, "timing": Timing.OVERDUE, "days": "5"}
    )
    assert (
        "换届" in str(term_overdue.context["adminform"].form.errors)
        or "timing" in term_overdue.context["adminform"].form.errors
    )
    assert not ReminderRule.objects.exists()
    ok = admin_post(
        client, "portal_reminderrule_add", {"topic": Topic.DUTY, "timing": Timing.BEFORE, "days": "10", "active": "on"}
    )
    assert ok.status_code == 302 and ReminderRule.objects.get().days == 10


def test_an_invalid_cron_expression_is_refused_in_the_admin(people, signed_in):
    client = signed_in(people.admin)
    before = CrontabSchedule.objects.count()
    response = admin_post(
        client,
        "django_celery_beat_crontabschedule_add",
        {
            "minute": "61",
            "hour": "7",
            "day_of_month": "*",
            "month_of_year": "*",
            "day_of_week": "*",
            "timezone": "Asia/Shanghai",
            "periodic_tasks-TOTAL_FORMS": "0",
            "periodic_tasks-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200 and "minute" in response.context["adminform"].form.errors
    assert "“61”不是有效的分钟" in str(response.context["adminform"].form.errors["minute"])
    assert CrontabSchedule.objects.count() == before


def test_an_admin_of_the_whole_tree_changes_a_schedule_without_a_deploy(people, signed_in):
    task = PeriodicTask.objects.get(task="portal.send_reminders")
    client = signed_in(people.admin)
    page = client.get(reverse("admin:django_celery_beat_periodictask_change", args=[task.pk]))
    assert page.status_code == 200
    crontab = CrontabSchedule.objects.create(minute="30", hour="6", timezone="Asia/Shanghai")
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name not in ("crontab",)}
    data.update(crontab=crontab.pk, enabled="on", args="[]", kwargs="{}", headers="{}")
    data.pop("interval", None)
    data.pop("solar", None)
    data.pop("clocked", None)
    data.pop("last_run_at", None)
    data.pop("start_time", None)
    data.pop("expires", None)
    data["regtask"] = "portal.send_reminders"
    response = client.post(reverse("admin:django_celery_beat_periodictask_change", args=[task.pk]), data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    task.refresh_from_db()
    assert (task.crontab.hour, task.crontab.minute) == ("6", "30")


def test_an_admin_of_part_of_the_tree_sees_the_schedules_but_cannot_change_them(county, make_user, signed_in):
    client = signed_in(make_user("town_admin", "admin", county.town))
    task = PeriodicTask.objects.get(task="portal.send_reminders")
    assert client.get(reverse("admin:django_celery_beat_periodictask_changelist")).status_code == 200
    assert (
        client.post(
            reverse("admin:django_celery_beat_periodictask_delete", args=[task.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert PeriodicTask.objects.filter(pk=task.pk).exists()
    assert (
        client.post(
            reverse("admin:portal_reminderrule_add"), {"topic": "duty", "timing": "before", "days": "3"}
        ).status_code
        == 403
    )


def test_the_sends_list_is_scoped_and_failed_emails_can_be_sent_again(county, people, make_user, signed_in):
    [east] = notify(people.secretary, county.east, email_state=EmailState.FAILED, attempts=5, last_error="boom-east")
    notify(people.finance_secretary, county.finance, email_state=EmailState.FAILED, last_error="boom-finance")
    town_admin = signed_in(make_user("town_admin", "admin", county.town))
    listing = town_admin.get(reverse("admin:portal_notification_changelist")).content.decode()
    assert "boom-east" in listing and "boom-finance" not in listing
    town_admin.post(
        reverse("admin:portal_notification_changelist"),
        {"action": "retry_failed", "_selected_action": [str(east.pk)]},
    )
    east.refresh_from_db()
    assert (east.email_state, east.attempts) == (EmailState.PENDING, 0)


def test_a_notification_is_sent_at_most_once_per_window(county, people):
    from django.db import IntegrityError, transaction

    [first] = notify(people.secretary, county.east)
    with pytest.raises(IntegrityError), transaction.atomic():
        Notification.objects.create(
            recipient=first.recipient,
            kind=first.kind,
            subject=first.subject,
            window=first.window,
            organization=first.organization,
            object_id=first.object_id,
        )
    assert Notification.objects.count() == 1


def test_the_schedules_are_data_created_with_the_database(db):
    names = dict(PeriodicTask.objects.values_list("task", "enabled"))
    assert names == {
        "portal.send_reminders": True,
        "portal.deliver_notifications": True,
        "portal.rebuild_summaries": True,
        "portal.score_rounds": True,
        "portal.prune_api_token_uses": True,
        "portal.refresh_dashboards": True,
        "portal.take_daily_figures": True,
        "portal.refresh_integrity_signals": True,
        "portal.prune_dashboard_reports": True,
    }
    daily = PeriodicTask.objects.get(task="portal.send_reminders").crontab
    assert (daily.hour, daily.minute, str(daily.timezone)) == ("7", "0", "Asia/Shanghai")
    assert ReminderRule.objects.filter(topic=Topic.TERM).count() == 2


def test_a_queued_run_nobody_started_is_started_by_the_next_tick(county, people, monkeypatch):
    from portal import services, tasks

    run = services.reminder_run_request(by=people.admin, today=date(2026, 12, 5))
    ReminderRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    result = tasks.deliver_notifications()
    run.refresh_from_db()
    assert result["runs_started"] == 1 and run.state == ReminderRunState.DONE
    assert tasks.deliver_notifications()["runs_started"] == 0  # and only once
