from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from branches import access, audit
from branches.models import Role, SecurityEventKind
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
            if homes[0].kind == "branch":
                return redirect("branches:meetings_owed", pk=homes[0].pk)
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


def csrf_failure(request, reason=""):
    """A forged or missing CSRF token: refused, explained in the user's language, and recorded."""
    audit.record_refusal(SecurityEventKind.CSRF, detail=reason)
    return render(request, "403_csrf.html", status=403)


def locked_out(request, original_response=None, credentials=None):
    """django-axes calls this when a user and address have failed too often: say when to retry."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    retry_at = timezone.localtime() + settings.AXES_COOLOFF_TIME
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    context = {"retry_at": retry_at, "minutes": minutes, "username": username}
    return render(request, "registration/locked_out.html", context, status=429)
