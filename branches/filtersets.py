import django_filters
from django.contrib.contenttypes.models import ContentType
from django.utils.translation import gettext_lazy as _

from branches.models import AuditEntry
from branches.models.audit import ACTION_LABELS
from branches.widgets import DateInput

PORTAL_APPS = ("branches", "assessments", "portal")


def record_types():
    """(content type id, name) of the portal's own audited records, named in the active language.

    Django's and third-party models (users, groups, schedules) are left out: their entries belong to
    no organization, so a subtree's history never holds them."""
    from auditlog.registry import auditlog

    models = [model for model in auditlog.get_models() if model._meta.app_label in PORTAL_APPS]
    types = ContentType.objects.get_for_models(*models)
    choices = [(types[model].pk, str(model._meta.verbose_name)) for model in models]
    return sorted(choices, key=lambda choice: choice[1])


class AuditEntryFilter(django_filters.FilterSet):
    """Answers "who changed this branch's records after the inspection?"."""

    since = django_filters.DateFilter(
        field_name="timestamp", lookup_expr="date__gte", label=_("from"), widget=DateInput()
    )
    until = django_filters.DateFilter(
        field_name="timestamp", lookup_expr="date__lte", label=_("to"), widget=DateInput()
    )
    who = django_filters.CharFilter(method="filter_who", label=_("by (user name)"))
    record = django_filters.ChoiceFilter(field_name="content_type", choices=record_types, label=_("record type"))
    action = django_filters.ChoiceFilter(choices=list(ACTION_LABELS.items()), label=_("action"))

    class Meta:
        model = AuditEntry
        fields = []

    def filter_who(self, queryset, name, value):
        return queryset.filter(actor__username__icontains=value.strip()) if value.strip() else queryset
