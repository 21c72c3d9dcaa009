from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from branches.models.organizations import Organization


class Role(models.TextChoices):
    SECRETARY = "secretary", _("Branch secretary")
    REVIEWER = "reviewer", _("Reviewer")
    ASSESSOR = "assessor", _("Assessor")
    ADMIN = "admin", _("Administrator")


class RoleAssignment(models.Model):
    """A user holds a role over an organization and its whole subtree."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_assignments", verbose_name=_("user")
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="role_assignments", verbose_name=_("organization")
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    granted_at = models.DateTimeField(_("granted at"), auto_now_add=True)

    class Meta:
        verbose_name = _("role assignment")
        verbose_name_plural = _("role assignments")
        ordering = ["user", "organization", "role"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organization", "role"], name="role_assignment_unique"),
        ]

    def __str__(self):
        return f"{self.user} · {self.get_role_display()} · {self.organization}"
