"""The portal's services keep the contract: the actor is required and checked, values validated."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from portal import services
from portal.models import NotificationPreference, ReminderRun


def test_only_an_admin_of_the_whole_tree_queues_a_reminder_run(county, people):
    for actor in (people.secretary, people.town_reviewer, people.reviewer):
        with pytest.raises(PermissionDenied):
            services.reminder_run_request(by=actor)
    assert not ReminderRun.objects.exists()
    assert services.reminder_run_request(by=people.admin).requested_by == people.admin


def test_a_settings_save_with_an_unknown_language_or_a_bad_address_writes_nothing(county, people):
    data = {"email_enabled": True, "daily_digest": False, "language": "xx", "email": "not-an-address"}
    with pytest.raises(ValidationError) as refused:
        services.preference_save(by=people.secretary, data=data)
    assert "language" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        services.preference_save(by=people.secretary, data={**data, "language": "en"})
    assert "email" in refused.value.message_dict
    people.secretary.refresh_from_db()
    assert people.secretary.email == ""
    assert not NotificationPreference.objects.filter(user=people.secretary).exists()
