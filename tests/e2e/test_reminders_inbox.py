"""At phone width: the bell and the inbox, reminder settings, the jobs pages under the CSP, and nobody else's inbox.

The lead times are the rows the data migration made (7 days before a duty falls due); the tests about
the inbox switch off every other topic, so that meetings falling due around today's date add nothing.
Assertions are about structure (selectors, addresses, data attributes, rows), never about wording.
"""

import os
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from playwright.sync_api import expect

from assessments import services as duty_services
from branches.models import SecurityEvent, SecurityEventKind
from portal import services
from portal.models import Notification, NotificationKind, NotificationPreference, ReminderRule, Topic
from tests.conftest import system

pytestmark = pytest.mark.browser

SCREENSHOTS = os.environ.get("SCREENSHOTS") == "1"
WIDTH = 390


def duty(branch, due, text):
    return duty_services.item_add(
        organization=branch, year=due.year, data={"area": "ideological", "text": text, "due_on": due}, by=system()
    )


@pytest.fixture
def duty_reminders_only(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    ReminderRule.objects.exclude(topic=Topic.DUTY).update(active=False)
    assert ReminderRule.objects.filter(topic=Topic.DUTY, active=True).exists()  # the migration's rows are back


@pytest.fixture
def two_reminders(county, people, duty_reminders_only):
    today = timezone.localdate()
    first = duty(county.east, today + timedelta(days=3), "学习贯彻党的二十届四中全会精神")
    second = duty(county.east, today + timedelta(days=5), "开展一次谈心谈话")
    services.reminders_send(today=today)
    notes = {n.object_id: n for n in Notification.objects.filter(recipient=people.secretary)}
    assert sorted(notes) == sorted([first.pk, second.pk])
    assert {n.kind for n in notes.values()} == {NotificationKind.DUTY_DUE}
    return {item: notes[item.pk] for item in (first, second)}


def _has(css_class):
    """Matches a class attribute that includes `css_class`."""
    return re.compile(rf"(^|\s){re.escape(css_class)}(\s|$)")


def fits_the_phone(page):
    return page.evaluate("document.documentElement.scrollWidth") <= WIDTH


def screenshot(page, path):
    if SCREENSHOTS:
        page.screenshot(path=path, full_page=True)


def test_the_bell_leads_to_the_inbox_and_counts_down_as_reminders_are_read(
    two_reminders, people, page, sign_in, live_server
):
    (first, first_note), (second, second_note) = two_reminders.items()
    sign_in(people.secretary)

    # On a phone the menu is collapsed, and the bell stands outside it.
    bell = page.locator(".portal-bell")
    expect(page.locator(".navbar-toggler")).to_be_visible()
    expect(page.locator("#portal-nav")).to_be_hidden()
    expect(bell).to_be_visible()
    box = bell.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH and box["y"] >= 0
    expect(bell).to_have_attribute("data-unread", "2")
    expect(bell.locator(".portal-bell-count")).to_have_text("2")

    bell.click()
    expect(page).to_have_url(f"{live_server.url}/inbox/")
    entries = page.locator(".inbox li[data-kind]")
    expect(entries).to_have_count(2)
    expect(page.locator(".inbox li.unread")).to_have_count(2)
    for note in (first_note, second_note):
        expect(page.locator(f'.inbox li.unread a[href="/inbox/{note.pk}/"]')).to_be_visible()
    assert fits_the_phone(page)
    screenshot(page, "/tmp/inbox-390.png")

    # Tapping a reminder opens the duty it is about, and reads it.
    page.locator(f'.inbox a[href="/inbox/{first_note.pk}/"]').click()
    expect(page).to_have_url(f"{live_server.url}/work/items/{first.pk}/")
    first_note.refresh_from_db()
    assert first_note.read_at is not None
    expect(bell).to_have_attribute("data-unread", "1")

    # Back to the inbox by the bell: that one is no longer marked unread.
    bell.click()
    expect(page).to_have_url(f"{live_server.url}/inbox/")
    expect(page.locator(".inbox li.unread")).to_have_count(1)
    expect(page.locator(f'.inbox li.unread a[href="/inbox/{second_note.pk}/"]')).to_be_visible()
    expect(page.locator(f'.inbox li:not(.unread) a[href="/inbox/{first_note.pk}/"]')).to_be_visible()
    expect(bell).to_have_attribute("data-unread", "1")
    expect(bell.locator(".portal-bell-count")).to_have_text("1")

    # "Mark all read" is a POST; afterwards the count is gone and so is the badge.
    mark_all = page.locator(f'form[method=post][action="{reverse("inbox_read")}"] button[type=submit]')
    expect(mark_all).to_be_visible()
    mark_all.click()
    expect(page).to_have_url(f"{live_server.url}/inbox/")
    expect(page.locator(".alert-success")).to_be_visible()
    expect(bell).to_have_attribute("data-unread", "0")
    expect(bell.locator(".portal-bell-count")).to_have_count(0)
    expect(page.locator(".inbox li.unread")).to_have_count(0)
    expect(entries).to_have_count(2)  # read, still listed
    expect(mark_all).to_have_count(0)  # nothing left to mark
    assert not Notification.objects.filter(recipient=people.secretary, read_at=None).exists()


def test_the_back_button_from_a_reminder_shows_the_inbox_as_it_is_now(
    two_reminders, people, page, sign_in, live_server
):
    (_first, first_note), _second = two_reminders.items()
    sign_in(people.secretary)
    page.locator(".portal-bell").click()
    page.locator(f'.inbox a[href="/inbox/{first_note.pk}/"]').click()
    expect(page).to_have_url(re.compile(r"/work/items/\d+/$"))
    page.go_back()
    expect(page).to_have_url(f"{live_server.url}/inbox/")
    expect(page.locator(".portal-bell")).to_have_attribute("data-unread", "1", timeout=2_000)
    expect(page.locator(".inbox li.unread")).to_have_count(1, timeout=2_000)


def test_reminder_settings_keep_what_was_typed_refuse_bad_input_and_save_good_input(people, page, sign_in, live_server):
    secretary = people.secretary
    sign_in(secretary)
    page.goto(f"{live_server.url}{reverse('notification_settings')}")
    email = page.locator("input[name=email]")
    by_email = page.locator("input[name=email_enabled]")
    digest = page.locator("input[name=daily_digest]")
    language = page.locator("main select[name=language]")  # the footer has the page language
    save_button = page.locator("main form[method=post] button[type=submit]")

    def save():
        with page.expect_navigation():
            save_button.click()

    expect(email).to_be_visible()
    assert fits_the_phone(page)
    screenshot(page, "/tmp/settings-390.png")

    def error_beside(field):
        """The message is in the field's own block, right under the input, and the input is flagged."""
        expect(page.locator(f"input[name={field}]")).to_have_class(_has("is-invalid"))
        feedback = page.locator(f"#div_id_{field} .invalid-feedback")
        expect(feedback).to_be_visible()
        field_box = page.locator(f"input[name={field}]").bounding_box()
        message_box = feedback.bounding_box()
        assert 0 <= message_box["y"] - (field_box["y"] + field_box["height"]) < 40
        assert message_box["x"] + message_box["width"] <= WIDTH

    def nothing_saved():
        secretary.refresh_from_db()
        assert secretary.email == "" and not NotificationPreference.objects.filter(user=secretary).exists()

    # A mistyped address: refused beside the field, and what was typed is still there to correct.
    email.fill("secretary@")
    by_email.check()
    digest.check()
    language.select_option("en")
    save()
    expect(page).to_have_url(f"{live_server.url}{reverse('notification_settings')}")
    expect(email).to_have_value("secretary@")
    expect(by_email).to_be_checked()
    expect(digest).to_be_checked()
    expect(language).to_have_value("en")
    error_beside("email")
    expect(page.locator(".alert-success")).to_have_count(0)
    assert fits_the_phone(page)
    nothing_saved()

    # Email on without an address: refused too.
    email.fill("")
    by_email.check()
    save()
    expect(email).to_have_value("")
    expect(by_email).to_be_checked()
    error_beside("email")
    nothing_saved()

    # A good address: saved, said so, and the page shows what was saved.
    email.fill("secretary@example.org")
    save()
    expect(page.locator(".alert-success")).to_be_visible()
    expect(page).to_have_url(f"{live_server.url}{reverse('notification_settings')}")
    expect(email).to_have_value("secretary@example.org")
    expect(email).not_to_have_class(_has("is-invalid"))
    expect(by_email).to_be_checked()
    expect(digest).to_be_checked()
    expect(language).to_have_value("en")
    secretary.refresh_from_db()
    preference = NotificationPreference.objects.get(user=secretary)
    assert secretary.email == "secretary@example.org"
    assert (preference.email_enabled, preference.daily_digest, preference.language) == (True, True, "en")


def test_the_inbox_settings_jobs_and_schedule_pages_run_under_the_content_security_policy(
    county, people, page, sign_in, live_server, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    today = timezone.localdate()
    services.reminders_send(today=today)  # a run for the jobs page to list
    # One unread reminder for the admin's inbox (made after the run), about a duty still open.
    due = today + timedelta(days=3)
    duty = duty_services.item_add(
        organization=county.root,
        year=due.year,
        data={"area": "integrity", "text": "组织一次警示教育", "due_on": due},
        by=system(),
    )
    Notification.objects.create(
        recipient=people.admin,
        kind=NotificationKind.DUTY_DUE,
        subject=f"duty:{duty.pk}",
        window=f"{today}@7",
        organization=county.root,
        object_id=duty.pk,
        due_on=today + timedelta(days=3),
        params={"text": "组织一次警示教育", "due": str(today + timedelta(days=3)), "days": 3},
        link=reverse("inbox"),
    )
    schedule = PeriodicTask.objects.order_by("pk").first()
    assert schedule is not None  # made by the data migration
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda error: violations.append(str(error)))

    sign_in(people.admin)
    for path in (
        reverse("inbox"),
        reverse("notification_settings"),
        reverse("jobs"),
        reverse("admin:django_celery_beat_periodictask_changelist"),
        reverse("admin:django_celery_beat_periodictask_change", args=[schedule.pk]),
    ):
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert fits_the_phone(page) or path.startswith("/admin/"), path
    expect(page.locator("#id_task")).to_be_visible()  # the schedule's form is there
    page.goto(f"{live_server.url}{reverse('inbox')}")
    expect(page.locator(".inbox li.unread")).to_have_count(1)
    page.locator(".navbar-toggler").click()  # the portal's own script still runs
    expect(page.locator("#portal-nav")).to_be_visible()
    expect(page.locator(f'#portal-nav a[href="{reverse("jobs")}"]')).to_be_visible()
    assert violations == []


def test_a_secretary_cannot_open_someone_elses_reminder_by_its_number(
    county, people, page, sign_in, live_server, duty_reminders_only
):
    today = timezone.localdate()
    duty(county.finance, today + timedelta(days=4), "按期缴纳党费")
    duty(county.east, today + timedelta(days=4), "开展一次谈心谈话")
    services.reminders_send(today=today)
    theirs = Notification.objects.get(recipient=people.finance_secretary)
    mine = Notification.objects.get(recipient=people.secretary)

    sign_in(people.secretary)
    response = page.goto(f"{live_server.url}{reverse('notification_open', args=[theirs.pk])}")
    assert response.status == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert SecurityEvent.objects.filter(
        kind=SecurityEventKind.OUT_OF_SCOPE, user=people.secretary, organization=county.finance
    ).exists()

    # Their reminder is not in this inbox, and this inbox still counts only its own.
    page.goto(f"{live_server.url}{reverse('inbox')}")
    expect(page.locator(".portal-bell")).to_have_attribute("data-unread", "1")
    expect(page.locator(f'.inbox a[href="/inbox/{mine.pk}/"]')).to_be_visible()
    expect(page.locator(f'.inbox a[href="/inbox/{theirs.pk}/"]')).to_have_count(0)
