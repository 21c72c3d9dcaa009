from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _


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
