import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from branches.models.organizations import Organization
from branches.validators import reject_markup


def attachment_path(instance, filename):
    # A random name: the original name is kept in a field, never used as a path.
    return f"attachments/{instance.organization_id}/{uuid.uuid4().hex}.{instance.extension}"


class Attachment(models.Model):
    """A scanned page, photo or document of an organization (meetings and findings will point here too).

    Stored through Django's storage API outside static; served only through the access helper.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="attachments", verbose_name=_("organization")
    )
    meeting = models.ForeignKey(
        "branches.Meeting",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="attachments",
        verbose_name=_("meeting"),
    )
    title = models.CharField(_("title"), max_length=120, validators=[reject_markup])
    file = models.FileField(_("file"), upload_to=attachment_path, max_length=200)
    original_name = models.CharField(_("original file name"), max_length=200)
    content_type = models.CharField(_("file type"), max_length=100)
    extension = models.CharField(_("extension"), max_length=10)
    size = models.PositiveIntegerField(_("size in bytes"))
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("uploaded by")
    )
    uploaded_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["-uploaded_at", "-pk"]

    def __str__(self):
        return self.title

    def get_additional_data(self):
        """Kept with the audit entry of a deletion (django-auditlog asks): the file's name and hash outlive it."""
        digest = getattr(self, "deleted_file_digest", None)
        if digest is None:
            return None
        return {"file": self.original_name, "stored_as": self.file.name, "sha256": digest}
