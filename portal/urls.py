from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from portal import views
from portal.forms import SignInForm

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
    path("orgs/", include("branches.urls")),
    path("work/", include("assessments.urls")),
    path("admin/", admin.site.urls),
]
