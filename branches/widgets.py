"""Date and time inputs for every form of the portal.

A browser's <input type="date"> takes only an ISO value (2024-05-05) and shows it in the reader's own
way; any other value (Chinese 2024/05/05, say) is dropped and the box shows empty, so saving then
submits nothing. Django would render the language's first input format, so these widgets name the
ISO format themselves, whatever the page's language.
"""

from django import forms
from django.utils import timezone

ISO_DATE = "%Y-%m-%d"
ISO_DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None, format=ISO_DATE):
        super().__init__(attrs, format=format)


class DateTimeInput(forms.DateTimeInput):
    """<input type="datetime-local">: local wall time to the minute, without a zone."""

    input_type = "datetime-local"

    def __init__(self, attrs=None, format=ISO_DATETIME_LOCAL):
        super().__init__(attrs, format=format)

    def format_value(self, value):
        if hasattr(value, "tzinfo") and timezone.is_aware(value):
            value = timezone.localtime(value)
        return super().format_value(value)
