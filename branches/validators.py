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


# Text a database cannot keep: a NUL byte (PostgreSQL refuses it in text) or a lone surrogate (half of a UTF-16 pair,
# which no UTF-8 text can hold: it comes from a broken client or a script, never from a keyboard).
UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def reject_unstorable(value):
    if isinstance(value, str) and UNSTORABLE.search(value):
        raise ValidationError(
            _("This text holds a character that cannot be stored (a NUL byte or a broken character)."),
            code="unstorable",
        )


def storable(text):
    """`text` with what no database can keep taken out: for records of a refusal, which must not fail themselves."""
    return UNSTORABLE.sub("\ufffd", str(text))


# The calendar the portal keeps: from the founding of the Party to the end of the century (periods, reports and
# every date field). Dates outside it are typing slips, and their months and quarters overflow the date type.
FIRST_YEAR, LAST_YEAR = 1921, 2100


def within_calendar(value):
    if value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValidationError(
            _("The date must lie between the years %(first)d and %(last)d."),
            code="calendar",
            params={"first": FIRST_YEAR, "last": LAST_YEAR},
        )


def check_days(**days):
    """Refuse, keyed by field, any of these dates outside the calendar: for a service that computes with a date
    (its period, a term's end) before the model's own validators see it."""
    errors = {}
    for name, value in days.items():
        try:
            within_calendar(value)
        except ValidationError as error:
            errors[name] = error.messages
    if errors:
        raise ValidationError(errors)


def guard_fields(models):
    """Every text and date field of these models refuses what no database can keep and dates outside the calendar,
    wherever the model's validators run (full_clean, model forms, `field.clean`).

    The validators are added to each field's list of validators, not declared on the field, so that every field of
    every model is guarded without a migration, including those added later.
    """
    from django.db.models import CharField, DateField, TextField  # DateTimeField is a DateField

    for model in models:
        for field in model._meta.local_fields:
            guard = (
                reject_unstorable
                if isinstance(field, (CharField, TextField))
                else within_calendar
                if isinstance(field, DateField)
                else None
            )
            if guard is not None and guard not in field.validators:
                field.validators.append(guard)


def typed(model, values):
    """`values` ({field name: value}) as the model's fields take them (text checked, numbers as numbers, choices
    among the choices), or one ValidationError by field. For a service that computes with the values (a period, a
    sum, a comparison) before the model's own `full_clean`, which would run only afterwards."""
    from django.core.exceptions import FieldDoesNotExist

    cleaned, errors = {}, {}
    for name, value in values.items():
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            errors[name] = [_("There is no such field.")]
            continue
        try:
            cleaned[name] = field.clean(value, None)
        except ValidationError as error:
            errors[name] = error.messages
        except (OverflowError, ValueError, TypeError, ArithmeticError):  # int(Decimal("Infinity")), and the like
            message = field.error_messages.get("invalid") or field.error_messages["invalid_choice"]
            errors[name] = ValidationError(message, params={"value": value}).messages
    if errors:
        raise ValidationError(errors)
    return cleaned
