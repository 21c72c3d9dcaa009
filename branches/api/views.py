"""The API's endpoints for the tree, members, meetings and compliance: the pages' selectors and services."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Length, Substr
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from branches import access, compliance, periods, results, selectors, services, uploads
from branches.api import filters, serializers
from branches.api.base import Pages, ScopedViewSet
from branches.models import Attachment, Attendance, Meeting, Member, Organization, OrganizationKind, Period, Sector


class OrganizationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Organizations of your subtree, in tree order (`path`); `depth` and `parent_code` give the tree."""

    serializer_class = serializers.OrganizationSerializer
    filterset_class = filters.OrganizationFilter
    ordering_fields = ["path", "code", "name"]
    ordering = ["path"]
    scope_via = None

    def records(self):
        parent = Organization.objects.filter(
            path=Substr(OuterRef("path"), 1, Length(OuterRef("path")) - Organization.steplen)
        ).values("code")[:1]
        return Organization.objects.annotate(parent_code=Subquery(parent))


class MemberViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Members of the branches of your subtree."""

    serializer_class = serializers.MemberSerializer
    filterset_class = filters.MemberFilter
    ordering_fields = ["name", "joined_branch_on", "id"]
    ordering = ["id"]

    def records(self):
        return Member.objects.select_related("organization")


class FileRenderer(BaseRenderer):
    """Lets a download be asked for by its own type (`Accept: application/pdf`); the file is sent as stored."""

    media_type = "*/*"
    format = "file"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


FILE_TYPES = sorted({content_type for content_type, _extensions in uploads.ALLOWED.values()})


class MeetingViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    ScopedViewSet,
):
    """Meetings of your subtree. A secretary logs and corrects the branch's meetings, as on the meeting form."""

    serializer_class = serializers.MeetingSerializer
    filterset_class = filters.MeetingFilter
    ordering_fields = ["held_at", "logged_at", "id"]
    ordering = ["-held_at"]

    def get_serializer_class(self):
        if self.action == "list":  # attendance as counts; who attended is on the meeting itself
            return serializers.MeetingSummarySerializer
        return serializers.MeetingSerializer

    def records(self):
        meetings = Meeting.objects.select_related("organization")
        if self.action == "list":  # the counts kept on the meeting suffice: one query a page, whatever its size
            return meetings
        return meetings.prefetch_related(Prefetch("attendance", queryset=Attendance.objects.order_by("member_id")))

    def _attendance(self, rows):
        return {row["member"]: (row["present"], row.get("absence_reason") or "") for row in rows}

    def _party_group(self, group_id):
        if group_id is None:
            return None
        group = access.scoped(self.request.user, Organization.objects.filter(pk=group_id)).first()
        if group is None:
            raise ValidationError({"party_group": _("Choose a party group of this branch.")})
        return group

    def _saved(self, meeting, warnings, code):
        meeting = self.records().get(pk=meeting.pk)
        meeting.warnings = [str(w) for w in warnings]
        return Response(serializers.MeetingSavedSerializer(meeting).data, status=code)

    def _save(self, organization, values, meeting=None):
        data = {**values, "party_group": self._party_group(values.get("party_group"))}
        saved, warnings = services.meeting_save(
            organization=organization,
            data=data,
            attendance=self._attendance(values["attendance"]),
            meeting=meeting,
            by=self.request.user,
        )
        return saved, warnings

    @extend_schema(request=serializers.MeetingCreateSerializer, responses={201: serializers.MeetingSavedSerializer})
    def create(self, request, *args, **kwargs):
        """Log a meeting with its attendance: every member expected, present or absent with a reason."""
        given = serializers.MeetingCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        organization = access.get_scoped_or_404(
            request.user, Organization.objects.all(), pk=given.validated_data["organization"]
        )
        meeting, warnings = self._save(organization, given.validated_data)
        return self._saved(meeting, warnings, status.HTTP_201_CREATED)

    @extend_schema(request=serializers.MeetingWriteSerializer, responses={200: serializers.MeetingSavedSerializer})
    def update(self, request, *args, **kwargs):
        """Correct a meeting. PATCH changes only the fields given; the attendance list, if given, is whole."""
        meeting = self.get_object()
        partial = kwargs.get("partial", False)
        given = serializers.MeetingWriteSerializer(data=request.data, partial=partial)
        given.is_valid(raise_exception=True)
        current = {
            "meeting_type": meeting.meeting_type,
            "party_group": meeting.party_group_id,
            "held_at": meeting.held_at,
            "place": meeting.place,
            "host": meeting.host,
            "topic": meeting.topic,
            "minutes": meeting.minutes,
            "attendance": [
                {"member": a.member_id, "present": a.present, "absence_reason": a.absence_reason}
                for a in meeting.attendance.all()
            ],
        }
        saved, warnings = self._save(meeting.organization, {**current, **given.validated_data}, meeting=meeting)
        return self._saved(saved, warnings, status.HTTP_200_OK)

    @extend_schema(request=serializers.MeetingWriteSerializer, responses={200: serializers.MeetingSavedSerializer})
    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)

    @extend_schema(responses={200: serializers.AttachmentSerializer(many=True)})
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None, parser_classes=[MultiPartParser])
    def attachments(self, request, pk=None):
        """The files filed with the meeting (sign-in sheets, photos, minutes), newest first."""
        meeting = self.get_object()
        rows = access.scoped(request.user, Attachment.objects.filter(meeting=meeting), access.VIEW)
        return Response(serializers.AttachmentSerializer(rows, many=True).data)

    @extend_schema(
        request={"multipart/form-data": serializers.AttachmentUploadSerializer},
        responses={201: serializers.AttachmentSerializer},
    )
    @attachments.mapping.post
    def attachment_add(self, request, pk=None):  # multipart only (the action's parsers)
        """File a document with the meeting (multipart `file`), checked as the meeting form checks its files."""
        meeting = self.get_object()
        given = serializers.AttachmentUploadSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        attachment = services.meeting_attachment_add(
            meeting=meeting, upload=given.validated_data["file"], title=given.validated_data["title"], by=request.user
        )
        return Response(serializers.AttachmentSerializer(attachment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[OpenApiParameter("format", exclude=True)],
        responses={
            (200, content_type): OpenApiResponse(OpenApiTypes.BINARY, description=_("The file, as stored."))
            for content_type in FILE_TYPES
        },
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"attachments/(?P<attachment>\d+)",
        filter_backends=[],
        pagination_class=None,
        renderer_classes=[JSONRenderer, FileRenderer],
    )
    def attachment(self, request, pk=None, attachment=None):
        """Download one file of the meeting, as stored (`Content-Disposition: attachment`)."""
        meeting = self.get_object()
        found = access.get_scoped_or_404(
            request.user, Attachment.objects.filter(meeting=meeting), access.VIEW, pk=attachment
        )
        return uploads.download(found)


class CompliancePages(Pages):
    """Pages of compliance rows, each answer naming the period and the subtree it judges."""

    ordering = "path"
    period = under = ""

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        response.data = {"period": self.period, "under": self.under, **response.data}
        return response

    def get_paginated_response_schema(self, schema):
        paged = super().get_paginated_response_schema(schema)
        chosen = {
            "period": {"type": "string", "example": "2026-Q4"},
            "under": {"type": "string", "example": "T-E"},
        }
        return {**paged, "properties": {**chosen, **paged["properties"]}}


class ComplianceViewSet(mixins.ListModelMixin, ScopedViewSet):
    """三会一课落实情况 of a subtree over a period, as on the reviewer's table (one row per organization).

    A committee or general branch row (`kind=primary_committee` …) counts the branches beneath it meeting
    each rule; a branch row counts its meetings.
    """

    serializer_class = serializers.ComplianceRowSerializer
    pagination_class = CompliancePages
    filter_backends = []
    scope_via = None

    def _chosen(self):
        query = self.request.query_params
        errors = {}
        try:
            span = periods.parse(query["period"]) if query.get("period") else None
        except ValidationError as error:
            errors["period"] = error.messages
            span = None
        kind = query.get("kind") or OrganizationKind.BRANCH
        sector = query.get("sector") or ""
        if kind not in OrganizationKind.values:
            errors["kind"] = [_("Choose one of: %(values)s.") % {"values": ", ".join(OrganizationKind.values)}]
        if sector and sector not in Sector.values:
            errors["sector"] = [_("Choose one of: %(values)s.") % {"values": ", ".join(Sector.values)}]
        root = self._root(query.get("under"), errors)
        if errors:
            raise ValidationError(errors)
        today = timezone.localdate()
        return root, span or periods.span_of(Period.QUARTER, today), kind, sector, today

    def _root(self, code, errors):
        user = self.request.user
        if code:
            return access.get_scoped_or_404(user, Organization.objects.all(), access.REVIEW, code=code)
        paths = access.root_paths(user, access.REVIEW)
        if not paths and not access.is_everywhere(user):
            raise PermissionDenied
        if len(paths) != 1:
            errors["under"] = [_("Name the organization whose subtree to judge, e.g. under=<code>.")]
            return None
        return Organization.objects.get(path=paths[0])

    def records(self):
        return Organization.objects.all()

    @extend_schema(
        parameters=[
            OpenApiParameter("period", OpenApiTypes.STR, description="2026, 2026-Q4 or 2026-11 (default: the quarter)"),
            OpenApiParameter("under", OpenApiTypes.STR, description="organization code (default: your own)"),
            OpenApiParameter("kind", OpenApiTypes.STR, enum=OrganizationKind.values),
            OpenApiParameter("sector", OpenApiTypes.STR, enum=Sector.values),
        ]
    )
    def list(self, request, *args, **kwargs):
        root, span, kind, sector, today = self._chosen()
        organizations = self.paginate_queryset(
            selectors.compliance_candidates_queryset(request.user, root, span, sector=sector, kind=kind)
        )
        if kind == OrganizationKind.BRANCH:
            rows = results.for_span(organizations, span, today, within=root)
        else:
            under = selectors.compliance_candidates_queryset(request.user, root, span, kind=OrganizationKind.BRANCH)
            beneath = Q(pk__in=[])
            for organization in organizations:
                beneath |= Q(path__startswith=organization.path)
            branches = list(under.filter(beneath))
            rows = compliance.summarize(organizations, results.for_span(branches, span, today, within=root))
        self.paginator.period, self.paginator.under = span.key, root.code
        return self.get_paginated_response(serializers.ComplianceRowSerializer(rows, many=True).data)
