"""What every endpoint of the API shares: scoping by the one access helper, cursor pages, the `under` filter."""

import django_filters
from rest_framework import viewsets
from rest_framework.pagination import CursorPagination

from branches import access
from branches.models import Organization


class Pages(CursorPagination):
    """Stable pages however the rows change between requests; `?page_size=` up to 200."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class UnderFilterSet(django_filters.FilterSet):
    """`under=<organization code>`: only records of that organization's subtree (within the user's scope)."""

    under = django_filters.CharFilter(method="filter_under", label="organization code")

    scope_via = "organization"

    def filter_under(self, queryset, name, value):
        path = Organization.objects.filter(code=value).values_list("path", flat=True).first()
        if path is None:
            return queryset.none()
        field = f"{self.scope_via}__path__startswith" if self.scope_via else "path__startswith"
        return queryset.filter(**{field: path})


class ScopedViewSet(viewsets.GenericViewSet):
    """Every list is scoped to what the token's owner may see; an object outside it answers 404.

    `records()` gives the unscoped queryset (with its joins); `scope_via` the lookup to its organization.
    """

    scope_via = "organization"
    pagination_class = Pages
    lookup_value_regex = r"\d+"

    def records(self):
        raise NotImplementedError

    def get_queryset(self):
        return access.scoped(self.request.user, self.records(), via=self.scope_via)

    def get_object(self):
        obj = access.get_scoped_or_404(
            self.request.user, self.records(), via=self.scope_via, pk=self.kwargs[self.lookup_field]
        )
        self.check_object_permissions(self.request, obj)
        return obj
