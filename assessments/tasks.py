"""Celery tasks of the assessments: thin wrappers over assessments.services.

Opening a round scores it for the first time, and approving an assessment scores its round again so that grades,
ranks and quotas count it. At a province's scale that run takes tens of seconds, so the opening or the approval
queues it once its transaction commits (`services.score_after_commit`) and the page answers at once; the round's
pages say that the computed indicators are being calculated, or that scores are being recalculated, until the run
is done.
"""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from assessments import services
from branches import access

RETRY = {"autoretry_for": (OperationalError, InterfaceError), "retry_backoff": 30, "max_retries": 5}


@shared_task(name="assessments.rescore_round", **RETRY)
def rescore_round(round_id):
    """Score a round just opened, or again for the approvals waiting for it (nothing when an earlier run did)."""
    run = services.round_rescore(round_id=round_id, by=access.system_user())
    return None if run is None else run.assessments
