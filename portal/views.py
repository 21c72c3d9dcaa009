from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.defaults import page_not_found
from django.views.i18n import set_language

from assessments.models import Rating
from branches import access, audit
from branches.forms import show_service_errors
from branches.models import Role, SecurityEventKind
from portal import health, notices, selectors, services, tasks
from portal import jobs as jobs_queue
from portal.forms import ApiTokenForm, NotificationSettingsForm, RevokeForm
from portal.middleware import is_api
from portal.models import Notification


def home(request):
    """Send each user where their work is: one assignment goes straight there (a secretary to what the branch owes,
    a reviewer or assessor to the dashboard of their subtree, an admin to the tree)."""
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
        if roles & {Role.REVIEWER, Role.ASSESSOR} and access.can(user, access.OVERSEE, homes[0]):
            return redirect("dashboard")
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


@login_not_required
@require_GET
def favicon(request):
    """Browsers and tools ask for /favicon.ico whatever a page links (the admin's pages link none)."""
    return redirect(static("portal/favicon.ico"))


def not_found(request, exception):
    """An unknown address under /api/ answers in JSON, as the API answers everything; a page with the 404 page."""
    if is_api(request):
        return JsonResponse({"detail": _("Not found.")}, status=404)
    return page_not_found(request, exception)


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


# Reminders: the inbox, the person's settings, the admins' jobs page


@require_GET
def inbox(request):
    """The person's notifications, newest first, unread marked; each links to what it is about."""
    unread_only = request.GET.get("show") == "unread"
    page = Paginator(selectors.inbox_of(request.user, unread_only=unread_only), 20).get_page(request.GET.get("page"))
    entries = [{"notification": n, "title": notices.title(n), "lines": notices.detail_lines(n)} for n in page]
    return render(
        request,
        "portal/inbox.html",
        {"page": page, "entries": entries, "unread_only": unread_only, "query": "show=unread" if unread_only else ""},
    )


@require_GET
def notification_open(request, pk):
    """Mark one notification read and go to what it is about. Only the recipient may open it."""
    notification = Notification.objects.filter(pk=pk, recipient=request.user).first()
    if notification is None:
        other = Notification.objects.filter(pk=pk).values_list("organization_id", flat=True).first()
        if other is not None:
            audit.record_refusal(
                SecurityEventKind.OUT_OF_SCOPE, organization_id=other, detail=f"portal.Notification pk={pk}"
            )
        raise Http404
    services.notification_open(notification=notification, by=request.user)
    link = notification.link
    if not link or not url_has_allowed_host_and_scheme(link, allowed_hosts=None):
        return redirect("inbox")
    return redirect(link)


@require_POST
def rating_tickets_send(request, pk, audience):
    """Put the tickets of an audience of portal users into their inboxes, and go back to the tickets page."""
    rating = access.get_scoped_or_404(request.user, Rating.objects.select_related("organization"), access.REVIEW, pk=pk)
    audience = get_object_or_404(rating.audiences, pk=audience)
    try:
        sent = services.rating_tickets_send(rating=rating, audience=audience, by=request.user)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(
            request,
            ngettext("%(n)d ticket is in its holder's inbox.", "%(n)d tickets are in their holders' inboxes.", sent)
            % {"n": sent},
        )
    return redirect("assessments:rating_tickets", pk)


@require_POST
def inbox_read(request):
    """Mark the chosen notifications (or all of them) read; only the person's own are touched."""
    ids = [int(i) for i in request.POST.getlist("id") if i.isdigit()]
    count = services.notifications_mark_read(by=request.user, ids=ids or None)
    messages.success(
        request, ngettext("%(n)d notification marked read.", "%(n)d notifications marked read.", count) % {"n": count}
    )
    return redirect("inbox")


def notification_settings(request):
    preference = selectors.preference_of(request.user)
    initial = {
        "email": request.user.email,
        # Ticked only with an address to send to, so the form as first shown can be saved as it is.
        "email_enabled": preference.email_enabled and bool(request.user.email),
        "daily_digest": preference.daily_digest,
        "language": preference.language,
    }
    form = NotificationSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.preference_save(by=request.user, data=form.cleaned_data)
        messages.success(request, _("Your reminder settings are saved."))
        return redirect("notification_settings")
    return render(request, "portal/notification_settings.html", {"form": form})


def jobs(request):
    """Schedules, reminder rules, the last runs and the week's emails, for admins of the whole tree."""
    if not access.administers_rules(request.user):
        raise Http404
    if request.method == "POST":
        run = services.reminder_run_request(by=request.user)
        if jobs_queue.enqueue(tasks.send_reminders, run_id=run.pk):
            messages.success(request, _("The reminder run is queued; refresh this page to follow it."))
        else:
            messages.warning(
                request,
                _(
                    "The job queue cannot be reached just now. The run is recorded and will start by itself "
                    "within minutes of the queue coming back."
                ),
            )
        return redirect("jobs")
    return render(request, "portal/jobs.html", selectors.jobs_overview())


@login_not_required
def choose_language(request):
    """The footer's language switch. A signed-in person's reminder emails follow the choice too."""
    response = set_language(request)
    language = request.POST.get("language", "")
    if request.method == "POST" and request.user.is_authenticated and language in dict(settings.LANGUAGES):
        services.preference_language(by=request.user, language=language)
    return response


def api_tokens(request):
    """API 令牌: the person's tokens, and a new one, whose plain value is shown once, right after it is made."""
    initial = {"expires_on": timezone.localdate() + timedelta(days=90)}
    form = ApiTokenForm(request.POST or None, initial=initial)
    plain = None
    if request.method == "POST" and form.is_valid():
        try:
            token, plain = services.api_token_create(
                by=request.user, name=form.cleaned_data["name"], expires_on=form.cleaned_data["expires_on"]
            )
        except ValidationError as error:
            show_service_errors(form, error)
        else:
            messages.success(request, _("The token “%(name)s” is made.") % {"name": token.name})
            form = ApiTokenForm(initial=initial)
    return render(
        request,
        "portal/api_tokens.html",
        {
            "form": form,
            "plain": plain,
            "tokens": selectors.api_tokens_of(request.user),
            "uses": selectors.api_token_uses_of(request.user),
            "retention_days": settings.API_TOKEN_USE_DAYS,
            "administers": access.has_any(request.user, access.ADMINISTER),
            "now": timezone.now(),
            "docs_url": reverse("api_docs"),
        },
    )


@require_http_methods(["GET", "POST"])
def api_token_revoke(request, pk):
    """Revoke one of one's own tokens, after a confirmation; another person's token is not found."""
    token = get_object_or_404(selectors.api_tokens_revocable(request.user), pk=pk, revoked_at__isnull=True)
    back = "api_tokens" if token.user_id == request.user.pk else "api_tokens_administered"
    form = RevokeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.api_token_revoke(token=token, by=request.user)
        messages.success(request, _("The token “%(name)s” is revoked.") % {"name": token.name})
        return redirect(back)
    return render(request, "portal/api_token_revoke.html", {"form": form, "token": token, "back": back})


def api_tokens_administered(request):
    """For an admin: the API tokens of the people in their subtrees, to see what connects and revoke it."""
    if not access.has_any(request.user, access.ADMINISTER):
        raise Http404
    tokens = Paginator(selectors.api_tokens_administered(request.user), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "portal/api_tokens_administered.html",
        {
            "page": tokens,
            "uses": selectors.api_token_uses_administered(request.user),
            "retention_days": settings.API_TOKEN_USE_DAYS,
            "now": timezone.now(),
        },
    )


def api_docs(request):
    """The API's reference (Swagger UI from vendored files), reading the schema at /api/schema/."""
    return render(request, "portal/api_docs.html", {"schema_url": reverse("api_schema")})
