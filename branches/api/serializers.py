"""What the API shows of the tree, members and meetings, and the shape of what it accepts.

Serializers only describe fields and types: every rule of a write (who may, what is valid) is the
service's, called by the view exactly as the page calls it.
"""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from branches.models import AbsenceReason, Attachment, Attendance, Meeting, MeetingType, Member, Organization


class OrganizationSerializer(serializers.ModelSerializer):
    parent_code = serializers.CharField(read_only=True, allow_null=True, help_text=_("The parent's code."))

    class Meta:
        model = Organization
        fields = [
            "id",
            "code",
            "name",
            "kind",
            "sector",
            "status",
            "path",
            "depth",
            "parent_code",
            "founded_on",
            "dissolved_on",
            "staff_headcount",
        ]
        read_only_fields = fields  # what the API shows; writes go through the services


class OrganizationRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", "code", "name"]
        read_only_fields = fields  # what the API shows; writes go through the services


class MemberSerializer(serializers.ModelSerializer):
    organization = OrganizationRefSerializer(read_only=True)

    class Meta:
        model = Member
        fields = [
            "id",
            "number",
            "organization",
            "party_group",
            "name",
            "gender",
            "category",
            "joined_party_on",
            "joined_branch_on",
            "status",
            "left_on",
        ]
        read_only_fields = fields  # what the API shows; writes go through the services


class AttendanceSerializer(serializers.ModelSerializer):
    absence_reason = serializers.ChoiceField(
        choices=AbsenceReason.choices, allow_blank=True, read_only=True, help_text=_("Empty for a member present.")
    )

    class Meta:
        model = Attendance
        fields = ["member", "present", "absence_reason"]
        read_only_fields = fields  # what the API shows; writes go through the services


class MeetingSummarySerializer(serializers.ModelSerializer):
    """A meeting in a list: its attendance as the counts kept on the meeting (`expected_count`, `present_count`).
    Who attended is on the meeting itself (`GET /api/v1/meetings/{id}/`): a page of meetings reads no attendance."""

    organization = OrganizationRefSerializer(read_only=True)
    attendance_rate = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = Meeting
        fields = [
            "id",
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
            "attendance_rate",
            "logged_at",
            "updated_at",
        ]
        read_only_fields = fields  # what the API shows; writes go through the services


class MeetingSerializer(MeetingSummarySerializer):
    """One meeting with its attendance: each member expected, present or absent with the reason."""

    attendance = AttendanceSerializer(many=True, read_only=True)

    class Meta(MeetingSummarySerializer.Meta):
        fields = [
            *MeetingSummarySerializer.Meta.fields[: MeetingSummarySerializer.Meta.fields.index("logged_at")],
            "attendance",
            "logged_at",
            "updated_at",
        ]
        read_only_fields = fields  # what the API shows; writes go through the services


class MeetingSavedSerializer(MeetingSerializer):
    warnings = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta(MeetingSerializer.Meta):
        fields = [*MeetingSerializer.Meta.fields, "warnings"]
        read_only_fields = fields  # what the API shows; writes go through the services


class AttachmentSerializer(serializers.ModelSerializer):
    download = serializers.SerializerMethodField(help_text=_("Where to download the file (with the same token)."))

    class Meta:
        model = Attachment
        fields = ["id", "meeting", "title", "original_name", "content_type", "size", "uploaded_at", "download"]
        read_only_fields = fields  # what the API shows; writes go through the services

    def get_download(self, attachment) -> str:
        return reverse("api:meeting-attachment", args=[attachment.meeting_id, attachment.pk])


class AttachmentUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text=_("JPG, PNG, PDF, DOCX or XLSX, judged by its content."))
    title = serializers.CharField(
        required=False, allow_blank=True, default="", help_text=_("A title (default: the file's name).")
    )


class AttendanceInSerializer(serializers.Serializer):
    member = serializers.IntegerField(help_text=_("A member expected at the meeting (its id)."))
    present = serializers.BooleanField(default=True)
    absence_reason = serializers.ChoiceField(choices=AbsenceReason.choices, required=False, allow_blank=True)


class MeetingWriteSerializer(serializers.Serializer):
    """A meeting as the meeting form takes it: every member expected is listed, present or absent with a reason."""

    meeting_type = serializers.ChoiceField(choices=MeetingType.choices)
    party_group = serializers.IntegerField(
        required=False, allow_null=True, help_text=_("The party group that met (party group meetings only).")
    )
    held_at = serializers.DateTimeField()
    place = serializers.CharField(allow_blank=True)
    host = serializers.CharField(allow_blank=True)
    topic = serializers.CharField(allow_blank=True)
    minutes = serializers.CharField(required=False, allow_blank=True, default="")
    attendance = AttendanceInSerializer(many=True)

    def validate_attendance(self, rows):
        ids = [row["member"] for row in rows]
        if len(ids) != len(set(ids)):
            raise serializers.ValidationError(_("Each member may be listed only once."))
        return rows


class MeetingCreateSerializer(MeetingWriteSerializer):
    organization = serializers.IntegerField(help_text=_("The branch that held the meeting (its id)."))


class ComplianceStatusSerializer(serializers.Serializer):
    meeting_type = serializers.CharField()
    state = serializers.ChoiceField(choices=["met", "in_progress", "not_met"])
    judged_over = serializers.CharField()
    held = serializers.IntegerField(help_text=_("Meetings counted (a branch row), or branches meeting the rule."))
    required = serializers.IntegerField(help_text=_("Meetings required (a branch row), or branches judged."))


class ComplianceRowSerializer(serializers.Serializer):
    organization = OrganizationRefSerializer()
    branches = serializers.IntegerField(allow_null=True)
    meetings = serializers.IntegerField()
    present = serializers.IntegerField()
    expected = serializers.IntegerField()
    attendance_rate = serializers.FloatField(allow_null=True)
    requirements_met = serializers.IntegerField()
    requirements_in_progress = serializers.IntegerField()
    requirements_not_met = serializers.IntegerField()
    statuses = serializers.SerializerMethodField()

    @extend_schema_field(ComplianceStatusSerializer(many=True))
    def get_statuses(self, row):
        return [
            {
                "meeting_type": meeting_type,
                "state": status.state,
                "judged_over": str(status.judged_over),
                "held": status.numerator,
                "required": status.denominator,
            }
            for meeting_type, status in row.statuses.items()
        ]
