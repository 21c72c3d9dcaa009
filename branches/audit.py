"""Recording what happens: the request's context, bulk changes, jobs, and refused attempts.

Single saves and deletes are logged by django-auditlog's signals into `AuditEntry`.
Bulk writes (`bulk_create`, `QuerySet.update`, tree moves) bypass signals, so the
services that make them call `record_bulk` with the before/after values themselves.
"""

import contextlib
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta

from auditlog.context import set_extra_data
from django.contrib.contenttypes.models import ContentType
from django.utils.encoding import smart_str

from branches.models import AuditEntry, SecurityEvent, audit_organization_id
from branches.validators import storable


@dataclass(frozen=True)
class RequestContext:
    user: object = None
    remote_addr: str | None = None
    request_id: str = ""
    path: str = ""
    job: str = ""


NO_REQUEST = RequestContext()
_request = ContextVar("portal_request_context", default=None)


def current():
    return _request.get() or NO_REQUEST


@contextlib.contextmanager
def in_request(context):
    """Bind the request's user, address and id to every entry written while it runs."""
    token = _request.set(context)
    actor = context.user if getattr(context.user, "is_authenticated", False) else None
    try:
        with set_extra_data({"actor": actor, "remote_addr": context.remote_addr, "cid": context.request_id}):
            yield
    finally:
        _request.reset(token)


@contextlib.contextmanager
def as_job(name):
    """Entries written inside are signed by the job, e.g. ``with as_job("seed_demo"):``."""
    label = f"job:{name}"
    with set_extra_data({"actor_label": label, "cid": label}):
        token = _request.set(RequestContext(request_id=label, job=label))
        try:
            yield
        finally:
            _request.reset(token)


def _context_fields():
    context = current()
    user = context.user if getattr(context.user, "is_authenticated", False) else None
    return {
        "actor": user,
        "remote_addr": context.remote_addr,
        "cid": context.request_id or None,
        "actor_label": context.job,
    }


def record_bulk(action, changes_by_instance, batch_size=1000):
    """Write one entry per changed row for a bulk operation.

    `changes_by_instance` is a list of (instance, {field: [before, after]}).
    """
    fields = _context_fields()
    entries = []
    content_types = {}
    for instance, changes in changes_by_instance:
        model = type(instance)
        if model not in content_types:
            content_types[model] = ContentType.objects.get_for_model(model)
        entries.append(
            AuditEntry(
                content_type=content_types[model],
                object_pk=str(instance.pk),
                object_id=instance.pk if isinstance(instance.pk, int) else None,
                object_repr=smart_str(instance),
                action=action,
                changes={name: [_plain(before), _plain(after)] for name, (before, after) in changes.items()},
                organization_id=audit_organization_id(instance),
                additional_data={"bulk": True},
                **fields,
            )
        )
    AuditEntry.objects.bulk_create(entries, batch_size=batch_size)
    return len(entries)


def record_summary(instance, action, summary):
    """One entry standing for a large bulk load (the demo seeding), with its counts."""
    return AuditEntry.objects.log_create(
        instance,
        force_log=True,
        action=action,
        changes=None,
        additional_data={"bulk": True, **summary},
        **{k: v for k, v in _context_fields().items() if k != "cid"},
    )


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def record_refusal(kind, *, organization_id=None, detail="", username=""):
    """Keep a refused attempt (forged token, out-of-scope id, bad upload, markup, lockout)."""
    context = current()
    user = context.user if getattr(context.user, "is_authenticated", False) else None
    return SecurityEvent.objects.create(
        kind=kind,
        user=user,
        username=storable(username or (user.get_username() if user else "")),
        remote_addr=context.remote_addr,
        request_id=context.request_id[:64],
        path=context.path[:300],
        organization_id=organization_id,
        detail=storable(detail)[:300],
    )


def prune(*, now, retention_days):
    """Delete audit entries older than the retention period (0 keeps everything). Returns how many."""
    if retention_days <= 0:
        return 0
    cutoff = now - timedelta(days=retention_days)
    deleted, _details = AuditEntry.objects.filter(timestamp__lt=cutoff).delete()
    return deleted
