"""Shared fixtures built once per test process, then written again as rows.

The county and its people are built through the services (audited, with two years of compliance results) for
most tests of the suite: some 200 queries each time. The first build in a process is recorded, every row it
added in every table; a later test gets the same rows back by bulk insert, with the same keys, and the datetimes
that were "now" during the build moved to just before the replay. So each test starts from the rows the
services would have written, and still writes, rolls back or commits them as its own.

A replay happens only where it cannot differ from a build: when each table has the row count and highest key
it had when the rows were recorded (nothing else was written before the fixture), on the same dates and with
the same settings overridden, and when the build only added rows. Otherwise the fixture builds as before.
PORTAL_TEST_SNAPSHOTS=0 always builds.
"""

import os
from datetime import date, datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.utils import timezone

ENABLED = os.environ.get("PORTAL_TEST_SNAPSHOTS", "1") != "0"
# Settings a test may override before asking for a fixture that the builds here never read.
IRRELEVANT_SETTINGS = {"MEDIA_ROOT", "EMAIL_BACKEND"}

_recorded = {}  # key -> Snapshot, or None where the build cannot be replayed
stats = {"built": 0, "replayed": 0}


def _tables():
    return [
        model
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy and not model._meta.swapped
    ]


def _fingerprint(connection):
    """Each table's row count and highest key, in one query."""
    quote = connection.ops.quote_name
    parts = []
    for model in _tables():
        table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
        if isinstance(model._meta.pk, models.UUIDField):  # PostgreSQL has no MAX over uuid
            pk = f"CAST({pk} AS text)"
        parts += [f"(SELECT COUNT(*) FROM {table})", f"(SELECT MAX({pk}) FROM {table})"]  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts))
        return tuple(cursor.fetchone())


def _overridden_settings():
    """What the test has overridden so far (pytest-django's `settings` and override_settings stack holders)."""
    overridden, holder = [], settings._wrapped
    while hasattr(holder, "default_settings"):  # a UserSettingsHolder over the next one down
        for name, value in vars(holder).items():
            if name.isupper() and name not in IRRELEVANT_SETTINGS:
                overridden.append((name, repr(value)))
        holder = holder.default_settings
    return tuple(sorted(overridden))


def _fields(model):
    """The columns' attribute names, the primary key's first."""
    pk = model._meta.pk.attname
    return [pk] + [field.attname for field in model._meta.concrete_fields if field.attname != pk]


def _rows(model, using):
    return {row[0]: row for row in model._base_manager.using(using).values_list(*_fields(model))}


def _contents(using):
    return {model: _rows(model, using) for model in _tables()}


class Snapshot:
    def __init__(self, added, result, started, ended):
        self.added = added  # [(model, [field attnames], [rows])]
        self.started, self.ended = started, ended
        # What the fixture returned: its class and, per attribute, the (model, pk) it held.
        self.result_class = type(result)
        self.result_objects = {name: (type(value), value.pk) for name, value in vars(result).items()}

    @classmethod
    def record(cls, before, after, result, started, ended):
        """The rows the build added; None when it changed or deleted a row that was there before, or returned
        something other than model instances."""
        if not all(isinstance(value, models.Model) for value in vars(result).values()):
            return None
        added = []
        for model, rows in after.items():
            had = before[model]
            if any(pk not in rows or rows[pk] != row for pk, row in had.items()):
                return None
            new = [row for pk, row in rows.items() if pk not in had]
            if new:
                added.append((model, _fields(model), new))
        return cls(added, result, started, ended)

    def _now_then(self, value, shift):
        if isinstance(value, datetime) and self.started <= value <= self.ended:
            return value + shift
        return value

    def replay(self, connection):
        # The build's end becomes now: its rows keep their order in time and stay older than the test's own.
        shift = timezone.now() - self.ended
        with transaction.atomic(using=connection.alias):
            for model, fields, rows in self.added:
                objects = [
                    model(**{name: self._now_then(value, shift) for name, value in zip(fields, row, strict=True)})
                    for row in rows
                ]
                model._base_manager.using(connection.alias).bulk_create(objects)
            if connection.vendor == "postgresql":
                _advance_sequences(connection, self.added)
        wanted = {}
        for model, pk in self.result_objects.values():
            wanted.setdefault(model, []).append(pk)
        fetched = {model: model._base_manager.using(connection.alias).in_bulk(pks) for model, pks in wanted.items()}
        result = object.__new__(self.result_class)
        for name, (model, pk) in self.result_objects.items():
            setattr(result, name, fetched[model][pk])
        return result


def _advance_sequences(connection, added):
    """The next key a test draws lies past the replayed ones, even where a test moved a sequence back."""
    quote = connection.ops.quote_name
    parts, params = [], []
    for model, _fields, rows in added:
        if isinstance(model._meta.pk, models.AutoField):  # BigAutoField and SmallAutoField included
            table = quote(model._meta.db_table)
            parts.append(
                "setval(pg_get_serial_sequence(%s, %s), GREATEST(%s, "
                "COALESCE(pg_sequence_last_value(pg_get_serial_sequence(%s, %s)::regclass), 0)))"
            )
            params += [table, model._meta.pk.column, max(row[0] for row in rows), table, model._meta.pk.column]
    if parts:
        with connection.cursor() as cursor:
            cursor.execute("SELECT " + ", ".join(parts), params)


def build_once(name, build, using=DEFAULT_DB_ALIAS):
    """`build()`'s result, built in this test or replayed from an earlier one of this process."""
    if not ENABLED:
        return build()
    connection = connections[using]
    key = (name, date.today(), timezone.localdate(), _overridden_settings(), _fingerprint(connection))
    if key in _recorded:
        snapshot = _recorded[key]
        if snapshot is not None:
            stats["replayed"] += 1
            return snapshot.replay(connection)
        stats["built"] += 1
        return build()
    before = _contents(using)
    started = timezone.now() - timedelta(microseconds=1)
    result = build()
    ended = timezone.now() + timedelta(microseconds=1)
    _recorded[key] = Snapshot.record(before, _contents(using), result, started, ended)
    stats["built"] += 1
    return result
