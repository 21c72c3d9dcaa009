import django_filters
from django.contrib.contenttypes.models import ContentType
from django.utils.translation import gettext_lazy as _

from branches.models import AuditEntry
from branches.models.audit import ACTION_LABELS
from branches.widgets import DateInput


def audited_types(request=None):
    from auditlog.registry import auditlog

    ids = [ContentType.objects.get_for_model(model).pk for model in auditlog.get_models()]
    return ContentType.objects.filter(pk__in=ids).order_by("app_label", "model")


class AuditEntryFilter(django_filters.FilterSet):
    """Answers "who changed this branch's records after the inspection?"."""

    since = django_filters.DateFilter(
        field_name="timestamp", lookup_expr="date__gte", label=_("from"), widget=DateInput()
    )
    until = django_filters.DateFilter(
        field_name="timestamp", lookup_expr="date__lte", label=_("to"), widget=DateInput()
    )
    who = django_filters.CharFilter(method="filter_who", label=_("by (user name)"))
    record = django_filters.ModelChoiceFilter(field_name="content_type", queryset=audited_types, label=_("record type"))
    action = django_filters.ChoiceFilter(choices=list(ACTION_LABELS.items()), label=_("action"))

    class Meta:
        model = AuditEntry
        fields = []

    def filter_who(self, queryset, name, value):
        return queryset.filter(actor__username__icontains=value.strip()) if value.strip() else queryset
