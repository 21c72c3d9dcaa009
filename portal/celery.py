"""The Celery app. Its broker is Redis when REDIS_URL is set, an embedded folder broker otherwise."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def ensure_broker_folders():
    """The folder broker needs its folders before the first message; Redis needs nothing."""
    from django.conf import settings

    if not settings.REDIS_URL:
        for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
            os.makedirs(settings.CELERY_BROKER_TRANSPORT_OPTIONS[key], exist_ok=True)


@signals.worker_init.connect
@signals.beat_init.connect
def _prepare(**kwargs):
    ensure_broker_folders()
