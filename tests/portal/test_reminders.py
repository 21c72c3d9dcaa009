"""Reminders: each kind, at the right time, once, withdrawn when done or moved, caught up when a day is missed.

The county of tests/conftest.py; 东村支部 has a secretary user (`people.secretary`), 南村支部 has none.
Lead times are the defaults: 7 days before and 7 days of overdue catch-up for meetings, duties and
rectifications; 90 and 30 days before a committee's election (meetings only where a test asks).
"""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from assessments import services as duty_services
from assessments.models import Finding, Inspection, ResponsibilityItem
from branches.models import CommitteeTerm
from portal import services
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
from tests.branches.test_compliance import log
from tests.conftest import system

SHANGHAI = ZoneInfo("Asia/Shanghai")
MEETING_RULES = [(Topic.MEETING, Timing.BEFORE, 7), (Topic.MEETING, Timing.OVERDUE, 7)]
OTHER_RULES = [
    (Topic.DUTY, Timing.BEFORE, 7),
    (Topic.DUTY, Timing.OVERDUE, 7),
    (Topic.RECTIFICATION, Timing.BEFORE, 7),
    (Topic.RECTIFICATION, Timing.OVERDUE, 7),
    (Topic.TERM, Timing.BEFORE, 90),
    (Topic.TERM, Timing.BEFORE, 30),
]


@pytest.fixture(autouse=True)
def rules(db, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    ReminderRule.objects.all().delete()
    # Meeting reminders are switched on by the tests about meetings, so that the others read simply.
    ReminderRule.objects.bulk_create([ReminderRule(topic=t, timing=w, days=d) for t, w, d in OTHER_RULES])


@pytest.fixture
def meeting_rules(rules):
    ReminderRule.objects.bulk_create([ReminderRule(topic=t, timing=w, days=d) for t, w, d in MEETING_RULES])


@pytest.fixture
def users(people):
    for user in (people.secretary, people.finance_secretary, people.reviewer, people.town_reviewer):
        user.email = f"{user.username}@example.org"
        user.save()
    return people


def run(day):
    return services.reminders_send(today=day)


def duty(branch, due, text="学习贯彻党的二十届四中全会精神"):
    return duty_services.item_add(
        organization=branch, year=due.year, data={"area": "ideological", "text": text, "due_on": due}, by=system()
    )


def finding(branch, deadline, held_on=date(2026, 9, 1)):
    inspection = Inspection.objects.create(organization=branch, held_on=held_on, title="专项督查")
    return Finding.objects.create(
        inspection=inspection,
        organization=branch,
        description="三会一课记录不全",
        required_rectification="补齐记录",
        deadline=deadline,
    )


def notes(user, kind=None, live=True):
    rows = Notification.objects.filter(recipient=user)
    if kind:
        rows = rows.filter(kind=kind)
    if live:
        rows = rows.filter(withdrawn_at=None)
    return list(rows.order_by("pk"))


# Duties and rectifications


def test_a_duty_is_reminded_seven_days_before_it_falls_due_once_however_often_the_job_runs(county, users):
    item = duty(county.east, date(2026, 12, 10))
    run(date(2026, 12, 2))
    assert notes(users.secretary) == []  # eight days ahead: not yet
    run(date(2026, 12, 3))
    run(date(2026, 12, 3))
    run(date(2026, 12, 4))
    [note] = notes(users.secretary, NotificationKind.DUTY_DUE)
    assert (note.object_id, note.window, note.email_state) == (item.pk, "2026-12-10@7", EmailState.SENT)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["secretary@example.org"]
    assert "学习贯彻党的二十届四中全会精神" in mail.outbox[0].subject
    assert "2026-12-10" in mail.outbox[0].body and f"/work/items/{item.pk}/" in mail.outbox[0].body
    assert notes(users.finance_secretary) == []  # another branch's secretary hears nothing of it


def test_a_day_the_job_did_not_run_is_caught_up_the_next_day(county, users):
    duty(county.east, date(2026, 12, 10))
    run(date(2026, 12, 6))  # the 3rd, 4th and 5th were missed
    assert [n.window for n in notes(users.secretary, NotificationKind.DUTY_DUE)] == ["2026-12-10@7"]


def test_an_overdue_duty_gets_one_notice_caught_up_for_seven_days_and_no_later(county, users):
    duty(county.east, date(2026, 12, 10), "按期缴纳党费")
    duty(county.east, date(2026, 12, 1), "开展谈心谈话")
    run(date(2026, 12, 10))  # due today: not overdue yet
    assert notes(users.secretary, NotificationKind.DUTY_OVERDUE) == []
    run(date(2026, 12, 13))  # the 11th and 12th were missed; 开展谈心谈话 is 12 days late, beyond catch-up
    run(date(2026, 12, 14))
    [late] = notes(users.secretary, NotificationKind.DUTY_OVERDUE)
    assert late.params["text"] == "按期缴纳党费" and late.window == "2026-12-10"


def test_a_duty_done_before_its_reminder_goes_out_is_never_reminded(county, users):
    item = duty(county.east, date(2026, 12, 10))
    duty_services.item_complete(item=item, by=users.secretary, version=item.version, note="已学习")
    run(date(2026, 12, 5))
    assert notes(users.secretary) == [] and mail.outbox == []


def test_a_reminder_still_waiting_for_email_is_withdrawn_when_the_duty_is_done(county, users, settings):
    settings.EMAIL_BACKEND = "tests.portal.test_reminders.BrokenMailServer"
    item = duty(county.east, date(2026, 12, 10))
    run(date(2026, 12, 5))
    [note] = notes(users.secretary)
    assert note.email_state == EmailState.PENDING and note.attempts == 1
    duty_services.item_complete(item=item, by=users.secretary, version=item.version, note="已学习")
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    services.notifications_deliver(now=timezone.now() + timedelta(hours=1))
    note.refresh_from_db()
    assert note.email_state == EmailState.WITHDRAWN and note.withdrawn_reason == "done"
    assert mail.outbox == []
    assert notes(users.secretary) == []  # gone from the inbox too


def test_when_a_due_date_moves_the_pending_reminder_follows_it(county, users):
    item = duty(county.east, date(2026, 12, 10))
    run(date(2026, 12, 3))
    [first] = notes(users.secretary)
    ResponsibilityItem.objects.filter(pk=item.pk).update(due_on=date(2026, 12, 20))  # the deadline is extended
    run(date(2026, 12, 4))
    first.refresh_from_db()
    assert first.withdrawn_reason == "moved" and notes(users.secretary) == []
    run(date(2026, 12, 13))
    [second] = notes(users.secretary)
    assert second.window == "2026-12-20@7" and second.params["due"] == "2026-12-20"


def test_a_rectification_is_reminded_before_and_after_its_deadline_until_verified(county, users):
    open_one = finding(county.east, date(2026, 11, 30))
    run(date(2026, 11, 25))
    run(date(2026, 12, 1))
    kinds = [n.kind for n in notes(users.secretary)]
    assert kinds == [NotificationKind.RECTIFICATION_DUE, NotificationKind.RECTIFICATION_OVERDUE]
    assert all(n.object_id == open_one.pk for n in notes(users.secretary))
    Finding.objects.filter(pk=open_one.pk).update(state="verified")
    run(date(2026, 12, 2))
    assert notes(users.secretary) == []  # both withdrawn: nothing left to do


def test_a_submitted_rectification_is_not_reminded_and_its_reminder_is_withdrawn(county, users):
    waiting = finding(county.east, date(2026, 11, 30))
    run(date(2026, 11, 25))
    assert [n.object_id for n in notes(users.secretary)] == [waiting.pk]
    Finding.objects.filter(pk=waiting.pk).update(state="submitted")  # now the inspectors' turn
    run(date(2026, 11, 29))
    run(date(2026, 12, 1))
    assert notes(users.secretary) == []
    Finding.objects.filter(pk=waiting.pk).update(state="returned")  # sent back: the branch's turn again
    run(date(2026, 12, 2))
    assert [n.kind for n in notes(users.secretary)] == [NotificationKind.RECTIFICATION_OVERDUE]


# Meetings


def test_a_quarterly_general_meeting_not_yet_held_is_reminded_seven_days_before_the_quarter_ends(
    county, users, meeting_rules
):
    run(date(2026, 12, 24))
    subject = f"meeting:{county.east.pk}:general_meeting"
    [note] = [n for n in notes(users.secretary, NotificationKind.MEETING_DUE) if n.subject == subject]
    assert note.window == "2026-Q4@7" and note.due_on == date(2026, 12, 31)
    email = next(m for m in mail.outbox if "支部党员大会" in m.subject)
    assert "本季度支部党员大会尚未召开，距截止还有 7 天" in email.subject


def test_holding_the_meeting_withdraws_its_reminder(county, users, meeting_rules, monkeypatch):
    run(date(2026, 12, 24))
    subject = f"meeting:{county.east.pk}:general_meeting"
    assert Notification.objects.filter(subject=subject, withdrawn_at=None).exists()
    monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 12, 26, 20, 0, tzinfo=SHANGHAI))
    log(county.east, "general_meeting", date(2026, 12, 26))
    run(date(2026, 12, 27))
    assert not Notification.objects.filter(subject=subject, withdrawn_at=None).exists()
    assert Notification.objects.get(subject=subject).withdrawn_reason == "done"


def test_a_monthly_meeting_is_reminded_seven_days_before_the_end_of_february(county, users, meeting_rules):
    run(date(2027, 2, 21))  # 28 February is seven days away
    windows = {n.window for n in notes(users.secretary, NotificationKind.MEETING_DUE) if "theme_day" in n.subject}
    assert windows == {"2027-02@7"}


def test_at_half_past_midnight_on_new_years_day_in_beijing_last_quarter_is_overdue(
    county, users, meeting_rules, monkeypatch
):
    # 16:30 UTC on 31 December is 00:30 on 1 January in Beijing: the job's day is the 1st.
    monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 12, 31, 16, 30, tzinfo=ZoneInfo("UTC")))
    summary = services.reminders_send()
    assert summary.today == date(2027, 1, 1)
    subject = f"meeting:{county.east.pk}:general_meeting"
    [late] = [n for n in notes(users.secretary, NotificationKind.MEETING_OVERDUE) if n.subject == subject]
    assert late.window == "2026-Q4" and (late.params["held"], late.params["required"]) == (0, 1)
    assert not any(
        n.kind == NotificationKind.MEETING_DUE and n.window.startswith("2026-Q4") for n in notes(users.secretary)
    )


def test_a_meeting_held_in_time_gets_no_overdue_notice(county, users, meeting_rules):
    log(county.east, "general_meeting", date(2026, 11, 3))
    run(date(2027, 1, 2))
    assert not any("general_meeting" in n.subject for n in notes(users.secretary, NotificationKind.MEETING_OVERDUE))


def test_a_branch_without_a_secretary_account_gets_no_reminders(county, users):
    duty(county.south, date(2026, 12, 10))
    run(date(2026, 12, 5))
    assert not Notification.objects.filter(organization=county.south).exists()


# Committee terms


def term(organization, election_due):
    return CommitteeTerm.objects.create(
        organization=organization,
        started_on=election_due.replace(year=election_due.year - 3),
        length_years=3,
        expected_election_on=election_due,
    )


def test_the_election_is_reminded_90_and_30_days_before_the_term_ends(county, users):
    due = date(2027, 3, 1)
    term(county.east, due)
    run(due - timedelta(days=91))
    assert notes(users.secretary, NotificationKind.TERM_ENDING) == []
    run(due - timedelta(days=90))
    run(due - timedelta(days=60))
    run(due - timedelta(days=30))
    run(due - timedelta(days=29))
    windows = [n.window for n in notes(users.secretary, NotificationKind.TERM_ENDING)]
    assert windows == ["2027-03-01@90", "2027-03-01@30"]
    assert any("换届" in m.subject for m in mail.outbox)


def test_a_late_run_sends_the_nearer_term_reminder_only(county, users):
    term(county.east, date(2027, 3, 1))
    run(date(2027, 2, 5))  # 24 days left: the 90-day reminder's moment has passed
    assert [n.window for n in notes(users.secretary)] == ["2027-03-01@30"]


def test_an_election_held_withdraws_the_term_reminder(county, users):
    held = term(county.east, date(2027, 3, 1))
    run(date(2027, 1, 15))
    CommitteeTerm.objects.filter(pk=held.pk).update(ended_on=date(2027, 1, 20))
    run(date(2027, 1, 21))
    assert notes(users.secretary, NotificationKind.TERM_ENDING) == []


# The reviewers' digest


def test_a_reviewer_gets_a_daily_digest_of_what_became_overdue_in_their_subtree(county, users):
    duty(county.east, date(2026, 12, 9), "东村的事项")
    duty(county.finance, date(2026, 12, 9), "财政局的事项")
    run(date(2026, 12, 9))
    run(date(2026, 12, 10))
    run(date(2026, 12, 10))
    [county_digest] = notes(users.reviewer, NotificationKind.OVERDUE_DIGEST)
    [town_digest] = notes(users.town_reviewer, NotificationKind.OVERDUE_DIGEST)
    assert county_digest.params["total"] == 2
    assert [e["title"] for e in town_digest.params["entries"]] == ["东村的事项"]  # the town sees its own subtree only
    digest_mail = next(m for m in mail.outbox if m.to == ["town_reviewer@example.org"])
    assert "东村的事项" in digest_mail.body and "财政局的事项" not in digest_mail.body
    run(date(2026, 12, 11))  # nothing new fell due: no digest, and yesterday's entries are not repeated
    assert len(notes(users.reviewer, NotificationKind.OVERDUE_DIGEST)) == 1


def test_after_a_missed_day_the_digest_covers_both_days(county, users):
    duty(county.east, date(2026, 12, 9), "九日到期")
    duty(county.east, date(2026, 12, 10), "十日到期")
    run(date(2026, 12, 9))
    run(date(2026, 12, 12))  # the 10th and 11th were missed
    [digest] = notes(users.town_reviewer, NotificationKind.OVERDUE_DIGEST)
    assert sorted(e["title"] for e in digest.params["entries"]) == ["九日到期", "十日到期"]


# Email: preferences, failures, retries, two workers


class BrokenMailServer:
    """An email backend whose server refuses every message (or those to `refuse`)."""

    refuse = None

    def __init__(self, *args, **kwargs):
        pass

    def open(self):
        return True

    def close(self):
        pass

    def send_messages(self, messages):
        import smtplib

        for message in messages:
            if self.refuse is None or message.to[0] in self.refuse:
                raise smtplib.SMTPRecipientsRefused({message.to[0]: (550, b"mailbox unavailable")})
            mail.outbox.append(message)
        return len(messages)


def test_a_failed_email_is_recorded_retried_with_backoff_and_the_others_still_go(county, users, settings):
    settings.EMAIL_BACKEND = "tests.portal.test_reminders.BrokenMailServer"
    settings.REMINDER_RETRY_MINUTES = 5
    BrokenMailServer.refuse = {"secretary@example.org"}
    try:
        duty(county.east, date(2026, 12, 10))
        duty(county.finance, date(2026, 12, 10))
        started = timezone.now()
        run(date(2026, 12, 5))
        [failed] = notes(users.secretary)
        [sent] = notes(users.finance_secretary)
        assert sent.email_state == EmailState.SENT
        assert failed.email_state == EmailState.PENDING and failed.attempts == 1
        assert "550" in failed.last_error and "SMTPRecipientsRefused" in failed.last_error
        assert failed.next_attempt_at >= started + timedelta(minutes=5)
        services.notifications_deliver(now=failed.next_attempt_at - timedelta(seconds=1))
        failed.refresh_from_db()
        assert failed.attempts == 1  # not before its time
        services.notifications_deliver(now=failed.next_attempt_at + timedelta(seconds=1))
        failed.refresh_from_db()
        assert failed.attempts == 2 and failed.next_attempt_at >= timezone.now() + timedelta(minutes=9)
        BrokenMailServer.refuse = set()
        services.notifications_deliver(now=failed.next_attempt_at + timedelta(seconds=1))
        failed.refresh_from_db()
        assert failed.email_state == EmailState.SENT and failed.attempts == 3
    finally:
        BrokenMailServer.refuse = None


def test_an_email_that_keeps_failing_is_marked_failed_after_the_last_attempt(county, users, settings):
    settings.EMAIL_BACKEND = "tests.portal.test_reminders.BrokenMailServer"
    settings.REMINDER_EMAIL_ATTEMPTS = 2
    duty(county.east, date(2026, 12, 10))
    run(date(2026, 12, 5))
    services.notifications_deliver(now=timezone.now() + timedelta(days=1))
    [note] = notes(users.secretary)
    assert note.email_state == EmailState.FAILED and note.attempts == 2 and note.last_error
    assert note.read_at is None  # still in the inbox


def test_a_user_without_an_email_address_gets_the_reminder_in_the_portal_only(county, people):
    duty(county.east, date(2026, 12, 10))
    run(date(2026, 12, 5))
    [note] = notes(people.secretary)
    assert note.email_state == EmailState.SKIPPED
    assert "邮箱" in note.last_error or "email address" in note.last_error
    assert mail.outbox == []


def test_a_user_who_turned_email_off_gets_no_email(county, users):
    NotificationPreference.objects.create(user=users.secretary, email_enabled=False)
    duty(county.east, date(2026, 12, 10))
    run(date(2026, 12, 5))
    assert notes(users.secretary)[0].email_state == EmailState.SKIPPED and mail.outbox == []


def test_a_user_who_chose_one_email_a_day_gets_the_days_reminders_in_one_email(county, users):
    NotificationPreference.objects.create(user=users.secretary, daily_digest=True)
    duty(county.east, date(2026, 12, 10), "第一项")
    duty(county.east, date(2026, 12, 11), "第二项")
    run(date(2026, 12, 5))
    assert len(mail.outbox) == 1
    assert "第一项" in mail.outbox[0].body and "第二项" in mail.outbox[0].body
    # A reminder made between two daily runs waits for the next morning, not for the five-minute tick.
    Notification.objects.filter(recipient=users.secretary).update(email_state=EmailState.PENDING)
    services.notifications_deliver()
    assert len(mail.outbox) == 1


def test_a_user_who_chose_english_gets_english_email(county, users):
    NotificationPreference.objects.create(user=users.secretary, language="en")
    duty(county.east, date(2026, 12, 10), "Study session")
    run(date(2026, 12, 5))
    assert mail.outbox[0].subject.startswith("[Branch portal] Duty")
    assert "falls due on 2026-12-10" in mail.outbox[0].subject


def test_a_claim_left_by_a_worker_that_died_is_taken_over_and_a_live_claim_is_not(county, users):
    duty(county.east, date(2026, 12, 10))
    duty(county.finance, date(2026, 12, 10))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(services, "notifications_deliver", lambda **kwargs: services.Delivery())
        run(date(2026, 12, 5))  # created, not yet emailed: the worker "dies" before delivering
    [dead] = notes(users.secretary)
    [alive] = notes(users.finance_secretary)
    now = timezone.now()
    Notification.objects.filter(pk=dead.pk).update(
        email_state=EmailState.SENDING, claimed_at=now - timedelta(minutes=20)
    )
    Notification.objects.filter(pk=alive.pk).update(
        email_state=EmailState.SENDING, claimed_at=now - timedelta(minutes=1)
    )
    services.notifications_deliver(now=now)
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.email_state == EmailState.SENT and alive.email_state == EmailState.SENDING
    assert [m.to for m in mail.outbox] == [["secretary@example.org"]]


def test_a_run_that_fails_midway_writes_no_notifications_and_the_next_run_does_the_work(county, users, monkeypatch):
    duty(county.east, date(2026, 12, 10))

    def crash(plan, recent):
        raise RuntimeError("worker lost")

    monkeypatch.setattr(services, "_withdraw_meetings", crash)
    with pytest.raises(RuntimeError):
        run(date(2026, 12, 5))
    assert Notification.objects.count() == 0 and mail.outbox == []
    failed = ReminderRun.objects.get()
    assert failed.state == ReminderRunState.FAILED and "worker lost" in failed.error
    monkeypatch.undo()
    run(date(2026, 12, 5))
    assert len(notes(users.secretary)) == 1 and len(mail.outbox) == 1


def test_the_command_runs_for_a_given_day_and_a_dry_run_changes_nothing(county, users, capsys):
    duty(county.east, date(2026, 12, 10))
    call_command("send_reminders", "--today", "2026-12-05", "--dry-run")
    out = capsys.readouterr().out
    assert "2026-12-05" in out and "1" in out
    assert Notification.objects.count() == 0 and ReminderRun.objects.count() == 0 and mail.outbox == []
    call_command("send_reminders", "--today", "2026-12-05")
    assert len(notes(users.secretary)) == 1 and len(mail.outbox) == 1
    assert ReminderRun.objects.get().state == ReminderRunState.DONE


def test_planning_and_writing_the_days_reminders_is_a_fixed_number_of_queries(
    county, users, meeting_rules, monkeypatch, django_assert_max_num_queries
):
    """Ten times the branches, the same queries: the job never loops over organizations issuing queries.
    (Sending is one UPDATE per email to record its outcome, so it is left out here.)"""
    from django.contrib.auth import get_user_model

    from branches import services as branch_services
    from tests.conftest import add_member

    def grow(n):
        for i in range(n):
            branch = branch_services.organization_create(
                parent=county.town,
                kind="branch",
                data={"code": f"T-E-X{n}-{i}", "name": f"新村{n}-{i}支部", "sector": "village"},
                by=system(),
            )
            add_member(branch, f"党员{n}-{i}")
            user = get_user_model().objects.create_user(f"s{n}-{i}", email=f"s{n}{i}@example.org")
            branch_services.role_assign(user=user, organization=branch, role="secretary", by=system())
            duty(branch, date(2026, 12, 28))
            term(branch, date(2027, 3, 1))

    monkeypatch.setattr(services, "notifications_deliver", lambda **kwargs: services.Delivery())
    grow(2)
    with django_assert_max_num_queries(40) as small:
        run(date(2026, 12, 24))
    grow(20)
    with django_assert_max_num_queries(40) as large:
        run(date(2026, 12, 25))
    assert Notification.objects.filter(kind=NotificationKind.DUTY_DUE).count() == 22

    def reads_and_updates(captured):
        # Inserts come in batches (2,000 rows on PostgreSQL; fewer under SQLite's parameter limit).
        return [q for q in captured.captured_queries if not q["sql"].lstrip().upper().startswith("INSERT")]

    assert len(reads_and_updates(large)) == len(reads_and_updates(small))
