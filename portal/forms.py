from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from branches.forms import PeriodField
from branches.models import OrganizationKind, Sector
from branches.widgets import DateInput


class SignInForm(AuthenticationForm):
    error_messages = {
        "invalid_login": _("The user name or password is wrong. Both are case-sensitive."),
        "inactive": _("This account is disabled. Ask your administrator."),
    }


class NotificationSettingsForm(forms.Form):
    """A person's reminder settings, and the email address reminders go to."""

    email = forms.EmailField(
        label=_("Email address"),
        required=False,
        help_text=_("Leave empty to get reminders only in the portal."),
        error_messages={"invalid": _("Enter an email address such as name@example.org.")},
    )
    email_enabled = forms.BooleanField(label=_("Send reminders by email"), required=False)
    daily_digest = forms.BooleanField(
        label=_("One email a day"),
        required=False,
        help_text=_("Collect the day's reminders into one email sent in the morning."),
    )
    language = forms.ChoiceField(label=_("Email language"), choices=settings.LANGUAGES)

    def clean(self):
        data = super().clean()
        if data.get("email_enabled") and not data.get("email") and "email" not in self.errors:
            self.add_error("email", _("Emails need an address: enter one, or turn email reminders off."))
        return data


class ApiTokenForm(forms.Form):
    """A new personal API token: what it is for, and the last day it may be used."""

    name = forms.CharField(
        label=_("Name"),
        max_length=60,
        help_text=_("What the token is for, e.g. the system that will use it."),
    )
    expires_on = forms.DateField(
        label=_("Valid through"),
        widget=DateInput(),
        help_text=_("The last day the token may be used; at most a year from today."),
    )


class RevokeForm(forms.Form):
    confirm = forms.BooleanField(label=_("Yes, revoke it. Systems using this token will be refused at once."))


class DashboardFilterForm(forms.Form):
    """The dashboard's period (this year when empty), and which organizations it counts: a sector, a kind."""

    period = PeriodField(required=False)
    sector = forms.ChoiceField(label=_("sector"), required=False, choices=[("", _("all sectors")), *Sector.choices])
    kind = forms.ChoiceField(
        label=_("kind"),
        required=False,
        choices=[("", _("all kinds"))]
        + [(k.value, k.label) for k in OrganizationKind if k != OrganizationKind.PARTY_GROUP],
    )
