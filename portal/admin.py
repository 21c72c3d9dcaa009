"""Admin for reminders: lead times and schedules (whole-tree rules), every send with its errors, every run.

django-celery-beat's own admin classes are registered again with the portal's rule permissions,
so that an admin of the whole tree edits schedules and nobody else does.
"""

from cron_descriptor import (
    ExpressionDescriptor,
    FormatException,
    MissingFieldException,
    Options,
    WrongArgumentException,
)
from django import forms
from django.contrib import admin, messages
from django.utils.translation import get_language, gettext_lazy, ngettext
from django.utils.translation import gettext as _
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, SolarSchedule

from branches.admin import ReadOnlyScopedAdmin, RulePermissions, titled_filter
from portal import services
from portal.models import DashboardSetting, Notification, ReminderRule, ReminderRun


@admin.register(ReminderRule)
class ReminderRuleAdmin(RulePermissions, admin.ModelAdmin):
    list_display = ("topic", "timing", "days", "active")
    list_filter = ("topic", "timing", "active")
    list_editable = ("days", "active")


@admin.register(DashboardSetting)
class DashboardSettingAdmin(RulePermissions, admin.ModelAdmin):
    """One row: the staffing norm and how far ahead the dashboards flag a committee's election."""

    list_display = ("__str__", "staffing_min_share", "staffing_max_share", "term_warning_days")

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not DashboardSetting.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        saved = services.dashboard_setting_save(
            data={name: form.cleaned_data[name] for name in form.changed_data}, by=request.user
        )
        obj.pk = saved.pk


@admin.register(Notification)
class NotificationAdmin(ReadOnlyScopedAdmin):
    """Every notification and its email: sent, skipped (and why), failed (with the error), withdrawn."""

    list_display = (
        "created_at",
        "recipient",
        "kind",
        "organization",
        "window",
        "email_state",
        "attempts",
        "last_error",
    )
    list_filter = ("email_state", "kind", "created_at")
    search_fields = ("recipient__username", "organization__name", "subject", "last_error")
    list_select_related = ("recipient", "organization")
    date_hierarchy = "created_at"
    actions = ("retry_failed",)

    @admin.action(description=_("Send the failed emails again"))
    def retry_failed(self, request, queryset):
        count = services.notifications_retry(queryset=queryset, by=request.user)
        self.message_user(
            request,
            ngettext("%(n)d email will be sent again.", "%(n)d emails will be sent again.", count) % {"n": count},
            messages.SUCCESS,
        )


@admin.register(ReminderRun)
class ReminderRunAdmin(RulePermissions, admin.ModelAdmin):
    list_display = ("created_at", "today", "state", "requested_by", "created", "withdrawn", "emailed", "email_errors")
    list_filter = ("state",)
    readonly_fields = [f.name for f in ReminderRun._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


for model in (PeriodicTask, CrontabSchedule, IntervalSchedule, ClockedSchedule, SolarSchedule):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


def schedule_in_words(crontab):
    """A cron schedule said in the active language ("在 07:00" / "At 07:00") with its time zone.

    django-celery-beat describes schedules in English only; cron-descriptor, which it uses, speaks Chinese."""
    if crontab is None:
        return ""
    options = Options()
    options.locale_code = "zh_CN" if (get_language() or "").startswith("zh") else "en_US"
    options.use_24hour_time_format = True
    fields = (crontab.minute, crontab.hour, crontab.day_of_month, crontab.month_of_year, crontab.day_of_week)
    try:
        words = ExpressionDescriptor(" ".join(str(f) for f in fields), options).get_description()
    except (FormatException, MissingFieldException, WrongArgumentException):
        return ""
    return f"{words} ({crontab.timezone})"


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(RulePermissions, beat_admin.PeriodicTaskAdmin):
    # The stock form template adds an inline script, which the portal's Content-Security-Policy refuses.
    change_form_template = "admin/change_form.html"
    # django-celery-beat's section titles, column names and task filter have no Chinese: ours.
    list_display = ("name", "enabled", "schedule", "start_time", "last_run_at", "one_off")
    list_filter = ("enabled", "one_off", ("task", titled_filter(admin.AllValuesFieldListFilter, gettext_lazy("task"))))
    fieldsets = (
        (None, {"fields": ("name", "regtask", "task", "enabled", "description")}),
        (
            gettext_lazy("Schedule"),
            {"fields": ("interval", "crontab", "in_words", "solar", "clocked", "start_time", "last_run_at", "one_off")},
        ),
        (gettext_lazy("Arguments"), {"fields": ("args", "kwargs"), "classes": ("collapse",)}),
        (
            gettext_lazy("Execution options"),
            {
                "fields": ("expires", "expire_seconds", "queue", "exchange", "routing_key", "priority", "headers"),
                "classes": ("collapse",),
            },
        ),
    )
    readonly_fields = ("last_run_at", "in_words")

    @admin.display(description=gettext_lazy("schedule"))
    def schedule(self, task):
        return schedule_in_words(task.crontab) or task.scheduler

    @admin.display(description=gettext_lazy("in words"))
    def in_words(self, task):
        return schedule_in_words(task.crontab)


class CrontabForm(forms.ModelForm):
    """The cron fields' errors, said plainly in the admin's language, with what is allowed."""

    RANGES = {
        "minute": (gettext_lazy("minute"), "0-59"),
        "hour": (gettext_lazy("hour"), "0-23"),
        "day_of_month": (gettext_lazy("day of the month"), "1-31"),
        "month_of_year": (gettext_lazy("month"), "1-12"),
        "day_of_week": (gettext_lazy("day of the week"), "0-6"),
    }

    class Meta:
        model = CrontabSchedule
        fields = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week", "timezone")
        # django-celery-beat's help texts have no Chinese.
        help_texts = {
            "minute": gettext_lazy("Minutes of the hour, 0-59: e.g. 0, or */15 for every quarter of an hour."),
            "hour": gettext_lazy("Hours of the day, 0-23: e.g. 7, or 8-18 for every hour from 8 to 18."),
            "day_of_month": gettext_lazy("Days of the month, 1-31: e.g. 1,15; * for every day."),
            "month_of_year": gettext_lazy("Months, 1-12: e.g. 1,7; * for every month."),
            "day_of_week": gettext_lazy(
                "Days of the week, 0-6 with Sunday as 0: e.g. 1-5 for Monday to Friday; * for every day."
            ),
        }

    def _post_clean(self):
        super()._post_clean()
        for name, (label, allowed) in self.RANGES.items():
            if name in self.errors:
                detail = "; ".join(str(e) for e in self.errors[name])
                self.errors[name] = self.error_class(
                    [
                        _(
                            "“%(value)s” is not a valid %(field)s. Use numbers from %(range)s, a range (9-17), "
                            "a step (*/15), a list (1,15) or * for every one. (%(detail)s)"
                        )
                        % {"value": self.data.get(name, ""), "field": label, "range": allowed, "detail": detail}
                    ]
                )


@admin.register(CrontabSchedule)
class CrontabScheduleAdmin(RulePermissions, beat_admin.CrontabScheduleAdmin):
    form = CrontabForm
    list_display = ("__str__", "in_words")
    fields = ("in_words", "minute", "hour", "day_of_month", "month_of_year", "day_of_week", "timezone")
    readonly_fields = ("in_words",)

    @admin.display(description=gettext_lazy("in words"))
    def in_words(self, crontab):
        return schedule_in_words(crontab)


@admin.register(IntervalSchedule)
class IntervalScheduleAdmin(RulePermissions, beat_admin.IntervalScheduleAdmin):
    pass


@admin.register(ClockedSchedule)
class ClockedScheduleAdmin(RulePermissions, beat_admin.ClockedScheduleAdmin):
    pass


@admin.register(SolarSchedule)
class SolarScheduleAdmin(RulePermissions, beat_admin.SolarScheduleAdmin):
    pass
