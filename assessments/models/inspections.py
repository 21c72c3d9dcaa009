from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from branches.models import Attachment, Cadre, Organization
from branches.validators import reject_markup


class Inspection(models.Model):
    """A 督查 of an organization: who inspected, when, what was found."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="inspections", verbose_name=_("organization inspected")
    )
    held_on = models.DateField(_("inspected on"))
    title = models.CharField(_("title"), max_length=120, validators=[reject_markup])
    summary = models.TextField(_("summary"), blank=True, validators=[reject_markup])
    inspector = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("inspector")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("inspection")
        verbose_name_plural = _("inspections")
        ordering = ["-held_on", "-pk"]

    def __str__(self):
        return f"{self.held_on} {self.title}"


class Severity(models.TextChoices):
    MINOR = "minor", _("Minor")
    MAJOR = "major", _("Major")
    SERIOUS = "serious", _("Serious")


class FindingState(models.TextChoices):
    OPEN = "open", _("Open")
    IN_PROGRESS = "in_progress", _("Being rectified")
    SUBMITTED = "submitted", _("Rectification submitted")
    VERIFIED = "verified", _("Verified and closed")
    RETURNED = "returned", _("Sent back")


# The state machine of a finding, declared once: the allowed moves, and who makes each. The organization
# rectifies (in progress, submitted); the inspectors judge (verified, returned).
TRANSITIONS = {
    FindingState.OPEN: frozenset({FindingState.IN_PROGRESS}),
    FindingState.IN_PROGRESS: frozenset({FindingState.SUBMITTED}),
    FindingState.SUBMITTED: frozenset({FindingState.VERIFIED, FindingState.RETURNED}),
    FindingState.RETURNED: frozenset({FindingState.IN_PROGRESS}),
    FindingState.VERIFIED: frozenset(),
}
BY_ORGANIZATION = frozenset({FindingState.IN_PROGRESS, FindingState.SUBMITTED})
BY_INSPECTOR = frozenset({FindingState.VERIFIED, FindingState.RETURNED})
# The states in which a finding waits on its organization (its to-do) or on the inspectors (their queue).
AWAITING_ORGANIZATION = frozenset(state for state, moves in TRANSITIONS.items() if moves & BY_ORGANIZATION)
AWAITING_INSPECTOR = frozenset(state for state, moves in TRANSITIONS.items() if moves & BY_INSPECTOR)


class Finding(models.Model):
    """A problem found by an inspection, tracked through its rectification (整改) until verified.

    `version` guards against two people acting on the same finding at once: a transition
    applies only to the version it was made from.
    """

    inspection = models.ForeignKey(
        Inspection, on_delete=models.CASCADE, related_name="findings", verbose_name=_("inspection")
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="findings", verbose_name=_("organization")
    )
    severity = models.CharField(_("severity"), max_length=8, choices=Severity.choices, default=Severity.MINOR)
    description = models.TextField(_("problem found"), validators=[reject_markup])
    required_rectification = models.TextField(_("rectification required"), validators=[reject_markup])
    deadline = models.DateField(_("deadline"))
    responsible_cadre = models.ForeignKey(
        Cadre, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("responsible cadre")
    )
    state = models.CharField(_("state"), max_length=12, choices=FindingState.choices, default=FindingState.OPEN)
    rectification_note = models.TextField(_("rectification done"), blank=True, validators=[reject_markup])
    evidence_file = models.ForeignKey(
        Attachment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("evidence file")
    )
    version = models.PositiveIntegerField(_("version"), default=1)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("finding")
        verbose_name_plural = _("findings")
        ordering = ["deadline", "pk"]
        indexes = [models.Index(fields=["organization", "state", "deadline"])]

    def __str__(self):
        return self.description[:40]

    def is_overdue(self, today):
        return self.state != FindingState.VERIFIED and self.deadline < today

    @property
    def awaits_organization(self):
        return self.state in AWAITING_ORGANIZATION


class FindingTransition(models.Model):
    """Every move of a finding's state: who, when, from what to what, and why."""

    finding = models.ForeignKey(
        Finding, on_delete=models.CASCADE, related_name="transitions", verbose_name=_("finding")
    )
    from_state = models.CharField(_("from"), max_length=12, choices=FindingState.choices)
    to_state = models.CharField(_("to"), max_length=12, choices=FindingState.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("by")
    )
    at = models.DateTimeField(_("at"), auto_now_add=True)
    note = models.TextField(_("note"), blank=True, validators=[reject_markup])

    class Meta:
        verbose_name = _("finding transition")
        verbose_name_plural = _("finding transitions")
        ordering = ["at", "pk"]

    def __str__(self):
        return f"{self.get_from_state_display()} → {self.get_to_state_display()}"

    def audit_organization_id(self):
        return Finding.objects.filter(pk=self.finding_id).values_list("organization_id", flat=True).first()
