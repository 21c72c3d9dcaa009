"""The one access helper: every read and write in the portal asks it.

A user holds role assignments ``(user, organization, role)``; each covers the
organization's whole subtree. Each role grants a set of actions. Scoping is a
path-prefix filter on the materialized tree path, so it stays one indexed
condition however large the tree.

    visible = scoped(user, Meeting.objects.all(), via="organization")
    org = get_scoped_or_404(user, Organization.objects.all(), pk=pk, action=EDIT)
    require(by, EDIT, organization)  # first thing in every service that writes for a user

Jobs, commands and the demo seeding act as the system: they pass `by=system_user()`.
"""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404

from branches.models import Organization, OrganizationStatus, Role, RoleAssignment

VIEW = "view"
EDIT = "edit"  # change the organization's own records: members, cadres, meetings …
REVIEW = "review"  # watch compliance and review across the subtree
ASSESS = "assess"  # score what is assigned
ADMINISTER = "administer"  # the tree itself, rules, users and roles, Django admin

ACTIONS = (VIEW, EDIT, REVIEW, ASSESS, ADMINISTER)

# The organization department's work over a subtree (its dashboards): reviewing or assessing it. Every function
# below that takes an action also takes a tuple of them, meaning any one of them.
OVERSEE = (REVIEW, ASSESS)

ROLE_ACTIONS = {
    Role.SECRETARY: frozenset({VIEW, EDIT}),
    Role.REVIEWER: frozenset({VIEW, REVIEW}),
    Role.ASSESSOR: frozenset({VIEW, ASSESS}),
    Role.ADMIN: frozenset(ACTIONS),
}


# A role in a dissolved organization still lets its holder read the organization's records
# (a former secretary answers for what the branch logged), and nothing more.
READ_ONLY = frozenset({VIEW})


@dataclass(frozen=True)
class Grant:
    organization_id: int
    path: str
    role: str
    active: bool = True  # False: the organization was dissolved

    @property
    def actions(self):
        return ROLE_ACTIONS[self.role] if self.active else ROLE_ACTIONS[self.role] & READ_ONLY


def grants(user):
    """The user's role assignments, read once per user object (so once per request)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return ()
    cached = getattr(user, "_portal_grants", None)
    if cached is None:
        rows = RoleAssignment.objects.filter(user=user).values_list(
            "organization_id", "organization__path", "role", "organization__status"
        )
        cached = tuple(
            Grant(org_id, path, role, status == OrganizationStatus.ACTIVE) for org_id, path, role, status in rows
        )
        user._portal_grants = cached
    return cached


def forget(user):
    """Drop the cached grants (after the user's roles change)."""
    user.__dict__.pop("_portal_grants", None)


def is_everywhere(user):
    return bool(getattr(user, "is_superuser", False) and user.is_active)


def _wanted(action):
    return (action,) if isinstance(action, str) else tuple(action)


def root_paths(user, action=VIEW):
    """The outermost paths the user may act on (any of several, given a tuple); nested grants are folded into their
    ancestor."""
    wanted = _wanted(action)
    paths = sorted({g.path for g in grants(user) if any(each in g.actions for each in wanted)})
    outer = []
    for path in paths:
        if not any(path.startswith(kept) for kept in outer):
            outer.append(path)
    return outer


def roles(user):
    return {g.role for g in grants(user)}


def has_any(user, action=VIEW):
    return is_everywhere(user) or bool(root_paths(user, action))


def can(user, action, organization):
    """May the user do `action` on this organization? No query beyond the cached grants."""
    if is_everywhere(user):
        return True
    return any(organization.path.startswith(path) for path in root_paths(user, action))


def organization_q(user, action=VIEW, via=None):
    """A Q that keeps only rows whose organization is in the user's scope.

    `via` is the lookup from the queried model to its Organization
    (None when querying Organization itself, "organization" for most records).
    """
    if is_everywhere(user):
        return Q()
    field = f"{via}__path__startswith" if via else "path__startswith"
    paths = root_paths(user, action)
    if not paths:
        return Q(pk__in=[])
    condition = Q()
    for path in paths:
        condition |= Q(**{field: path})
    return condition


def scoped(user, queryset, action=VIEW, via="organization"):
    if queryset.model is Organization:
        via = None
    return queryset.filter(organization_q(user, action, via))


def get_scoped_or_404(user, queryset, action=VIEW, via="organization", **lookup):
    """Fetch one object by id only if it lies in the user's scope: otherwise 404, never 403.

    A 404 tells a curious user nothing about whether another branch's record exists.
    """
    try:
        return scoped(user, queryset, action, via).get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        _record_if_out_of_scope(queryset, via, lookup)
        raise Http404 from None


def _record_if_out_of_scope(queryset, via, lookup):
    """A request for a record that exists but lies outside the user's scope is kept as a security event."""
    from branches import audit
    from branches.models import SecurityEventKind

    field = "pk" if queryset.model is Organization else f"{via}_id"
    try:
        organization_id = queryset.filter(**lookup).values_list(field, flat=True).first()
    except (ValueError, TypeError):
        return
    if organization_id is not None:
        audit.record_refusal(
            SecurityEventKind.OUT_OF_SCOPE,
            organization_id=organization_id,
            detail=f"{queryset.model._meta.label} {lookup}",
        )


def home_organizations(user):
    """The organizations where the user's assignments sit, outermost first (for navigation)."""
    if not grants(user):
        return Organization.objects.none()
    return Organization.objects.filter(pk__in={g.organization_id for g in grants(user)}).order_by("depth", "path")


def administers_rules(user):
    """Rules (term lengths, requirements, rubrics) hold for the whole tree: only an admin of a root edits them."""
    if is_everywhere(user):
        return True
    return any(len(path) == Organization.steplen for path in root_paths(user, ADMINISTER))


def require(user, action, organization):
    """Raise PermissionDenied unless the user may do `action` (or any of several) on the organization.

    `organization` None stands for the whole tree (its rules, a new root): only an admin of a root acts there.
    Every service that writes on behalf of a user calls this before it validates or writes anything.
    """
    actions = _wanted(action)
    if organization is None:
        allowed = ADMINISTER in actions and administers_rules(user)
    else:
        allowed = any(can(user, each, organization) for each in actions)
    if not allowed:
        raise PermissionDenied


SYSTEM_USERNAME = "portal-system"


def system_user():
    """The actor of jobs, management commands and the demo seeding, which act for the portal itself.

    A superuser without a usable password, so nobody can sign in as it; the audit trail names it.
    """
    user, created = get_user_model().objects.get_or_create(
        username=SYSTEM_USERNAME, defaults={"is_superuser": True, "is_staff": False}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user
