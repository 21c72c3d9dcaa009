"""Reads for organizations and people: scoped, set-based, a fixed number of queries."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Case, Count, DecimalField, IntegerField, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from branches import access
from branches.models import (
    COMMITTEE_POSTS,
    Attachment,
    AuditEntry,
    Cadre,
    CommitteeTerm,
    Meeting,
    Member,
    MemberCategory,
    MemberStatus,
    Organization,
    OrganizationKind,
    OrganizationStatus,
    Post,
    RoleAssignment,
    SecurityEvent,
    TermLengthRule,
    TrainingRecord,
)

DEFAULT_TERM_YEARS = 3


def term_length_years(kind, sector):
    """The committee term for a kind and sector: the sector's own rule first, then the kind's."""
    rules = {r.sector: r.years for r in TermLengthRule.objects.filter(kind=kind, sector__in=[sector, ""])}
    return rules.get(sector) or rules.get("") or DEFAULT_TERM_YEARS


def active_member_count(organization):
    return Member.objects.filter(organization=organization, status=MemberStatus.ACTIVE).count()


def _direct_member_count():
    """Active members of a branch (or of a party group), as a subquery on the organization row."""

    def count(field):
        rows = (
            Member.objects.filter(**{field: OuterRef("pk")}, status=MemberStatus.ACTIVE)
            .order_by()
            .values(field)
            .annotate(n=Count("pk"))
            .values("n")
        )
        return Coalesce(Subquery(rows, output_field=IntegerField()), 0)

    return Case(
        When(kind=OrganizationKind.PARTY_GROUP, then=count("party_group")),
        default=count("organization"),
        output_field=IntegerField(),
    )


def with_member_counts(queryset):
    return queryset.annotate(member_count=_direct_member_count())


def tree_roots(user):
    """The top organizations of the user's scope, for the tree browser."""
    if access.is_everywhere(user):
        roots = Organization.objects.filter(depth=1)
    else:
        roots = Organization.objects.filter(path__in=access.root_paths(user))
    return with_member_counts(roots.order_by("path"))


def children_of(organization):
    """Direct sub-organizations (party groups included), in tree order."""
    return with_member_counts(
        Organization.objects.filter(path__startswith=organization.path, depth=organization.depth + 1).order_by("path")
    )


def visible_ancestors(user, organization):
    """Ancestors the user may see, root first, for breadcrumbs (one query)."""
    paths = organization.ancestor_paths()
    if not paths:
        return []
    return list(access.scoped(user, Organization.objects.filter(path__in=paths)).order_by("depth"))


def search_organizations(user, text):
    """Scoped organizations whose name contains, or whose code starts with, the text."""
    text = (text or "").strip()
    queryset = access.scoped(user, Organization.objects.all())
    if text:
        queryset = queryset.filter(Q(name__icontains=text) | Q(code__istartswith=text))
    return with_member_counts(queryset.order_by("path"))


def ancestor_names(organizations):
    """Map path -> name for every ancestor of the given organizations (one query)."""
    paths = {p for org in organizations for p in org.ancestor_paths()}
    if not paths:
        return {}
    return dict(Organization.objects.filter(path__in=paths).values_list("path", "name"))


@dataclass
class MemberCounts:
    full: int = 0
    probationary: int = 0

    @property
    def total(self):
        return self.full + self.probationary


def member_counts(organization):
    """Active members in the organization's subtree, by category (one query)."""
    rows = (
        Member.objects.filter(organization__path__startswith=organization.path, status=MemberStatus.ACTIVE)
        .values("category")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts = MemberCounts()
    for row in rows:
        if row["category"] == MemberCategory.FULL:
            counts.full = row["n"]
        elif row["category"] == MemberCategory.PROBATIONARY:
            counts.probationary = row["n"]
    return counts


def subtree_kind_counts(organization):
    """Active organizations under this one, by kind (one query)."""
    rows = (
        Organization.objects.filter(path__startswith=organization.path, depth__gt=organization.depth)
        .filter(status=OrganizationStatus.ACTIVE)
        .values("kind")
        .annotate(n=Count("pk"))
        .order_by()
    )
    by_kind = {row["kind"]: row["n"] for row in rows}
    return [(kind.label, by_kind[kind.value]) for kind in OrganizationKind if by_kind.get(kind.value)]


def current_cadres(organization, today=None):
    today = today or timezone.localdate()
    return (
        Cadre.objects.filter(organization=organization, term_start__lte=today)
        .filter(Q(term_end__isnull=True) | Q(term_end__gte=today))
        .annotate(training_hours=_training_hours(), post_rank=_post_rank())
        .order_by("post_rank", "term_start", "pk")
    )


def _training_hours():
    hours = (
        TrainingRecord.objects.filter(cadre=OuterRef("pk"))
        .order_by()
        .values("cadre")
        .annotate(h=Sum("hours"))
        .values("h")
    )
    decimal = DecimalField(max_digits=8, decimal_places=1)
    return Coalesce(Subquery(hours, output_field=decimal), Value(Decimal("0")), output_field=decimal)


def _post_rank():
    """Posts in protocol order: secretary first, then deputy, committee members, staff."""
    return Case(*(When(post=post, then=rank) for rank, post in enumerate(Post)), output_field=IntegerField())


def past_cadres(organization, today=None, limit=20):
    today = today or timezone.localdate()
    return Cadre.objects.filter(organization=organization, term_end__lt=today).order_by("-term_end", "pk")[:limit]


def committee_size(cadres):
    return sum(1 for cadre in cadres if cadre.post in COMMITTEE_POSTS)


def open_committee_term(organization):
    return CommitteeTerm.objects.filter(organization=organization, ended_on__isnull=True).first()


def members_of(user, organization, text="", include_former=False):
    """The members of one branch, scoped, with an optional name search."""
    queryset = access.scoped(user, Member.objects.filter(organization=organization)).select_related("party_group")
    if not include_former:
        queryset = queryset.filter(status=MemberStatus.ACTIVE)
    if text:
        queryset = queryset.filter(name__icontains=text.strip())
    return queryset.order_by("party_group__path", "name", "pk")


# --- history ---------------------------------------------------------------------------

FIELD_LABELS_OUTSIDE_MODELS = {"parent": _("parent organization"), "attendance": _("attendance")}


def history_in_subtree(organization):
    """Audit entries of every record in the organization's subtree, newest first (scope checked by the caller)."""
    return (
        AuditEntry.objects.filter(organization__path__startswith=organization.path)
        .select_related("actor", "content_type", "organization")
        .order_by("-timestamp", "-pk")
    )


def history_of_object(user, content_type, object_pk):
    """Entries for one record (deleted ones too), limited to what the user may review."""
    entries = AuditEntry.objects.filter(content_type=content_type, object_pk=str(object_pk))
    scope = access.organization_q(user, access.REVIEW, via="organization")
    if access.administers_rules(user):
        scope |= Q(organization__isnull=True)
    return entries.filter(scope).select_related("actor", "content_type", "organization").order_by("-timestamp", "-pk")


def display_changes(entry):
    """[(field label, before, after)] for an entry, with choice labels and '—' for nothing."""
    model = entry.content_type.model_class()
    rows = []
    for name, values in (entry.changes_display_dict or {}).items():
        before, after = (list(values) + [None, None])[:2]
        label = FIELD_LABELS_OUTSIDE_MODELS.get(name, name)
        field = _field_or_none(model, name)
        if field is not None and not field.concrete and name not in FIELD_LABELS_OUTSIDE_MODELS:
            continue  # a reverse relation auditlog lists on creation: noise, not a value
        if field is not None and field.concrete:
            label = field.verbose_name
        rows.append((label, _dash(before), _dash(after)))
    return rows


def _field_or_none(model, name):
    try:
        return model._meta.get_field(name) if model is not None else None
    except Exception:  # a key that is not a field, e.g. "parent" of a move
        return None


def _dash(value):
    return "—" if value in (None, "None", "") else value


def security_events_in_subtree(user, organization):
    events = SecurityEvent.objects.filter(organization__path__startswith=organization.path)
    if access.administers_rules(user):
        events = SecurityEvent.objects.filter(
            Q(organization__path__startswith=organization.path) | Q(organization__isnull=True)
        )
    return events.select_related("user", "organization").order_by("-at", "-pk")


def attachments_of(organization):
    return Attachment.objects.filter(organization=organization).select_related("uploaded_by")


# --- meetings --------------------------------------------------------------------------


def members_on(organization, day, party_group=None):
    """Members expected at a meeting held that day: in the branch (or group) then, probationary included."""
    members = Member.objects.filter(organization=organization, joined_branch_on__lte=day).filter(
        Q(left_on__isnull=True) | Q(left_on__gt=day)
    )
    if party_group is not None:
        members = members.filter(party_group=party_group)
    return members.order_by("party_group__path", "name", "pk")


def party_groups_of(branch):
    return Organization.objects.filter(
        path__startswith=branch.path, depth=branch.depth + 1, kind=OrganizationKind.PARTY_GROUP
    ).order_by("path")


def committee_members_on(organization, day):
    return Cadre.objects.filter(organization=organization, post__in=COMMITTEE_POSTS, term_start__lte=day).filter(
        Q(term_end__isnull=True) | Q(term_end__gte=day)
    )


def meetings_of(user, organization, *, meeting_type="", span=None, text=""):
    meetings = access.scoped(user, Meeting.objects.filter(organization=organization))
    if meeting_type:
        meetings = meetings.filter(meeting_type=meeting_type)
    if span is not None:
        meetings = meetings.filter(held_on__range=(span.start, span.end))
    if text.strip():
        meetings = meetings.filter(Q(topic__icontains=text.strip()) | Q(minutes__icontains=text.strip()))
    return meetings.select_related("party_group").order_by("-held_at", "-pk")


def compliance_candidates(user, root, span, *, sector="", kind=OrganizationKind.BRANCH):
    """Organizations of the subtree that existed during the span, in tree order (one query)."""
    organizations = access.scoped(user, Organization.objects.filter(path__startswith=root.path))
    organizations = organizations.filter(Q(founded_on__isnull=True) | Q(founded_on__lte=span.end)).filter(
        Q(dissolved_on__isnull=True) | Q(dissolved_on__gte=span.start)
    )
    if kind:
        organizations = organizations.filter(kind=kind)
    if sector:
        organizations = organizations.filter(sector=sector)
    return list(organizations.order_by("path"))


# Reads for the scheduled jobs: whole-tree, set-based, no user in scope (the job acts for the system;
# who receives what is decided by role assignments).


def active_organizations():
    """Every active organization, with what compliance judging needs (a list, in tree order)."""
    return list(
        Organization.objects.filter(status=OrganizationStatus.ACTIVE)
        .only("pk", "path", "depth", "kind", "sector", "name", "status", "founded_on", "dissolved_on")
        .order_by("path")
    )


def role_holders(role):
    """(user id, organization id, organization path) for each active user holding `role`, one query."""
    return list(
        RoleAssignment.objects.filter(role=role, user__is_active=True).values_list(
            "user_id", "organization_id", "organization__path"
        )
    )


def open_terms():
    """Committee terms still running (no election held yet)."""
    return CommitteeTerm.objects.filter(ended_on__isnull=True, organization__status=OrganizationStatus.ACTIVE)


def terms_electing_between(first_day, last_day):
    """Running terms whose next election falls in the range: (id, organization id, name, election day)."""
    return list(
        open_terms()
        .filter(expected_election_on__range=(first_day, last_day))
        .values_list("pk", "organization_id", "organization__name", "expected_election_on")
    )
