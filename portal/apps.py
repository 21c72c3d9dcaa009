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
        from portal import signals, tasks  # noqa: F401
