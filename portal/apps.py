from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class PortalAdminConfig(admin_apps.AdminConfig):
    """Django admin, on a site that only admins may enter (see portal.admin_site)."""

    default = False
    default_site = "portal.admin_site.PortalAdminSite"


class PortalConfig(AppConfig):
    default = True
    name = "portal"
    verbose_name = _("Portal")

    def ready(self):
        # Connect the receivers, and register the tasks so that the admin lists them for schedules.
        from branches import jobs as branch_jobs
        from branches import validators
        from portal import jobs, signals, tasks  # noqa: F401

        validators.guard_fields(self.get_models())  # as branches' own: text a database can keep, dates in range

        # The ground floor's long jobs (a large workbook import) go through the same queue.
        if not branch_jobs.ENQUEUE:
            branch_jobs.ENQUEUE.append(jobs.enqueue)
