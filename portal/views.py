from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from branches import access
from branches.models import Role
from portal import health


def home(request):
    """Send each user where their work is: one assignment goes straight there."""
    user = request.user
    homes = list(access.home_organizations(user))
    if access.is_everywhere(user) and not homes:
        return redirect("branches:tree")
    if len(homes) == 1:
        roles = access.roles(user)
        if roles <= {Role.SECRETARY}:
            return redirect("branches:organization", pk=homes[0].pk)
        return redirect("branches:tree")
    grants = access.grants(user)
    cards = [
        {"organization": org, "roles": sorted(Role(g.role).label for g in grants if g.organization_id == org.pk)}
        for org in homes
    ]
    return render(request, "portal/home.html", {"cards": cards})


@login_not_required
@never_cache
@require_GET
def healthz(request):
    database = health.database_state(connection)
    broker = health.broker_state()
    status = 200 if database == "ok" else 503
    return JsonResponse(
        {"status": "ok" if status == 200 else "error", "database": database, "broker": broker}, status=status
    )
