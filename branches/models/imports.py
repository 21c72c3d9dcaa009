import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from branches.models.organizations import Organization


def import_path(instance, filename):
    # A random name: the original name is kept in a field, never used as a path.
    return f"imports/{instance.organization_id}/{uuid.uuid4().hex}.xlsx"


class ImportState(models.TextChoices):
    UPLOADED = "uploaded", _("Uploaded")
    CHECKING = "checking", _("Being checked")
    CHECKED = "checked", _("Checked, waiting for confirmation")
    REFUSED = "refused", _("Refused")
    APPLYING = "applying", _("Being applied")
    APPLIED = "applied", _("Applied")
    FAILED = "failed", _("Failed")


class WorkbookImport(models.Model):
    """One uploaded workbook of organizations, members and cadres, from upload to preview to apply.

    The file is kept between the preview and the confirmation (it is never uploaded twice) and after
    applying, as the record of what was imported. `preview` holds the counts and the rows to show;
    `plan_digest` fingerprints what the preview would write, so that applying writes exactly that.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="imports", verbose_name=_("imported into")
    )
    file = models.FileField(_("file"), upload_to=import_path, max_length=200)
    original_name = models.CharField(_("original file name"), max_length=200)
    size = models.PositiveIntegerField(_("size in bytes"))
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("uploaded by")
    )
    uploaded_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)
    state = models.CharField(_("state"), max_length=12, choices=ImportState.choices, default=ImportState.UPLOADED)
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    preview = models.JSONField(_("preview"), default=dict, blank=True)
    plan_digest = models.CharField(_("plan fingerprint"), max_length=64, blank=True)
    error = models.TextField(_("error"), blank=True)
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)

    class Meta:
        verbose_name = _("workbook import")
        verbose_name_plural = _("workbook imports")
        ordering = ["-uploaded_at", "-pk"]

    def __str__(self):
        return f"{self.original_name} ({self.get_state_display()})"

    @property
    def is_busy(self):
        return self.state in (ImportState.UPLOADED, ImportState.CHECKING, ImportState.APPLYING)

    @property
    def can_apply(self):
        return self.state == ImportState.CHECKED and bool(self.plan_digest)
