from django.urls import reverse

from branches import access
from branches.models import Role
from portal import selectors


def navigation(request):
    """What the header shows: the user's roles decide the menu."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    # A page may render more than one context (tables, forms): work it out once per request.
    if not hasattr(request, "_portal_navigation"):
        request._portal_navigation = _navigation(user)
    return request._portal_navigation


def _navigation(user):
    roles = access.roles(user)
    everywhere = access.is_everywhere(user)
    grants = access.grants(user)
    # Straight links to where each role works; ids come from the grants already read (no extra query).
    # A role in a dissolved organization only reads: it leads to that branch's records, never to review work.
    outermost = sorted(grants, key=lambda g: (not g.active, len(g.path)))

    def first(*kinds, dissolved_too=False):
        return next((g.organization_id for g in outermost if g.role in kinds and (g.active or dissolved_too)), None)

    secretary_of = first(Role.SECRETARY, dissolved_too=True)
    reviewer_of = first(Role.REVIEWER, Role.ADMIN)
    inspector_of = first(Role.REVIEWER, Role.ASSESSOR, Role.ADMIN)
    return {
        "nav": {
            "unread": selectors.unread_count(user),
            "jobs": access.administers_rules(user),
            "roles": sorted(Role(r).label for r in roles),
            "tree": everywhere or bool(roles),
            "review": everywhere or reviewer_of is not None,
            "dashboard": everywhere or inspector_of is not None,
            "admin": access.has_any(user, access.ADMINISTER),
            "secretary": Role.SECRETARY in roles,
            "owed_url": reverse("branches:meetings_owed", args=[secretary_of]) if secretary_of else "",
            "compliance_url": reverse("branches:compliance", args=[reviewer_of]) if reviewer_of else "",
            "todo_url": reverse("assessments:todo", args=[secretary_of]) if secretary_of else "",
            "three_lists_url": reverse("assessments:three_lists", args=[reviewer_of]) if reviewer_of else "",
            "findings_url": reverse("assessments:findings_queue", args=[inspector_of]) if inspector_of else "",
            "rubrics": everywhere or inspector_of is not None,
            "rounds": everywhere or bool(roles),
        }
    }
