import django_tables2 as tables
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from branches.models import Member


class MemberTable(tables.Table):
    party_group = tables.Column(accessor="party_group__name", verbose_name=_("party group"), default="—")

    class Meta:
        model = Member
        fields = ("name", "gender", "category", "party_group", "joined_party_on", "status")
        orderable = False
        attrs = {"class": "table table-sm table-hover align-middle"}
        empty_text = _("No members found.")


class EditableMemberTable(MemberTable):
    name = tables.Column(linkify=("branches:member_edit", {"pk": tables.A("pk")}))


def _member_history(record):
    return reverse("branches:object_history", args=[ContentType.objects.get_for_model(Member).pk, record.pk])


class ReviewedMemberTable(MemberTable):
    """For reviewers: a name opens the member's change history."""

    name = tables.Column(linkify=_member_history)
