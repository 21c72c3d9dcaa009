import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from branches.models.organizations import Organization, OrganizationKind, Sector
from branches.validators import reject_markup, validate_code


def new_member_number():
    """A member ID the portal gives when none is typed: 16 hex digits, unique in practice."""
    return uuid.uuid4().hex[:16].upper()


class Gender(models.TextChoices):
    MALE = "male", _("Male")
    FEMALE = "female", _("Female")


class MemberCategory(models.TextChoices):
    FULL = "full", _("Full member")
    PROBATIONARY = "probationary", _("Probationary member")


class MemberStatus(models.TextChoices):
    ACTIVE = "active", _("In the branch")
    TRANSFERRED_OUT = "transferred_out", _("Transferred out")
    DECEASED = "deceased", _("Deceased")
    EXPELLED = "expelled", _("Left the Party")


class Member(models.Model):
    """A Party member's place in one branch.

    A transfer closes this record (``left_on``) and opens one in the new branch, so
    "the members of a branch on a date" stays answerable for past meetings.
    Personal data is kept to what the portal needs.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="members", verbose_name=_("branch")
    )
    party_group = models.ForeignKey(
        Organization,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="group_members",
        verbose_name=_("party group"),
        limit_choices_to={"kind": OrganizationKind.PARTY_GROUP},
    )
    number = models.CharField(
        _("member ID"),
        max_length=32,
        default=new_member_number,
        validators=[validate_code],
        help_text=_(
            "The member's ID, the same in every branch the member passes through; given by the portal if left empty."
        ),
    )
    name = models.CharField(_("full name"), max_length=60, validators=[reject_markup])
    gender = models.CharField(_("gender"), max_length=8, choices=Gender.choices)
    category = models.CharField(_("category"), max_length=16, choices=MemberCategory.choices)
    joined_party_on = models.DateField(_("joined the Party on"))
    joined_branch_on = models.DateField(_("joined this branch on"))
    status = models.CharField(_("status"), max_length=16, choices=MemberStatus.choices, default=MemberStatus.ACTIVE)
    left_on = models.DateField(_("left the branch on"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("Party member")
        verbose_name_plural = _("Party members")
        ordering = ["organization", "name", "pk"]
        indexes = [models.Index(fields=["organization", "status"]), models.Index(fields=["number"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(left_on__isnull=True) | models.Q(left_on__gte=models.F("joined_branch_on")),
                name="member_leaves_after_joining",
            ),
            # One record per member and branch: a transfer closes this one and opens one in the new branch.
            models.UniqueConstraint(fields=["organization", "number"], name="member_number_unique_in_branch"),
        ]

    def __str__(self):
        return self.name


class Post(models.TextChoices):
    SECRETARY = "secretary", _("Secretary")
    DEPUTY_SECRETARY = "deputy_secretary", _("Deputy secretary")
    ORGANIZATION_MEMBER = "organization_member", _("Organization committee member")
    PUBLICITY_MEMBER = "publicity_member", _("Publicity committee member")
    DISCIPLINE_MEMBER = "discipline_member", _("Discipline committee member")
    COMMITTEE_MEMBER = "committee_member", _("Committee member")
    PARTY_AFFAIRS_STAFF = "party_affairs_staff", _("Party-affairs officer")
    GROUP_LEADER = "group_leader", _("Party group leader")


# Posts that sit on the committee (支委会) itself, for quorum and committee size.
COMMITTEE_POSTS = {
    Post.SECRETARY,
    Post.DEPUTY_SECRETARY,
    Post.ORGANIZATION_MEMBER,
    Post.PUBLICITY_MEMBER,
    Post.DISCIPLINE_MEMBER,
    Post.COMMITTEE_MEMBER,
}


class Employment(models.TextChoices):
    FULL_TIME = "full_time", _("Full-time")
    PART_TIME = "part_time", _("Part-time")


class Cadre(models.Model):
    """A person holding a post in an organization for a term (党务干部)."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="cadres", verbose_name=_("organization")
    )
    member = models.ForeignKey(
        Member,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="posts",
        verbose_name=_("linked Party member"),
    )
    name = models.CharField(_("full name"), max_length=60, validators=[reject_markup])
    post = models.CharField(_("post"), max_length=24, choices=Post.choices)
    employment = models.CharField(_("employment"), max_length=12, choices=Employment.choices)
    also_unit_head = models.BooleanField(
        _("also heads the unit"), default=False, help_text=_("The secretary is also the administrative head.")
    )
    term_start = models.DateField(_("term start"))
    term_end = models.DateField(_("term end"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("cadre")
        verbose_name_plural = _("cadres")
        ordering = ["organization", "post", "term_start", "pk"]
        indexes = [models.Index(fields=["organization", "term_end"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(term_end__isnull=True) | models.Q(term_end__gte=models.F("term_start")),
                name="cadre_term_ends_after_start",
            ),
        ]

    def __str__(self):
        return f"{self.name}（{self.get_post_display()}）"

    def is_serving_on(self, day):
        return self.term_start <= day and (self.term_end is None or self.term_end >= day)


class TermLengthRule(models.Model):
    """How many years a committee serves, by kind and (optionally) sector. Rules as data."""

    kind = models.CharField(_("kind"), max_length=24, choices=OrganizationKind.choices)
    sector = models.CharField(
        _("sector"),
        max_length=24,
        choices=Sector.choices,
        blank=True,
        help_text=_("Leave empty to apply to every sector."),
    )
    years = models.PositiveSmallIntegerField(_("term length (years)"))

    class Meta:
        verbose_name = _("committee term rule")
        verbose_name_plural = _("committee term rules")
        ordering = ["kind", "sector"]
        constraints = [models.UniqueConstraint(fields=["kind", "sector"], name="term_rule_unique_kind_sector")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.get_sector_display() or ''} {self.years}"


class CommitteeTerm(models.Model):
    """One term of an organization's committee (届), from election to the next election."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="committee_terms", verbose_name=_("organization")
    )
    started_on = models.DateField(_("elected on"))
    length_years = models.PositiveSmallIntegerField(_("term length (years)"))
    expected_election_on = models.DateField(_("next election due"))
    ended_on = models.DateField(_("ended on"), null=True, blank=True)

    class Meta:
        verbose_name = _("committee term")
        verbose_name_plural = _("committee terms")
        ordering = ["organization", "-started_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(ended_on__isnull=True),
                name="committee_term_one_open_per_organization",
            ),
            models.CheckConstraint(
                condition=models.Q(ended_on__isnull=True) | models.Q(ended_on__gte=models.F("started_on")),
                name="committee_term_ends_after_start",
            ),
        ]

    def __str__(self):
        return f"{self.organization} {self.started_on:%Y}"


class TrainingRecord(models.Model):
    """A course a cadre attended, for the training-coverage indicators."""

    cadre = models.ForeignKey(Cadre, on_delete=models.CASCADE, related_name="trainings", verbose_name=_("cadre"))
    course = models.CharField(_("course"), max_length=120, validators=[reject_markup])
    organizer = models.CharField(_("organizer"), max_length=120, validators=[reject_markup])
    held_on = models.DateField(_("held on"))
    hours = models.DecimalField(_("hours"), max_digits=5, decimal_places=1)

    class Meta:
        verbose_name = _("training record")
        verbose_name_plural = _("training records")
        ordering = ["-held_on", "pk"]
        constraints = [models.CheckConstraint(condition=models.Q(hours__gt=0), name="training_hours_positive")]

    def __str__(self):
        return f"{self.course} ({self.held_on})"

    def audit_organization_id(self):
        """A training record belongs to its cadre's organization, so it shows in that organization's history."""
        return Cadre.objects.filter(pk=self.cadre_id).values_list("organization_id", flat=True).first()
