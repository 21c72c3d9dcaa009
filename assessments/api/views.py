"""The API's endpoints for duties and findings: the pages' selectors and services."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.response import Response

from assessments import services
from assessments.api import filters, serializers
from assessments.models import Finding, ResponsibilityItem
from branches import access
from branches.api.base import ScopedViewSet
from branches.models import Meeting


class DutyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Responsibility items (责任清单) of your subtree; the organization's secretary completes them."""

    serializer_class = serializers.DutySerializer
    filterset_class = filters.DutyFilter
    ordering_fields = ["due_on", "id"]
    ordering = ["due_on"]

    def records(self):
        return ResponsibilityItem.objects.select_related("organization", "responsibility_list")

    @extend_schema(request=serializers.DutyCompleteSerializer, responses={200: serializers.DutySerializer})
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        """Mark the duty done with evidence: a note, a meeting of the organization or a file (multipart)."""
        item = self.get_object()
        given = serializers.DutyCompleteSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        values = given.validated_data
        meeting = None
        if values.get("meeting") is not None:
            meeting = access.scoped(request.user, Meeting.objects.filter(pk=values["meeting"])).first()
            if meeting is None:
                raise ValidationError({"meeting": _("Choose a meeting of this organization.")})
        done = services.item_complete(
            item=item,
            by=request.user,
            version=values["version"],
            note=values.get("note") or "",
            upload=values.get("file"),
            meeting=meeting,
        )
        return Response(serializers.DutySerializer(self.records().get(pk=done.pk)).data)


class FindingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Inspection findings (督查问题) of your subtree and their rectification state."""

    serializer_class = serializers.FindingSerializer
    filterset_class = filters.FindingFilter
    ordering_fields = ["deadline", "id"]
    ordering = ["deadline"]

    def records(self):
        return Finding.objects.select_related("organization", "inspection")
