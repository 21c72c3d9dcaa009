"""Filters of the API's lists (django-filter), each also documented in the OpenAPI schema."""

import django_filters

from branches.api.base import UnderFilterSet
from branches.models import Meeting, MeetingType, Member, Organization
from branches.widgets import DateInput


class OrganizationFilter(UnderFilterSet):
    scope_via = None

    class Meta:
        model = Organization
        fields = ["kind", "sector", "status", "under"]


class MemberFilter(UnderFilterSet):
    class Meta:
        model = Member
        fields = ["number", "organization", "party_group", "status", "category", "under"]


class MeetingFilter(UnderFilterSet):
    type = django_filters.ChoiceFilter(field_name="meeting_type", choices=MeetingType.choices)
    held_from = django_filters.DateFilter(field_name="held_on", lookup_expr="gte", widget=DateInput())
    held_to = django_filters.DateFilter(field_name="held_on", lookup_expr="lte", widget=DateInput())

    class Meta:
        model = Meeting
        fields = ["organization", "party_group", "type", "held_from", "held_to", "under"]
