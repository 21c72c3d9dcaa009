"""What the API shows of duties (责任清单) and findings (督查问题), and what completing a duty accepts."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from assessments.models import Finding, ResponsibilityItem
from branches.api.serializers import OrganizationRefSerializer


class DutySerializer(serializers.ModelSerializer):
    organization = OrganizationRefSerializer(read_only=True)
    year = serializers.IntegerField(source="responsibility_list.year", read_only=True)
    list_title = serializers.CharField(source="responsibility_list.title", read_only=True)

    class Meta:
        model = ResponsibilityItem
        fields = [
            "id",
            "organization",
            "year",
            "list_title",
            "area",
            "text",
            "due_on",
            "responsible_post",
            "status",
            "evidence_note",
            "evidence_meeting",
            "evidence_file",
            "completed_at",
            "version",
        ]
        read_only_fields = fields  # what the API shows; writes go through the services


class DutyCompleteSerializer(serializers.Serializer):
    """Evidence for a duty done: a note, a logged meeting or a file (multipart), as on the duty's page."""

    version = serializers.IntegerField(help_text=_("The duty's version as read; a newer one means someone acted."))
    note = serializers.CharField(required=False, allow_blank=True, default="")
    meeting = serializers.IntegerField(required=False, allow_null=True, help_text=_("A meeting of the organization."))
    file = serializers.FileField(required=False, allow_null=True, help_text=_("JPG, PNG, PDF, DOCX or XLSX."))


class FindingSerializer(serializers.ModelSerializer):
    organization = OrganizationRefSerializer(read_only=True)
    inspection_title = serializers.CharField(source="inspection.title", read_only=True)
    inspected_on = serializers.DateField(source="inspection.held_on", read_only=True)

    class Meta:
        model = Finding
        fields = [
            "id",
            "organization",
            "inspection",
            "inspection_title",
            "inspected_on",
            "severity",
            "description",
            "required_rectification",
            "deadline",
            "state",
            "rectification_note",
            "closed_at",
            "version",
        ]
        read_only_fields = fields  # what the API shows; writes go through the services
