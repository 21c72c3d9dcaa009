from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from branches.models import Attachment, Cadre, Meeting, Organization, OrganizationKind, Post, Sector
from branches.validators import reject_markup


class BuildingArea(models.TextChoices):
    IDEOLOGICAL = "ideological", _("Ideological building")
    ORGANIZATIONAL = "organizational", _("Organizational building")
    WORK_STYLE = "work_style", _("Work-style building")
    INTEGRITY = "integrity", _("Discipline and integrity building")
    INSTITUTIONAL = "institutional", _("Institutional building")


class ResponsibilityTemplate(models.Model):
    """A standard responsibility list for a year (责任清单模板), written by a committee for its subtree."""

    owner = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="responsibility_templates",
        verbose_name=_("written by"),
    )
    year = models.PositiveSmallIntegerField(_("year"))
    title = models.CharField(_("title"), max_length=120, validators=[reject_markup])
    organization_kind = models.CharField(
        _("for organizations of kind"),
        max_length=24,
        choices=OrganizationKind.choices,
        default=OrganizationKind.BRANCH,
    )
    sector = models.CharField(
        _("sector"),
        max_length=24,
        choices=Sector.choices,
        blank=True,
        help_text=_("Leave empty to apply to every sector."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("responsibility list template")
        verbose_name_plural = _("responsibility list templates")
        ordering = ["-year", "title"]

    def __str__(self):
        return f"{self.year} {self.title}"

    def audit_organization_id(self):
        return self.owner_id


class TemplateItem(models.Model):
    template = models.ForeignKey(
        ResponsibilityTemplate, on_delete=models.CASCADE, related_name="items", verbose_name=_("template")
    )
    area = models.CharField(_("building area"), max_length=16, choices=BuildingArea.choices)
    text = models.CharField(_("duty"), max_length=300, validators=[reject_markup])
    due_on = models.DateField(_("due on"))
    responsible_post = models.CharField(
        _("responsible post"), max_length=24, choices=Post.choices, default=Post.SECRETARY
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("template item")
        verbose_name_plural = _("template items")
        ordering = ["template", "position", "pk"]

    def __str__(self):
        return self.text

    def clean(self):
        if self.due_on and self.template_id and self.due_on.year != self.template.year:
            raise ValidationError(
                {"due_on": _("The due date must fall within %(year)d.") % {"year": self.template.year}}
            )

    def audit_organization_id(self):
        return ResponsibilityTemplate.objects.filter(pk=self.template_id).values_list("owner_id", flat=True).first()


class ResponsibilityList(models.Model):
    """One organization's list for a year: issued from a template (下发), or its own."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="responsibility_lists", verbose_name=_("organization")
    )
    year = models.PositiveSmallIntegerField(_("year"))
    template = models.ForeignKey(
        ResponsibilityTemplate,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="issued_lists",
        verbose_name=_("issued from"),
    )
    title = models.CharField(_("title"), max_length=120)
    issued_at = models.DateTimeField(_("issued at"), null=True, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("issued by"),
    )

    class Meta:
        verbose_name = _("responsibility list")
        verbose_name_plural = _("responsibility lists")
        ordering = ["-year", "organization"]
        constraints = [
            # Issuing the same template twice creates nothing twice.
            models.UniqueConstraint(
                fields=["organization", "template"],
                name="list_once_per_template",
                condition=models.Q(template__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["organization", "year"], name="one_own_list_a_year", condition=models.Q(template__isnull=True)
            ),
        ]

    def __str__(self):
        return f"{self.organization} {self.year} {self.title}"


class ItemStatus(models.TextChoices):
    OPEN = "open", _("Not done")
    DONE = "done", _("Done")


class ResponsibilityItem(models.Model):
    """A duty on an organization's list. Copied from the template when issued: later template edits
    never rewrite it. Overdue is derived (open and past due), never stored."""

    responsibility_list = models.ForeignKey(
        ResponsibilityList, on_delete=models.CASCADE, related_name="items", verbose_name=_("list")
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="responsibility_items", verbose_name=_("organization")
    )
    source = models.ForeignKey(
        TemplateItem,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("template item"),
    )
    area = models.CharField(_("building area"), max_length=16, choices=BuildingArea.choices)
    text = models.CharField(_("duty"), max_length=300, validators=[reject_markup])
    due_on = models.DateField(_("due on"))
    responsible_post = models.CharField(
        _("responsible post"), max_length=24, choices=Post.choices, default=Post.SECRETARY
    )
    responsible_cadre = models.ForeignKey(
        Cadre, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("responsible cadre")
    )
    status = models.CharField(_("status"), max_length=8, choices=ItemStatus.choices, default=ItemStatus.OPEN)
    evidence_note = models.TextField(_("evidence"), blank=True, validators=[reject_markup])
    evidence_file = models.ForeignKey(
        Attachment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("evidence file")
    )
    evidence_meeting = models.ForeignKey(
        Meeting,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("evidence meeting"),
    )
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("completed by"),
    )
    version = models.PositiveIntegerField(_("version"), default=1)

    class Meta:
        verbose_name = _("responsibility item")
        verbose_name_plural = _("responsibility items")
        ordering = ["due_on", "pk"]
        indexes = [models.Index(fields=["organization", "status", "due_on"])]

    def __str__(self):
        return self.text

    def is_overdue(self, today):
        return self.status == ItemStatus.OPEN and self.due_on < today
