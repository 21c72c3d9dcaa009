from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from branches import access


class PortalAdminSite(admin.AdminSite):
    """Django admin for the portal's administrators only; every list in it is scoped (branches.admin, portal.admin)."""

    site_header = _("Branch responsibility portal · administration")
    site_title = _("Portal administration")
    index_title = _("Administration")

    def has_permission(self, request):
        user = request.user
        return user.is_active and access.has_any(user, access.ADMINISTER)
