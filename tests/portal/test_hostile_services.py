"""The portal's own write services (API tokens, reminder settings, dashboard norms) called with the worst values a
form, an API client or a script can hand them: each does its work or refuses; never another exception, and a refusal
writes nothing. See tests/branches/test_hostile_services.py for the rules.
"""

from django.contrib.auth import get_user_model
from hypothesis import given
from hypothesis import strategies as st

from portal import services
from portal.models import ApiToken, DashboardSetting, NotificationPreference
from tests.branches.test_hostile_services import Attempts, maybe
from tests.hostile import DATES, DECIMALS, HOSTILE_SETTINGS, INTEGERS, NUMBER, TEXT

User = get_user_model()


@given(name=maybe(TEXT, "统计脚本"), expires_on=st.one_of(st.none(), DATES))
@HOSTILE_SETTINGS
def test_api_token_create_refuses_what_it_cannot_keep(people, name, expires_on):
    attempts = Attempts("service api_token_create", ApiToken)
    attempts.call(services.api_token_create, name=name, expires_on=expires_on, by=people.secretary)
    attempts.done()


@given(
    email=maybe(TEXT, "secretary@example.com"),
    language=maybe(TEXT, "zh-hans"),
    email_enabled=st.booleans(),
    daily_digest=st.booleans(),
)
@HOSTILE_SETTINGS
def test_preference_save_refuses_what_it_cannot_keep(people, email, language, email_enabled, daily_digest):
    attempts = Attempts("service preference_save", NotificationPreference, User)
    data = {"email": email, "language": language, "email_enabled": email_enabled, "daily_digest": daily_digest}
    attempts.call(services.preference_save, data=data, by=people.secretary)
    attempts.call(services.preference_language, language=language, by=people.secretary)
    attempts.done()


@given(
    field=st.sampled_from(["staffing_min_share", "staffing_max_share", "term_warning_days"]),
    value=st.one_of(DECIMALS, INTEGERS, NUMBER, TEXT),
)
@HOSTILE_SETTINGS
def test_dashboard_setting_save_refuses_what_it_cannot_keep(people, field, value):
    attempts = Attempts("service dashboard_setting_save", DashboardSetting)
    attempts.call(services.dashboard_setting_save, data={field: value}, by=people.admin)
    attempts.done()
