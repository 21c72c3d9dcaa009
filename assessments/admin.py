from django.contrib import admin

from assessments import services
from assessments.models import (
    Finding,
    FindingTransition,
    Inspection,
    ResponsibilityItem,
    ResponsibilityList,
    ResponsibilityTemplate,
    TemplateItem,
)
from branches.admin import ReadOnlyScopedAdmin, ScopedAdmin


class TemplateItemInline(admin.TabularInline):
    model = TemplateItem
    extra = 3

    def has_view_permission(self, request, obj=None):
        return True  # reached only through a template the scoped admin may see

    has_change_permission = has_add_permission = has_delete_permission = has_view_permission


@admin.register(ResponsibilityTemplate)
class ResponsibilityTemplateAdmin(ScopedAdmin):
    """Writing a standard list; the portal's 下发 page issues it (as copies: edits here change no issued list)."""

    organization_via = "owner"
    list_display = ("title", "year", "owner", "organization_kind", "sector")
    list_filter = ("year", "organization_kind", "sector")
    search_fields = ("title", "owner__name")
    autocomplete_fields = ("owner",)
    inlines = [TemplateItemInline]


@admin.register(ResponsibilityList)
class ResponsibilityListAdmin(ReadOnlyScopedAdmin):
    list_display = ("organization", "year", "title", "template", "issued_at")
    list_filter = ("year",)
    search_fields = ("title", "organization__name", "organization__code")
    list_select_related = ("organization", "template")


@admin.register(ResponsibilityItem)
class ResponsibilityItemAdmin(ReadOnlyScopedAdmin):
    list_display = ("text", "organization", "area", "due_on", "status", "completed_at")
    list_filter = ("area", "status", "due_on")
    search_fields = ("text", "organization__name", "organization__code")
    list_select_related = ("organization",)


@admin.register(Inspection)
class InspectionAdmin(ScopedAdmin):
    list_display = ("title", "organization", "held_on", "inspector")
    list_filter = ("held_on",)
    search_fields = ("title", "organization__name", "organization__code")
    list_select_related = ("organization", "inspector")
    autocomplete_fields = ("organization",)

    def delete_model(self, request, obj):
        services.inspection_delete(inspection=obj, by=request.user)  # its findings' month summaries follow

    def delete_queryset(self, request, queryset):
        for inspection in queryset.select_related("organization"):
            services.inspection_delete(inspection=inspection, by=request.user)


@admin.register(Finding)
class FindingAdmin(ReadOnlyScopedAdmin):
    """Findings change state only through the portal, which checks each step and who takes it."""

    list_display = ("description", "organization", "severity", "deadline", "state")
    list_filter = ("severity", "state", "deadline")
    search_fields = ("description", "organization__name", "organization__code")
    list_select_related = ("organization",)


@admin.register(FindingTransition)
class FindingTransitionAdmin(ReadOnlyScopedAdmin):
    organization_via = "finding__organization"
    list_display = ("finding", "from_state", "to_state", "by", "at")
    list_filter = ("to_state", "at")
    search_fields = ("finding__description", "note")
