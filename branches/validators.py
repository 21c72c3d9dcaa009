"""Validators shared by every text a user can type."""

import re

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

# A tag opening (<b, </x, <!--, <?), a javascript: URL or an inline event handler (onclick=).
MARKUP = re.compile(r"<\s*[a-z!/?]|javascript\s*:|\bon[a-z]+\s*=", re.IGNORECASE)


def reject_markup(value):
    """Plain text only. Pages escape everything anyway; this refuses the attempt and records it."""
    if value and MARKUP.search(str(value)):
        from branches import audit  # the audit module imports the models that use this validator
        from branches.models import SecurityEventKind

        audit.record_refusal(SecurityEventKind.MARKUP_REFUSED, detail=str(value)[:200])
        raise ValidationError(_("HTML tags and scripts are not allowed here; please enter plain text."), code="markup")


validate_code = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
    _("Use letters, digits, hyphens and underscores only."),
    code="code",
)
