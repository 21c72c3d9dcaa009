from django.db import models
from django.utils.translation import gettext_lazy as _

from branches.models import Organization


class DutyMonthSummary(models.Model):
    """One organization's responsibility duties and inspection findings in one month (its first day, Beijing time).

    Kept current by the services that change duties and findings, in the same transaction, and rebuilt from the
    records by `assessments.summaries.rebuild`. What each figure counts (and why none depends on today) is
    described in assessments/summaries.py.
    """

    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="duty_month_summaries",
        verbose_name=_("organization"),
        db_index=False,  # the unique key (organization, month) leads with it
    )
    month = models.DateField(_("month"))  # its first day
    duties_due = models.PositiveIntegerField(_("duties due"), default=0)
    duties_on_time = models.PositiveIntegerField(_("duties done on time"), default=0)
    duties_late = models.PositiveIntegerField(_("duties done late"), default=0)
    duties_open = models.PositiveIntegerField(_("duties not done"), default=0)
    findings_opened = models.PositiveIntegerField(_("findings opened"), default=0)
    findings_open = models.PositiveIntegerField(_("findings opened and not yet closed"), default=0)
    findings_closed = models.PositiveIntegerField(_("findings closed"), default=0)
    findings_closed_late = models.PositiveIntegerField(_("findings closed after their deadline"), default=0)

    class Meta:
        verbose_name = _("duty and finding month summary")
        verbose_name_plural = _("duty and finding month summaries")
        indexes = [models.Index(fields=["month", "organization"], name="duty_summary_month_org")]
        constraints = [
            models.UniqueConstraint(fields=["organization", "month"], name="duty_month_summary_unique"),
        ]

    def __str__(self):
        return f"{self.organization_id} {self.month:%Y-%m}"

    FIGURES = (
        "duties_due",
        "duties_on_time",
        "duties_late",
        "duties_open",
        "findings_opened",
        "findings_open",
        "findings_closed",
        "findings_closed_late",
    )

    def key(self):
        return (self.organization_id, self.month)

    def figures(self):
        return tuple(getattr(self, name) for name in self.FIGURES)
