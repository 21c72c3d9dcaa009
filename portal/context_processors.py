from branches import access
from branches.models import Role


def navigation(request):
    """What the header shows: the user's roles decide the menu."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    roles = access.roles(user)
    everywhere = access.is_everywhere(user)
    return {
        "nav": {
            "roles": sorted(Role(r).label for r in roles),
            "tree": everywhere or bool(roles),
            "review": everywhere or Role.REVIEWER in roles or Role.ADMIN in roles,
            "admin": everywhere or Role.ADMIN in roles,
            "secretary": Role.SECRETARY in roles,
        }
    }
