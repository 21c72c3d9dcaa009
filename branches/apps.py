from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.utils.translation import gettext_lazy as _


class BitOr:
    """SQLite's missing `bit_or` aggregate (PostgreSQL has it): the standings' types judged are OR-ed bit sets.
    Also a window function (a small subtree's ranking reads its columns with one); rows leaving a sliding window
    are taken out by counting each bit's rows."""

    def __init__(self):
        self.rows_with = {}  # bit -> rows with it set
        self.seen = False

    def step(self, value):
        self._count(value, 1)

    def inverse(self, value):
        self._count(value, -1)

    def _count(self, value, delta):
        if value is None:
            return
        self.seen = True
        for bit in range(value.bit_length()):
            if value >> bit & 1:
                self.rows_with[bit] = self.rows_with.get(bit, 0) + delta

    def value(self):
        if not self.seen:
            return None
        return sum(1 << bit for bit, rows in self.rows_with.items() if rows > 0)

    finalize = value


def _sqlite_functions(sender, connection, **kwargs):
    if connection.vendor == "sqlite":
        connection.connection.create_window_function("bit_or", 1, BitOr)


class BranchesConfig(AppConfig):
    name = "branches"
    verbose_name = _("Organizations and people")

    def ready(self):
        connection_created.connect(_sqlite_functions, dispatch_uid="branches.sqlite_functions")

        from branches import validators

        validators.guard_fields(self.get_models())  # no NUL byte, no lone surrogate, no date outside the calendar
