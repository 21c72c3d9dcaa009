from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

import assessments.api.urls
import branches.api.urls
from portal import views, views_dashboard
from portal.forms import SignInForm


def api_patterns(*modules):
    """The API's routes: they answer 401 in JSON to a caller without a token, never a sign-in redirect."""
    patterns = [pattern for module in modules for pattern in module.urlpatterns]
    for pattern in patterns:
        login_not_required(pattern.callback)
    return patterns


handler404 = "portal.views.not_found"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz/", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=SignInForm, redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    # Switching language must work on the sign-in page too.
    path("i18n/setlang/", views.choose_language, name="set_language"),
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/<int:pk>/", views.notification_open, name="notification_open"),
    path("inbox/read/", views.inbox_read, name="inbox_read"),
    path("inbox/settings/", views.notification_settings, name="notification_settings"),
    path("jobs/", views.jobs, name="jobs"),
    path("dashboard/", views_dashboard.dashboard, name="dashboard"),
    path("dashboard/<int:pk>/", views_dashboard.dashboard, name="dashboard_organization"),
    path("dashboard/<int:pk>/report/", views_dashboard.dashboard_report, name="dashboard_report"),
    path("dashboard/reports/<int:pk>/", views_dashboard.dashboard_report_job, name="dashboard_report_job"),
    path(
        "dashboard/reports/<int:pk>/download/",
        views_dashboard.dashboard_report_download,
        name="dashboard_report_download",
    ),
    path("accounts/api-tokens/", views.api_tokens, name="api_tokens"),
    path("accounts/api-tokens/<int:pk>/revoke/", views.api_token_revoke, name="api_token_revoke"),
    path("accounts/api-tokens/administered/", views.api_tokens_administered, name="api_tokens_administered"),
    path("api/v1/", include((api_patterns(branches.api.urls, assessments.api.urls), "api"))),
    path("api/schema/", login_not_required(SpectacularAPIView.as_view()), name="api_schema"),
    path("api/docs/", views.api_docs, name="api_docs"),
    path("orgs/", include("branches.urls")),
    # Ratings' tickets into portal users' inboxes: a portal service (notifications), on the assessments' tickets page.
    path(
        "work/ratings/<int:pk>/audiences/<int:audience>/inbox/",
        views.rating_tickets_send,
        name="rating_tickets_send",
    ),
    path("work/", include("assessments.urls")),
    # The voter's pages of a rating by ticket: public, the ticket is the credential (assessments.views_vote).
    path("r/", include("assessments.urls_vote")),
    path("admin/", admin.site.urls),
]
