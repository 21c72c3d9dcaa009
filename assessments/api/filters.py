import django_filters

from assessments.models import Finding, ResponsibilityItem
from branches.api.base import UnderFilterSet
from branches.widgets import DateInput


class DutyFilter(UnderFilterSet):
    year = django_filters.NumberFilter(field_name="responsibility_list__year")
    due_from = django_filters.DateFilter(field_name="due_on", lookup_expr="gte", widget=DateInput())
    due_to = django_filters.DateFilter(field_name="due_on", lookup_expr="lte", widget=DateInput())

    class Meta:
        model = ResponsibilityItem
        fields = ["organization", "status", "area", "year", "due_from", "due_to", "under"]


class FindingFilter(UnderFilterSet):
    deadline_from = django_filters.DateFilter(field_name="deadline", lookup_expr="gte", widget=DateInput())
    deadline_to = django_filters.DateFilter(field_name="deadline", lookup_expr="lte", widget=DateInput())

    class Meta:
        model = Finding
        fields = ["organization", "inspection", "state", "severity", "deadline_from", "deadline_to", "under"]
