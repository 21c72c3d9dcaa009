"""Two workers at once, on real PostgreSQL: the day's run and the email delivery each happen once.

The workers are threads with their own database connections, started together at a barrier, so
their transactions really overlap: the unique key and the conditional claim are what keep them apart.
"""

import threading
from datetime import date

import pytest
from django.core import mail
from django.db import connection

from assessments import services as duty_services
from portal import services
from portal.models import EmailState, Notification, NotificationKind, ReminderRule, ReminderRun, ReminderRunState, Topic
from tests.conftest import system

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

WORKERS = 4


def at_once(action):
    """Run `action` in WORKERS threads released together; return their exceptions."""
    barrier = threading.Barrier(WORKERS)
    errors = []

    def work():
        try:
            barrier.wait()
            action()
        except Exception as error:  # collected and asserted on by the caller
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


@pytest.fixture
def branches_with_duties(county, people, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    ReminderRule.objects.filter(topic=Topic.MEETING).update(active=False)  # duties only: counts stay simple
    for user in (people.secretary, people.finance_secretary):
        user.email = f"{user.username}@example.org"
        user.save()
    for branch in (county.east, county.finance):
        for n in range(5):
            duty_services.item_add(
                organization=branch,
                year=2026,
                data={"area": "ideological", "text": f"事项{n}", "due_on": date(2026, 12, 6 + n)},
                by=system(),
            )
    return people


def test_four_workers_running_the_same_day_create_each_reminder_once_and_email_it_once(branches_with_duties):
    people = branches_with_duties
    errors = at_once(lambda: services.reminders_send(today=date(2026, 12, 5)))
    assert errors == []
    due = Notification.objects.filter(kind=NotificationKind.DUTY_DUE)
    assert due.filter(recipient=people.secretary).count() == 5
    assert due.filter(recipient=people.finance_secretary).count() == 5
    assert set(due.values_list("email_state", flat=True)) == {EmailState.SENT}
    sent = [(m.to[0], m.subject) for m in mail.outbox]
    assert len(sent) == len(set(sent)) == 10  # every reminder emailed, none twice
    assert ReminderRun.objects.filter(state=ReminderRunState.DONE).count() == WORKERS


def test_four_deliveries_at_once_send_each_waiting_email_once(branches_with_duties, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(services, "notifications_deliver", lambda **kwargs: services.Delivery())
        services.reminders_send(today=date(2026, 12, 5))  # written, not yet sent
    assert Notification.objects.filter(email_state=EmailState.PENDING).count() == 10
    errors = at_once(lambda: services.notifications_deliver(include_digest=True))
    assert errors == []
    assert Notification.objects.filter(email_state=EmailState.SENT).count() == 10
    assert len(mail.outbox) == 10 and len({m.subject + m.to[0] for m in mail.outbox}) == 10
