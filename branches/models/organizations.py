from django.db import models
from django.utils.translation import gettext_lazy as _
from treebeard.mp_tree import MP_Node

from branches.validators import reject_markup, validate_code


class OrganizationKind(models.TextChoices):
    # The oversight level (县委, 机关工委) that a county organization department works from.
    COMMITTEE = "committee", _("Party committee")
    PRIMARY_COMMITTEE = "primary_committee", _("Primary-level Party committee")
    GENERAL_BRANCH = "general_branch", _("General Party branch")
    BRANCH = "branch", _("Party branch")
    PARTY_GROUP = "party_group", _("Party group")


# Which kind may sit under which: the structure of the Party Constitution, not a local rule.
ALLOWED_PARENT_KINDS = {
    OrganizationKind.COMMITTEE: {None, OrganizationKind.COMMITTEE},
    OrganizationKind.PRIMARY_COMMITTEE: {None, OrganizationKind.COMMITTEE, OrganizationKind.PRIMARY_COMMITTEE},
    OrganizationKind.GENERAL_BRANCH: {None, OrganizationKind.COMMITTEE, OrganizationKind.PRIMARY_COMMITTEE},
    OrganizationKind.BRANCH: {
        None,
        OrganizationKind.COMMITTEE,
        OrganizationKind.PRIMARY_COMMITTEE,
        OrganizationKind.GENERAL_BRANCH,
    },
    OrganizationKind.PARTY_GROUP: {OrganizationKind.BRANCH},
}


class Sector(models.TextChoices):
    ORGAN = "organ", _("Government organ")
    PUBLIC_INSTITUTION = "public_institution", _("Public institution")
    STATE_ENTERPRISE = "state_enterprise", _("State-owned enterprise")
    PRIVATE_ENTERPRISE = "private_enterprise", _("Non-public enterprise")
    VILLAGE = "village", _("Village")
    COMMUNITY = "community", _("Community")
    SCHOOL = "school", _("School")
    SOCIAL_ORGANIZATION = "social_organization", _("Social organization")


class OrganizationStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    DISSOLVED = "dissolved", _("Dissolved")


class Organization(MP_Node):
    """A node of the Party organization tree.

    The materialized path (`path`, from treebeard) makes "everything under X" one
    indexed prefix filter: ``path__startswith=x.path``.
    """

    code = models.CharField(_("organization code"), max_length=32, unique=True, validators=[validate_code])
    name = models.CharField(_("name"), max_length=120, db_index=True, validators=[reject_markup])
    kind = models.CharField(_("kind"), max_length=24, choices=OrganizationKind.choices)
    sector = models.CharField(_("sector"), max_length=24, choices=Sector.choices)
    founded_on = models.DateField(_("founded on"), null=True, blank=True)
    staff_headcount = models.PositiveIntegerField(
        _("staff headcount"),
        null=True,
        blank=True,
        help_text=_("Employees of the unit, for the party-affairs staffing ratio."),
    )
    status = models.CharField(
        _("status"), max_length=12, choices=OrganizationStatus.choices, default=OrganizationStatus.ACTIVE
    )
    dissolved_on = models.DateField(_("dissolved on"), null=True, blank=True)
    dissolution_reason = models.CharField(
        _("reason for dissolution"), max_length=200, blank=True, validators=[reject_markup]
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        ordering = ["path"]
        indexes = [
            models.Index(fields=["kind", "sector"]),
            # "The children of X" is depth = d + 1 and a path prefix: one range scan with this index.
            models.Index(
                fields=["depth", "path"], name="organization_depth_path", opclasses=["int4_ops", "varchar_pattern_ops"]
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status="active", dissolved_on__isnull=True)
                | models.Q(status="dissolved", dissolved_on__isnull=False),
                name="organization_dissolved_has_date",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def is_active(self):
        return self.status == OrganizationStatus.ACTIVE

    @property
    def is_party_group(self):
        return self.kind == OrganizationKind.PARTY_GROUP

    @property
    def has_members(self):
        return self.kind == OrganizationKind.BRANCH

    def ancestor_paths(self):
        """Paths of every ancestor, root first (no query)."""
        step = self.steplen
        return [self.path[:end] for end in range(step, len(self.path), step)]

    def is_within(self, other):
        return self.path.startswith(other.path)
