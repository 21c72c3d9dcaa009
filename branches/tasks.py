"""Celery tasks of the ground floor: thin wrappers over branches.services.

A large workbook is checked and applied by a worker, so the page that uploaded it stays quick; the import's
row shows the progress and the outcome.
"""

from celery import shared_task
from django.contrib.auth import get_user_model
from django.db import InterfaceError, OperationalError

from branches import services
from branches.models import WorkbookImport

RETRY = {"autoretry_for": (OperationalError, InterfaceError), "retry_backoff": 30, "max_retries": 3}


def _load(import_id, user_id):
    record = WorkbookImport.objects.select_related("organization").filter(pk=import_id).first()
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    return record, user


@shared_task(name="branches.workbook_check", **RETRY)
def workbook_check(import_id, user_id):
    record, user = _load(import_id, user_id)
    if record is None or user is None:
        return None
    return services.workbook_check(record=record, by=user).state


@shared_task(name="branches.workbook_apply", **RETRY)
def workbook_apply(import_id, user_id):
    record, user = _load(import_id, user_id)
    if record is None or user is None:
        return None
    return services.workbook_apply(record=record, by=user).state
