"""Putting a task on the queue from a page without ever breaking the page."""

import logging

from kombu.exceptions import KombuError, OperationalError

logger = logging.getLogger(__name__)


def enqueue(task, **kwargs):
    """True if the broker took the task; False (logged) if it is unreachable, so the caller can fall back."""
    from portal.celery import ensure_broker_folders

    try:
        ensure_broker_folders()
        task.apply_async(kwargs=kwargs, retry=False)
    except (OperationalError, KombuError, OSError) as error:
        logger.warning("could not enqueue %s: %s", task.name, error)
        return False
    return True
