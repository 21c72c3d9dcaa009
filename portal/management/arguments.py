"""The checks the management commands run on their arguments before they act.

They run in `handle`, not as argparse types, so that call_command's keyword arguments (which skip the parser) are
judged too. Each raises a CommandError naming the option, in the language the commands speak.
"""

import os
from datetime import date

from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from branches import periods
from branches.validators import validate_code

# The largest id a row can have (PostgreSQL's bigint): a larger number names nothing, and no query should be built
# on it.
LARGEST_ID = 2**63 - 1


def number(option, value, low, high):
    if value is not None and not low <= value <= high:
        raise CommandError(
            _("%(option)s must lie between %(low)s and %(high)s.") % {"option": option, "low": low, "high": high}
        )
    return value


def row_id(option, value):
    """An id typed for a row: a number no row can have is refused before any query is made."""
    return number(option, value, 1, LARGEST_ID)


def year(option, value):
    return number(option, value, periods.FIRST_YEAR, periods.LAST_YEAR)


def day(option, value):
    """A day within the calendar the portal keeps (the years periods accept): the jobs count months, quarters and
    years around it, which the far past and future do not have."""
    if value is not None and not periods.FIRST_YEAR <= value.year <= periods.LAST_YEAR:
        raise CommandError(
            _("%(option)s must be a day between %(first)s and %(last)s.")
            % {
                "option": option,
                "first": date(periods.FIRST_YEAR, 1, 1).isoformat(),
                "last": date(periods.LAST_YEAR, 12, 31).isoformat(),
            }
        )
    return value


def organization_code(value):
    """True when `value` could be an organization's code; a text that cannot is simply not found (a NUL byte or a
    lone surrogate must not reach the database, which refuses them)."""
    try:
        validate_code(value)
    except Exception:  # noqa: BLE001 - ValidationError, or a value that is not text at all
        return False
    return True


def file_path(option, value):
    """A path the operating system can be asked about: no NUL byte, encodable in the file system's encoding."""
    try:
        os.fsencode(value)
    except UnicodeEncodeError:
        pass
    else:
        if "\x00" not in value:
            return value
    raise CommandError(_("%(option)s is not a path a file can have.") % {"option": option})
