"""Django admin for the portal's administrators, scoped to their subtrees by the access helper."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError
from django.utils import formats, timezone
from django.utils.formats import date_format
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from branches import access, periods, selectors, services
from branches.filtersets import record_types
from branches.models import (
    Attachment,
    AuditEntry,
    Cadre,
    CommitteeTerm,
    ComplianceSetting,
    Meeting,
    MeetingRequirement,
    Member,
    Organization,
    Period,
    RoleAssignment,
    SecurityEvent,
    TermLengthRule,
    TrainingRecord,
)
from branches.models.audit import ACTION_LABELS
from branches.widgets import DateInput, DateTimeInput


def titled_filter(base, title):
    """A field's list filter under a title of ours (for fields named only in English by a third party)."""

    class Titled(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.title = title

    return Titled


class ScopedPermissions:
    """Admin permissions from the access helper: an object is reachable only through the scoped queryset."""

    def _allowed(self, request, obj=None):
        if not access.has_any(request.user, access.ADMINISTER):
            return False
        return obj is None or self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_module_permission(self, request):
        return access.has_any(request.user, access.ADMINISTER)

    def has_view_permission(self, request, obj=None):
        return self._allowed(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._allowed(request, obj)

    def has_add_permission(self, request):
        return self._allowed(request)

    def has_delete_permission(self, request, obj=None):
        return self._allowed(request, obj)


class ScopedAdmin(ScopedPermissions, admin.ModelAdmin):
    """Lists, detail pages and choices limited to the admin's subtrees.

    `organization_via` is the lookup from the model to its Organization (None for Organization).
    """

    organization_via = "organization"
    list_per_page = 50

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return access.scoped(request.user, queryset, access.ADMINISTER, via=self.organization_via)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # A choice outside the subtree must fail validation, whatever id is posted.
        if db_field.related_model is Organization:
            kwargs["queryset"] = access.scoped(request.user, Organization.objects.all(), access.ADMINISTER)
        elif db_field.related_model in (Member, Cadre):
            kwargs["queryset"] = access.scoped(request.user, db_field.related_model.objects.all(), access.ADMINISTER)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Organization)
class OrganizationAdmin(ScopedAdmin):
    organization_via = None
    list_display = ("name", "code", "kind", "sector", "status", "level", "staff_headcount")
    list_filter = (
        "kind",
        "sector",
        "status",
        ("depth", titled_filter(admin.AllValuesFieldListFilter, gettext_lazy("level"))),
    )
    search_fields = ("name", "code")
    readonly_fields = ("level", "created_at", "updated_at")
    # The tree is changed through the portal's move and dissolve pages, which keep the paths right;
    # the tree's own columns (path, depth, numchild) are internal and shown only as the level.
    fields = (
        "code",
        "name",
        "kind",
        "sector",
        "founded_on",
        "staff_headcount",
        "status",
        "dissolved_on",
        "dissolution_reason",
        "level",
        "created_at",
        "updated_at",
    )

    @admin.display(description=gettext_lazy("level"), ordering="depth")
    def level(self, organization):
        return organization.depth

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Member)
class MemberAdmin(ScopedAdmin):
    list_display = ("name", "organization", "party_group", "category", "status", "joined_party_on")
    list_filter = ("category", "status", "gender", "organization__sector")
    search_fields = ("name", "organization__name", "organization__code")
    autocomplete_fields = ("organization", "party_group")
    list_select_related = ("organization", "party_group")


class TrainingInline(admin.TabularInline):
    """Shown inside a cadre that the scoped admin already reached, so it follows the cadre's scope."""

    model = TrainingRecord
    extra = 0

    def has_view_permission(self, request, obj=None):
        return access.has_any(request.user, access.ADMINISTER)

    has_change_permission = has_add_permission = has_delete_permission = has_view_permission


@admin.register(Cadre)
class CadreAdmin(ScopedAdmin):
    list_display = ("name", "post", "organization", "employment", "also_unit_head", "term_start", "term_end")
    list_filter = ("post", "employment", "also_unit_head", "organization__sector")
    search_fields = ("name", "organization__name", "organization__code")
    autocomplete_fields = ("organization", "member")
    list_select_related = ("organization",)
    inlines = [TrainingInline]


@admin.register(TrainingRecord)
class TrainingRecordAdmin(ScopedAdmin):
    organization_via = "cadre__organization"
    list_display = ("course", "cadre", "organizer", "held_on", "hours")
    list_filter = ("held_on",)
    search_fields = ("course", "organizer", "cadre__name")
    autocomplete_fields = ("cadre",)
    list_select_related = ("cadre",)


@admin.register(CommitteeTerm)
class CommitteeTermAdmin(ScopedAdmin):
    list_display = ("organization", "started_on", "length_years", "expected_election_on", "ended_on")
    list_filter = ("length_years", "organization__kind", "organization__sector")
    search_fields = ("organization__name", "organization__code")
    autocomplete_fields = ("organization",)
    list_select_related = ("organization",)


@admin.register(RoleAssignment)
class RoleAssignmentAdmin(ScopedAdmin):
    list_display = ("user", "role", "organization", "granted_at")
    list_filter = ("role",)
    search_fields = (
        "user__username",
        "user__first_name",
        "user__last_name",
        "organization__name",
        "organization__code",
    )
    autocomplete_fields = ("user", "organization")
    list_select_related = ("user", "organization")


class RulePermissions:
    """Rules hold for every organization: every admin reads them, only administrators of a whole tree change them."""

    def has_module_permission(self, request):
        return access.has_any(request.user, access.ADMINISTER)

    def has_view_permission(self, request, obj=None):
        return access.has_any(request.user, access.ADMINISTER)

    def has_change_permission(self, request, obj=None):
        return access.administers_rules(request.user)

    def has_add_permission(self, request):
        return access.administers_rules(request.user)

    def has_delete_permission(self, request, obj=None):
        return access.administers_rules(request.user)


@admin.register(TermLengthRule)
class TermLengthRuleAdmin(RulePermissions, admin.ModelAdmin):
    list_display = ("kind", "sector", "years")
    list_filter = ("kind", "sector")
    search_fields = ("kind", "sector")


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class ScopedUserAdmin(ScopedPermissions, UserAdmin):
    """An admin sees users whose every role lies in their subtree (and users with no role yet).

    Superusers and users with roles elsewhere stay out of reach, so a branch's admin
    cannot reset the password of the county's.
    """

    list_filter = ("is_active", "role_assignments__role")
    # Django's own note on this page has no Chinese yet: the same note in the portal's words.
    add_form_template = "admin/portal_user_add_form.html"
    search_fields = ("username", "first_name", "last_name", "email")

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        user = request.user
        if access.is_everywhere(user):
            return queryset
        outside = RoleAssignment.objects.exclude(access.organization_q(user, access.ADMINISTER, via="organization"))
        return queryset.filter(is_superuser=False).exclude(pk__in=outside.values("user_id")).distinct()

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if access.is_everywhere(request.user) or obj is None:
            return fieldsets
        # Only superusers hand out superuser status or Django's own permissions.
        return [
            (
                name,
                {
                    **options,
                    "fields": tuple(
                        f
                        for f in options["fields"]
                        if f not in ("is_superuser", "is_staff", "groups", "user_permissions")
                    ),
                },
            )
            for name, options in fieldsets
        ]


class ReadOnlyScopedAdmin(ScopedAdmin):
    """Logs: visible to admins within their subtree, never edited or deleted by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# django-auditlog registers its own admin for the entry model; ours is scoped and read-only.
if admin.site.is_registered(AuditEntry):
    admin.site.unregister(AuditEntry)


class ActionFilter(admin.SimpleListFilter):
    title = gettext_lazy("action")
    parameter_name = "action"

    def lookups(self, request, model_admin):
        return list(ACTION_LABELS.items())

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() is not None else queryset


class RecordTypeFilter(admin.SimpleListFilter):
    """The portal's own kinds of record, by their names (not Django's "app | model" labels)."""

    title = gettext_lazy("record type")
    parameter_name = "record"

    def lookups(self, request, model_admin):
        return record_types()

    def queryset(self, request, queryset):
        return queryset.filter(content_type_id=self.value()) if self.value() else queryset


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyScopedAdmin):
    """The trail, read-only, in the portal's words: django-auditlog's field names have no Chinese."""

    list_display = ("at", "by", "what", "record_type", "record", "organization", "address")
    list_filter = (
        ActionFilter,
        RecordTypeFilter,
        ("timestamp", titled_filter(admin.DateFieldListFilter, gettext_lazy("at"))),
    )
    search_fields = ("object_repr", "actor__username", "actor_label", "cid", "remote_addr")
    list_select_related = ("actor", "content_type", "organization")
    date_hierarchy = "timestamp"
    fields = ("at", "by", "address", "request_id", "what", "record_type", "record", "organization", "what_changed")
    readonly_fields = fields

    @admin.display(description=gettext_lazy("at"), ordering="timestamp")
    def at(self, entry):
        return formats.localize(timezone.localtime(entry.timestamp))

    @admin.display(description=gettext_lazy("by"))
    def by(self, entry):
        return entry.who

    @admin.display(description=gettext_lazy("action"), ordering="action")
    def what(self, entry):
        return entry.action_label

    @admin.display(description=gettext_lazy("record type"))
    def record_type(self, entry):
        return entry.content_type.name

    @admin.display(description=gettext_lazy("record"))
    def record(self, entry):
        return entry.object_repr

    @admin.display(description=gettext_lazy("address"))
    def address(self, entry):
        return entry.remote_addr or ""

    @admin.display(description=gettext_lazy("request id"))
    def request_id(self, entry):
        return entry.cid or ""

    @admin.display(description=gettext_lazy("changes"))
    def what_changed(self, entry):
        return format_html_join(mark_safe("<br>"), "{}: {} → {}", selectors.display_changes(entry))


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyScopedAdmin):
    list_display = ("at", "kind", "user", "username", "remote_addr", "organization", "path")
    list_filter = ("kind", "at")
    search_fields = ("username", "user__username", "remote_addr", "path", "detail")
    list_select_related = ("user", "organization")


@admin.register(Attachment)
class AttachmentAdmin(ScopedAdmin):
    list_display = ("title", "organization", "extension", "size", "uploaded_by", "uploaded_at")
    list_filter = ("extension", "uploaded_at")
    search_fields = ("title", "original_name", "organization__name", "organization__code")
    list_select_related = ("organization", "uploaded_by")
    readonly_fields = ("file", "original_name", "content_type", "extension", "size", "uploaded_by", "uploaded_at")
    autocomplete_fields = ("organization",)

    def has_add_permission(self, request):
        return False  # uploads go through the portal's page, which sniffs them


class MeetingRequirementForm(forms.ModelForm):
    """A new version, or one not yet in force, starts in a period that has not begun: the past and the
    running periods keep the rules they are being judged by."""

    class Meta:
        model = MeetingRequirement
        fields = [
            "meeting_type",
            "period",
            "minimum",
            "organization_kind",
            "sector",
            "per_party_group",
            "only_with_committee",
            "effective_from",
            "effective_to",
        ]
        widgets = {"effective_from": DateInput(), "effective_to": DateInput()}

    def clean(self):
        cleaned = super().clean()
        start, period = cleaned.get("effective_from"), cleaned.get("period")
        today = timezone.localdate()
        in_force = self.instance.pk is not None and self.instance.effective_from <= today
        if start and period and not in_force and start <= today:
            self.add_error(
                "effective_from",
                _("A rule cannot take effect in a period that has begun: choose %(day)s or later.")
                % {"day": date_format(periods.next_start([period], today), "DATE_FORMAT")},
            )
        return cleaned


@admin.register(ComplianceSetting)
class ComplianceSettingAdmin(RulePermissions, admin.ModelAdmin):
    """One row: how many days after a meeting its record counts as logged late."""

    list_display = ("__str__", "late_log_days")

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not ComplianceSetting.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        saved = services.compliance_setting_save(
            data={name: form.cleaned_data[name] for name in form.changed_data}, by=request.user
        )
        obj.pk = saved.pk


@admin.register(MeetingRequirement)
class MeetingRequirementAdmin(RulePermissions, admin.ModelAdmin):
    """Meeting rules. A change to a rule already in force becomes a new version from the first day of
    the rule's next period (next month, quarter or year), so that no period that has begun is rewritten."""

    list_display = tuple(MeetingRequirementForm.Meta.fields)
    list_filter = ("meeting_type", "period", "organization_kind", "sector", "effective_to")
    search_fields = ("meeting_type",)
    form = MeetingRequirementForm

    def has_delete_permission(self, request, obj=None):
        # A rule that has judged a period stays; it can only be closed (an end date) or superseded.
        return access.administers_rules(request.user) and (obj is None or obj.effective_from > timezone.localdate())

    def delete_model(self, request, obj):
        services.requirement_delete(requirement=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for requirement in queryset:
            services.requirement_delete(requirement=requirement, by=request.user)

    def save_model(self, request, obj, form, change):
        today = timezone.localdate()
        if not change or MeetingRequirement.objects.get(pk=obj.pk).effective_from > today:
            services.requirement_save(requirement=obj, by=request.user)
            return None
        original = MeetingRequirement.objects.get(pk=obj.pk)
        data = {name: form.cleaned_data[name] for name in form.changed_data if name not in ("effective_from",)}
        if not data:
            return None
        successor = services.requirement_change(requirement=original, data=data, today=today, by=request.user)
        obj.pk = successor.pk
        messages.info(
            request,
            _(
                "The rule in its new form takes effect on %(day)s, the first day of the next %(period)s; "
                "periods already begun keep being judged by the rule of their time."
            )
            % {
                "day": date_format(successor.effective_from, "DATE_FORMAT"),
                "period": Period(periods.coarsest([original.period, successor.period])).label,
            },
        )
        return None


class MeetingAdminForm(forms.ModelForm):
    """A meeting's time corrected in the admin is checked as the portal's form checks it: not in the future,
    within the branch's lifetime, and on a day whose members are those whose attendance was taken."""

    # Declared, so that the admin keeps the portal's ISO date-time input rather than its localized text boxes.
    held_at = forms.DateTimeField(label=Meeting._meta.get_field("held_at").verbose_name, widget=DateTimeInput())

    class Meta:
        model = Meeting
        fields = ["held_at", "place", "host", "topic", "minutes"]

    def clean(self):
        cleaned = super().clean()
        held_at, meeting = cleaned.get("held_at"), self.instance
        if held_at is None or meeting.pk is None:
            return cleaned
        try:
            day = services.meeting_date_check(meeting.organization, held_at)
        except ValidationError as error:
            self.add_error(None, error)
            return cleaned
        expected = selectors.expected_on(meeting.organization, day, meeting.meeting_type, meeting.party_group)
        members = {member.pk for member in expected}
        if members != set(meeting.attendance.values_list("member_id", flat=True)):
            self.add_error(
                "held_at",
                _(
                    "The branch's members on that day are not those whose attendance was taken: change the date "
                    "in the meeting's own form, which takes the attendance again."
                ),
            )
        return cleaned


@admin.register(Meeting)
class MeetingAdmin(ScopedAdmin):
    """Meetings are logged in the portal; here an admin corrects the time, place, host, topic or minutes.
    Every save goes through services.meeting_save, so the meeting's date, month and attendance counts
    follow; its branch, party group and type stay as logged."""

    list_display = ("held_on", "meeting_type", "organization", "topic", "present_count", "expected_count", "logged_at")
    list_filter = ("meeting_type", "held_on", "organization__sector")
    search_fields = ("topic", "minutes", "organization__name", "organization__code")
    list_select_related = ("organization",)
    date_hierarchy = "held_on"
    form = MeetingAdminForm
    fields = (
        "organization",
        "party_group",
        "meeting_type",
        "held_at",
        "held_on",
        "place",
        "host",
        "topic",
        "minutes",
        "expected_count",
        "present_count",
        "logged_by",
        "logged_at",
        "updated_by",
        "updated_at",
    )
    readonly_fields = (
        "organization",
        "party_group",
        "meeting_type",
        "held_on",
        "expected_count",
        "present_count",
        "logged_by",
        "logged_at",
        "updated_by",
        "updated_at",
    )

    def has_add_permission(self, request):
        return False  # meetings are logged through the portal's form, which checks attendance

    def save_model(self, request, obj, form, change):
        attendance = {row.member_id: (row.present, row.absence_reason) for row in obj.attendance.all()}
        data = {name: getattr(obj, name) for name in ("meeting_type", "held_at", "place", "host", "topic", "minutes")}
        data["party_group"] = obj.party_group
        services.meeting_save(
            organization=obj.organization, data=data, attendance=attendance, meeting=obj, by=request.user
        )

    def delete_model(self, request, obj):
        services.meeting_delete(meeting=obj, by=request.user)  # audited, and its month summary follows

    def delete_queryset(self, request, queryset):
        for meeting in queryset.select_related("organization"):
            services.meeting_delete(meeting=meeting, by=request.user)
